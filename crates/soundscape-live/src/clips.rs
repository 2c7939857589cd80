//! Class-triggered extraction inside the capture: the rules of extract-samples
//! ([`soundscape_extract::rules`]) applied to each live detection as it is made. Each channel
//! keeps its last seconds of audio at the stream's rate; a detection a rule takes becomes a
//! clip centred on its window, cut as soon as the audio reaches the clip's end (or at the end
//! of the connection, shorter), then drawn, filtered and written with its sidecar and a
//! ledger line exactly as the batch stage does (docs/extract.md).

use std::path::{Path, PathBuf};

use soundscape_extract::draw::{judge, ClassCounts, Verdict};
use soundscape_extract::extract::{class_folder, write_wav};
use soundscape_extract::ledger::{Decision, Entry, Ledger};
use soundscape_extract::rules::{Candidate, Rules};

use crate::events::rfc3339;

/// A clip waiting for its audio.
#[derive(Debug, Clone)]
pub struct Pending {
    pub rule: usize,
    pub label: String,
    pub score: f32,
    pub window: (i64, i64),
    pub from_us: i64,
    pub to_us: i64,
}

/// One channel's recent audio.
#[derive(Debug, Default)]
pub struct Ring {
    pub samples: Vec<f32>,
    pub start_us: i64,
    pub rate: u32,
    pub pending: Vec<Pending>,
}

impl Ring {
    fn end_us(&self) -> i64 {
        self.start_us + (self.samples.len() as i64 * 1_000_000) / self.rate.max(1) as i64
    }

    /// Appends a block that starts at `at_us`; a ring that does not continue is started anew.
    pub fn push(&mut self, at_us: i64, rate: u32, block: &[f32], keep_s: f64) {
        let one = 1_000_000 / rate.max(1) as i64 + 1;
        if self.rate != rate || self.samples.is_empty() || (self.end_us() - at_us).abs() > one {
            self.samples.clear();
            self.start_us = at_us;
            self.rate = rate;
        }
        self.samples.extend_from_slice(block);
        let keep = (keep_s * rate as f64) as usize;
        if self.samples.len() > keep + rate as usize {
            let drop = self.samples.len() - keep;
            self.samples.drain(..drop);
            self.start_us += (drop as i64 * 1_000_000) / rate as i64;
        }
    }

    fn index(&self, us: i64) -> usize {
        (((us - self.start_us).max(0) as i128 * self.rate as i128) / 1_000_000) as usize
    }
}

/// The live extractor.
pub struct Extractor {
    rules: Rules,
    out: PathBuf,
    seed: u64,
    counts: ClassCounts,
    ledger: Ledger,
    /// Seconds of audio each channel keeps: the longest clip and a window.
    pub keep_s: f64,
}

impl Extractor {
    pub fn open(rules: Rules, out: &Path, window_s: f64) -> Result<Extractor, String> {
        let ledger = Ledger::open(out)?;
        let mut counts = ClassCounts::default();
        for r in &rules.set.rules {
            counts.scan(out, &r.dst);
        }
        let longest = rules.set.rules.iter().map(|r| r.length).fold(0.0, f64::max);
        Ok(Extractor {
            seed: rules.set.seed.unwrap_or(0),
            rules,
            out: out.to_path_buf(),
            counts,
            ledger,
            keep_s: longest + window_s + 1.0,
        })
    }

    /// A window's result: a clip to wait for, when a rule takes it.
    pub fn offer(
        &self,
        source: &str,
        channel: usize,
        window: (i64, i64),
        label: &str,
        score: f32,
        ring: &mut Ring,
    ) {
        let (sci, common) = label.split_once('_').unwrap_or((label, ""));
        let cand = Candidate {
            sources: &[source],
            channel: channel as u32,
            names: [label, sci, common],
            score,
            above_threshold: true,
        };
        let Some(rule) = self.rules.first_match(&cand) else {
            return;
        };
        let len_us = (self.rules.set.rules[rule].length * 1e6) as i64;
        let centre = (window.0 + window.1) / 2;
        let from_us = (centre - len_us / 2).max(ring.start_us);
        ring.pending.push(Pending {
            rule,
            label: label.to_string(),
            score,
            window,
            from_us,
            to_us: from_us + len_us,
        });
    }

    /// Cuts the clips whose audio is all there (all of them when `flush`: the connection
    /// ended, and they take what there is).
    pub fn cut(&mut self, source: &str, channel: usize, ring: &mut Ring, flush: bool) {
        let end = ring.end_us();
        let ready: Vec<Pending> = {
            let (r, wait): (Vec<_>, Vec<_>) = ring
                .pending
                .drain(..)
                .partition(|p| flush || p.to_us <= end);
            ring.pending = wait;
            r
        };
        for p in ready {
            let (a, b) = (
                ring.index(p.from_us),
                ring.index(p.to_us).min(ring.samples.len()),
            );
            if b <= a {
                continue;
            }
            let samples = ring.samples[a..b].to_vec();
            let from_us = ring.start_us + (a as i64 * 1_000_000) / ring.rate as i64;
            if let Err(e) = self.decide(source, channel, &p, &samples, ring.rate, from_us) {
                tracing::error!(source, channel, error = %e, "a live clip could not be written");
            }
        }
    }

    fn decide(
        &mut self,
        source: &str,
        channel: usize,
        p: &Pending,
        samples: &[f32],
        rate: u32,
        from_us: i64,
    ) -> Result<(), String> {
        let rule = &self.rules.set.rules[p.rule];
        let key = format!("{source}|{channel}|{}|{}", p.window.0, p.label);
        if self.ledger.is_decided(&key) {
            return Ok(());
        }
        let class = class_folder(&p.label);
        let Verdict {
            decision,
            probability,
            draw,
            border,
        } = judge(&self.counts, rule, &class, self.seed, &key, samples);
        let mut clip = None;
        if decision == Decision::Extracted {
            let stamp = chrono::DateTime::from_timestamp_micros(from_us)
                .unwrap_or_default()
                .format("%Y%m%d_%H%M%S_%3f");
            let rel = PathBuf::from(&rule.dst)
                .join(&class)
                .join(format!("{source}_ch{channel:02}_{stamp}.wav"));
            let wav = self.out.join(&rel);
            write_wav(&wav, samples, rate, rule.format)
                .map_err(|e| format!("{}: {e}", wav.display()))?;
            let to_us = from_us + (samples.len() as i64 * 1_000_000) / rate as i64;
            let side = serde_json::json!({
                "key": key, "source": source, "channel": channel,
                "detection": {"time": rfc3339(p.window.0), "end": rfc3339(p.window.1), "label": p.label, "score": p.score},
                "clip": {"abs_start": rfc3339(from_us), "abs_end": rfc3339(to_us), "sample_rate": rate, "frames": samples.len(), "format": rule.format},
                "rule": {"name": rule.name, "rate": rule.rate, "probability": probability, "draw": draw,
                         "object_filter": rule.object_filter, "border_share": border, "seed": self.seed},
            });
            let sp = wav.with_extension("json");
            soundscape_core::fsutil::write_json_atomic(&sp, &side)
                .map_err(|e| format!("{}: {e}", sp.display()))?;
            self.counts.add(&rule.dst, &class);
            clip = Some(rel.display().to_string());
        }
        self.ledger.record(Entry {
            key,
            decision,
            rule: rule.name.clone(),
            label: p.label.clone(),
            clip,
            decided_at: chrono::Utc::now().to_rfc3339(),
        })
    }
}
