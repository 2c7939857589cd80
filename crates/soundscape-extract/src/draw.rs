//! The draws: whether a matching detection is taken. Each detection has its own uniform
//! number, a hash of the seed and the detection's key, so a draw does not depend on the
//! order or the number of other detections, and the same seed gives the same clips on any
//! machine. The `auto` rate comes from the clips already stored, counted per class folder.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::rules::Rate;

/// A number in [0, 1) fixed by the seed and the key.
pub fn uniform(seed: u64, key: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    // 53 bits: every value is exact in an f64.
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// Clips stored per class, per destination folder (for the `auto` rate).
#[derive(Debug, Clone, Default)]
pub struct ClassCounts {
    /// Destination folder -> class folder name -> clips.
    counts: BTreeMap<String, BTreeMap<String, u64>>,
}

impl ClassCounts {
    /// Counts the `.wav` files of every class folder of `out/<dst>/`.
    pub fn scan(&mut self, out: &Path, dst: &str) {
        if self.counts.contains_key(dst) {
            return;
        }
        let mut classes = BTreeMap::new();
        if let Ok(dirs) = std::fs::read_dir(out.join(dst)) {
            for d in dirs.flatten() {
                if !d.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let n = std::fs::read_dir(d.path())
                    .map(|files| {
                        files
                            .flatten()
                            .filter(|f| {
                                let name = f.file_name();
                                let name = name.to_string_lossy();
                                name.ends_with(".wav") && !name.starts_with('.')
                            })
                            .count() as u64
                    })
                    .unwrap_or(0);
                classes.insert(d.file_name().to_string_lossy().into_owned(), n);
            }
        }
        self.counts.insert(dst.to_string(), classes);
    }

    /// One more clip stored.
    pub fn add(&mut self, dst: &str, class: &str) {
        *self
            .counts
            .entry(dst.to_string())
            .or_default()
            .entry(class.to_string())
            .or_default() += 1;
    }

    pub fn get(&self, dst: &str, class: &str) -> u64 {
        self.counts
            .get(dst)
            .and_then(|c| c.get(class))
            .copied()
            .unwrap_or(0)
    }

    /// The probability of taking a clip of `class` into `dst` at `rate`. For `auto`: 1 for a
    /// class with no clip yet, else the mean count of the classes that have clips divided by
    /// this class's count, at most 1: a class at or below an even share is always taken, one
    /// with twice the mean half the time. (Tidzam divides by the largest class instead and
    /// takes `1 - n/max`, which never takes the largest class again: with a single class the
    /// extraction stops after the first clip.)
    pub fn probability(&self, rate: Rate, dst: &str, class: &str) -> f64 {
        match rate {
            Rate::Fixed(p) => p,
            Rate::Auto => {
                let n = self.get(dst, class);
                if n == 0 {
                    return 1.0;
                }
                let stored: Vec<u64> = self
                    .counts
                    .get(dst)
                    .map(|c| c.values().copied().filter(|&v| v > 0).collect())
                    .unwrap_or_default();
                let mean = stored.iter().sum::<u64>() as f64 / stored.len().max(1) as f64;
                (mean / n as f64).min(1.0)
            }
        }
    }
}

/// How one detection was decided, and the numbers that decided it (for the sidecar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub decision: crate::ledger::Decision,
    pub probability: f64,
    pub draw: f64,
    /// The object filter's border share, when the filter looked (only at what the draw took).
    pub border: Option<f64>,
}

/// Decides one detection of `class` under `rule`: the draw against the rule's probability,
/// then the object filter on its clip. The batch stage and the live capture both decide here.
pub fn judge(
    counts: &ClassCounts,
    rule: &crate::rules::Rule,
    class: &str,
    seed: u64,
    key: &str,
    samples: &[f32],
) -> Verdict {
    use crate::ledger::Decision;
    let probability = counts.probability(rule.rate, &rule.dst, class);
    let draw = uniform(seed, key);
    let taken = draw < probability;
    let border = (taken && rule.object_filter).then(|| crate::filter::border_share(samples));
    let decision = match border {
        _ if !taken => Decision::NotDrawn,
        Some(share) if !crate::filter::share_passes(share) => Decision::Filtered,
        _ => Decision::Extracted,
    };
    Verdict {
        decision,
        probability,
        draw,
        border,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_fixed_by_seed_and_key_and_uniform() {
        assert_eq!(uniform(1, "a"), uniform(1, "a"));
        assert_ne!(uniform(1, "a"), uniform(2, "a"));
        assert_ne!(uniform(1, "a"), uniform(1, "b"));
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|i| uniform(7, &format!("det-{i}"))).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let below = xs.iter().filter(|&&x| x < 0.25).count() as f64 / n as f64;
        assert!((below - 0.25).abs() < 0.01, "{below}");
    }

    #[test]
    fn auto_rate_is_the_inverse_share() {
        let mut c = ClassCounts::default();
        assert_eq!(c.probability(Rate::Auto, "u", "a"), 1.0);
        for _ in 0..30 {
            c.add("u", "a");
        }
        for _ in 0..10 {
            c.add("u", "b");
        }
        // Mean 20: a has 30 (p = 2/3), b has 10 (p = 1), c none (p = 1).
        assert!((c.probability(Rate::Auto, "u", "a") - 20.0 / 30.0).abs() < 1e-12);
        assert_eq!(c.probability(Rate::Auto, "u", "b"), 1.0);
        assert_eq!(c.probability(Rate::Auto, "u", "c"), 1.0);
        assert_eq!(c.probability(Rate::Fixed(0.25), "u", "a"), 0.25);
        // A single class keeps being taken (Tidzam's rule would stop it at 0).
        let mut one = ClassCounts::default();
        one.add("u", "a");
        assert_eq!(one.probability(Rate::Auto, "u", "a"), 1.0);
    }

    #[test]
    fn scan_counts_stored_clips() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("unchecked/a");
        std::fs::create_dir_all(&a).unwrap();
        for f in ["1.wav", "2.wav", "2.json", ".3.wav.tmp"] {
            std::fs::write(a.join(f), b"x").unwrap();
        }
        let mut c = ClassCounts::default();
        c.scan(dir.path(), "unchecked");
        assert_eq!(c.get("unchecked", "a"), 2);
        assert_eq!(c.get("unchecked", "b"), 0);
    }
}
