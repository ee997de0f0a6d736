//! Latency distributions: an HdrHistogram in microseconds, kept whole in the report (its V2
//! deflate encoding, base64) so shards merge by adding counts, never by averaging
//! percentiles.

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::time::Duration;

/// Longest latency kept exactly (an hour); longer ones count as this.
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A fresh histogram of microseconds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS).expect("valid histogram bounds")
}

/// Records `d` (sub-microsecond latencies, as on the virtual clock, count as 0).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    h.saturating_record(
        u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .min(HIGHEST_US),
    );
}

/// A distribution as the report shows it: percentiles for people, the histogram for tools.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The HdrHistogram (microseconds), V2 deflate encoding in base64: `hwconform fleet
    /// merge` adds these, and HdrHistogram's own tools read them.
    pub histogram: String,
}

/// Why a report's histogram cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LatencyError {
    #[error("histogram is not base64")]
    Base64(#[source] base64::DecodeError),
    #[error("histogram is not an HdrHistogram V2 encoding")]
    Decode(#[source] hdrhistogram::serialization::DeserializeError),
    #[error("histograms cannot be added")]
    Add(#[source] hdrhistogram::AdditionError),
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut bytes)
            .expect("a histogram serializes to memory");
        Latency {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    pub fn histogram(&self) -> Result<Histogram<u64>, LatencyError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.histogram)
            .map_err(LatencyError::Base64)?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(LatencyError::Decode)?;
        // A decoded histogram is sized to what it holds; the sum must reach every bound.
        let mut whole = histogram();
        whole.add(&h).map_err(LatencyError::Add)?;
        Ok(whole)
    }

    /// The distribution of both (counts added).
    pub fn merged(&self, other: &Latency) -> Result<Latency, LatencyError> {
        let mut h = self.histogram()?;
        h.add(other.histogram()?).map_err(LatencyError::Add)?;
        Ok(Latency::of(&h))
    }

    /// The figure `p50`, `p90`, `p99` or `max`, in milliseconds.
    pub fn figure(&self, name: &str) -> Option<f64> {
        match name {
            "p50" => Some(self.p50_ms),
            "p90" => Some(self.p90_ms),
            "p99" => Some(self.p99_ms),
            "max" => Some(self.max_ms),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Merging two distributions is the distribution of all their values: every
        /// percentile of the merge equals the one of a histogram that saw everything.
        #[test]
        fn merged_equals_recorded_together(a in proptest::collection::vec(0u64..10_000_000, 0..200), b in proptest::collection::vec(0u64..10_000_000, 0..200)) {
            let (mut ha, mut hb, mut all) = (histogram(), histogram(), histogram());
            for &v in &a { record(&mut ha, Duration::from_micros(v)); record(&mut all, Duration::from_micros(v)); }
            for &v in &b { record(&mut hb, Duration::from_micros(v)); record(&mut all, Duration::from_micros(v)); }
            let merged = Latency::of(&ha).merged(&Latency::of(&hb)).unwrap();
            prop_assert_eq!(merged, Latency::of(&all));
        }
    }

    #[test]
    fn figures_and_bad_encodings() {
        let mut h = histogram();
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 100);
        assert!((l.figure("p50").unwrap() - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.figure("p99").unwrap() - 99.0).abs() < 0.1, "{l:?}");
        assert_eq!(l.figure("p42"), None);
        let bad = Latency {
            histogram: "not base64!".into(),
            ..l.clone()
        };
        assert!(matches!(bad.histogram(), Err(LatencyError::Base64(_))));
        let bad = Latency {
            histogram: "AAAA".into(),
            ..l
        };
        assert!(matches!(bad.histogram(), Err(LatencyError::Decode(_))));
    }
}
