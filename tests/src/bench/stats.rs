//! Percentiles of latency samples.

use std::time::Duration;

/// Sorted samples.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// From unsorted samples.
    pub fn new(mut samples: Vec<Duration>) -> Samples {
        samples.sort();
        Samples(samples)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The p-th percentile (nearest rank), in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        self.0[index].as_secs_f64() * 1000.0
    }

    /// The largest sample, in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.0.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    }

    /// The raw samples, sorted.
    pub fn as_slice(&self) -> &[Duration] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples = Samples::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(samples.percentile_ms(50.0), 50.0);
        assert_eq!(samples.percentile_ms(99.0), 99.0);
        assert_eq!(samples.percentile_ms(100.0), 100.0);
        assert_eq!(samples.max_ms(), 100.0);
    }
}
