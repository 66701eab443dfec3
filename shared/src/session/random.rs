//! A tiny seeded generator (SplitMix64) for message ids and backoff jitter.
//!
//! The session must be reproducible from its inputs, so it never draws from
//! the platform; the I/O layer passes a seed once. SplitMix64 is enough: the
//! ids only need to be unique, and their entropy comes from that seed.

#[derive(Clone, Debug)]
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new(seed: u64) -> Random {
        Random(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// Uniform in `0..=max`.
    pub(crate) fn below(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.next_u64() % (max + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Random;

    #[test]
    fn same_seed_same_sequence_and_bounds_hold() {
        let mut a = Random::new(7);
        let mut b = Random::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            let (x, y) = (a.below(10), b.below(10));
            assert_eq!(x, y);
            assert!(x <= 10);
        }
        assert_ne!(Random::new(1).next_u64(), Random::new(2).next_u64());
    }
}
