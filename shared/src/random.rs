//! [`SplitMix64`], the one pseudo-random generator of Twinline's own code:
//! the session's message ids and backoff jitter, the simulation's worlds
//! (shared/tests/sim) and the soak's fault schedules (tests/src/soak) all
//! draw from it, so a seed means the same sequence everywhere.
//!
//! Randomness still comes from outside: the core never asks the platform
//! for entropy (clippy's `disallowed-methods` in shared/clippy.toml keeps
//! it so). The caller passes a seed once, from `crypto.getRandomValues` in
//! the browser, from the OS natively, or from a test's seed, and everything
//! after that is a function of it. SplitMix64 (Steele, Lea and Flood,
//! "Fast splittable pseudorandom number generators", 2014) is enough for
//! what it does here: ids need to be unique, not unguessable (a relay
//! checks who may write where), and a dozen lines cost the browser bundle
//! less than any crate would.

/// A seeded SplitMix64 generator; see the module docs.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 128 bits (two draws).
    pub fn next_u128(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }

    /// A number in `low..=high` (the modulo's bias is below 2⁻⁴⁰ for the
    /// ranges used here). A range of one value draws nothing.
    ///
    /// # Panics
    /// If `low > high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        let span = high - low;
        if span == 0 {
            return low;
        }
        match span.checked_add(1) {
            Some(count) => low + self.next_u64() % count,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn a_seed_fixes_the_sequence() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
            assert_eq!(a.between(3, 10), b.between(3, 10));
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn the_reference_sequence_for_seed_zero() {
        // The first outputs of SplitMix64 seeded with 0, as published with
        // the algorithm (and in Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn between_stays_in_its_bounds_and_a_single_value_draws_nothing() {
        let mut rng = SplitMix64::new(11);
        for _ in 0..1_000 {
            let x = rng.between(5, 9);
            assert!((5..=9).contains(&x), "{x}");
        }
        let mut untouched = rng.clone();
        assert_eq!(rng.between(4, 4), 4);
        assert_eq!(rng.next_u64(), untouched.next_u64(), "no draw for 4..=4");
        let _ = rng.between(0, u64::MAX);
    }
}
