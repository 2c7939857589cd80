//! The detector thread. The capture hands it each decoded block of a source (its time and the
//! kept channels) through a bounded queue; per channel it resamples to the models' rate, cuts
//! windows at the hop, classifies them and sends each result to the sinks. A gap in a source
//! (reconnect, restart) starts its channels' windows afresh. When the queue is full a live
//! source does not wait: the block is counted as dropped and its windows are reported
//! `skipped`; a source read once (a file, faster than real time) waits for the detector.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use soundscape_embed::resample::Converter;

use crate::cascade::{decide, UNKNOWN};
use crate::clips::{Extractor, Ring};
use crate::config::Models;
use crate::events::{rfc3339, Detection, Sink};

/// Blocks in flight to the detector (about 20 s of 20 ms blocks of one source).
pub const QUEUE: usize = 1024;

/// What the capture tells the detector.
pub enum LiveMsg {
    /// Decoded audio of a source: `start_us` is its first frame's time (µs since the epoch,
    /// UTC), `samples` interleaved with `channels` per frame; `keep` the channels to look at.
    Audio {
        source: Arc<str>,
        start_us: i64,
        rate: u32,
        channels: usize,
        keep: Arc<[usize]>,
        samples: Vec<f32>,
    },
    /// The source's run of samples ended (a gap follows).
    Reset { source: Arc<str> },
}

/// A stretch of a source the detector could not take: (source, channels, from, to in µs).
type Lost = (Arc<str>, Arc<[usize]>, i64, i64);

/// The capture's end of the queue.
#[derive(Clone)]
pub struct LiveTap {
    tx: SyncSender<LiveMsg>,
    /// Blocks the detector could not take.
    pub dropped: Arc<AtomicU64>,
    /// Windows classified.
    pub windows: Arc<AtomicU64>,
    /// Stretches dropped, for the detector to report.
    lost: Arc<Mutex<Vec<Lost>>>,
}

impl LiveTap {
    /// Hands a message over. A live source never waits: a full queue drops the block (and
    /// counts it); a source read once (`wait`, a file) waits for room, so none of it is lost.
    pub fn send(&self, msg: LiveMsg, wait: bool) {
        if wait {
            let _ = self.tx.send(msg);
            return;
        }
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(LiveMsg::Audio {
                source,
                start_us,
                rate,
                channels,
                keep,
                samples,
            })) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                if n == 0 {
                    tracing::warn!(%source, "the live detector falls behind: blocks are skipped");
                }
                let frames = samples.len() / channels.max(1);
                let end = start_us + (frames as i64 * 1_000_000) / rate.max(1) as i64;
                let mut lost = self.lost.lock().unwrap_or_else(|p| p.into_inner());
                match lost.last_mut() {
                    Some(l) if l.0 == source && l.3 == start_us => l.3 = end,
                    _ => lost.push((source, keep, start_us, end)),
                }
            }
            // A reset that does not fit is not needed: the next block's time tells the gap.
            Err(_) => {}
        }
    }
}

struct Lane {
    resampler: Converter,
    /// Resampled samples from `start` (samples at the models' rate since `t0_us`).
    buf: Vec<f32>,
    start: u64,
    t0_us: i64,
    /// Where the next block should begin, to tell a gap.
    expect_us: i64,
    scratch: Vec<f32>,
}

/// The detector: the models, each channel's lane, the sinks.
pub struct Detector {
    models: Models,
    sink: Sink,
    lanes: HashMap<(Arc<str>, usize), Lane>,
    windows: Arc<AtomicU64>,
    lost: Arc<Mutex<Vec<Lost>>>,
    /// Live extraction and each channel's recent audio, when rules are given.
    extract: Option<Extractor>,
    rings: HashMap<(Arc<str>, usize), Ring>,
}

impl Detector {
    /// Starts the detector thread; it ends when every [`LiveTap`] is dropped.
    pub fn spawn(
        models: Models,
        sink: Sink,
        extract: Option<Extractor>,
    ) -> std::io::Result<(LiveTap, JoinHandle<()>)> {
        let (tx, rx) = sync_channel(QUEUE);
        let tap = LiveTap {
            tx,
            dropped: Arc::default(),
            windows: Arc::default(),
            lost: Arc::default(),
        };
        let mut d = Detector {
            models,
            sink,
            lanes: HashMap::new(),
            windows: tap.windows.clone(),
            lost: tap.lost.clone(),
            extract,
            rings: HashMap::new(),
        };
        let h = std::thread::Builder::new()
            .name("detect".into())
            .spawn(move || d.run(&rx))?;
        Ok((tap, h))
    }

    fn run(&mut self, rx: &Receiver<LiveMsg>) {
        while let Ok(msg) = rx.recv() {
            self.report_lost();
            match msg {
                LiveMsg::Audio {
                    source,
                    start_us,
                    rate,
                    channels,
                    keep,
                    samples,
                } => {
                    for &c in keep.iter() {
                        if let Err(e) = self.audio(&source, c, start_us, rate, channels, &samples) {
                            tracing::error!(%source, channel = c, error = %e, "live detection failed on a window");
                        }
                    }
                }
                LiveMsg::Reset { source } => self.reset(&source),
            }
        }
        self.report_lost();
        if let Some(x) = self.extract.as_mut() {
            for ((s, c), ring) in self.rings.iter_mut() {
                x.cut(s, *c, ring, true);
            }
        }
    }

    /// Reports the stretches the capture dropped, as `skipped` windows of their channels.
    fn report_lost(&mut self) {
        let lost = std::mem::take(&mut *self.lost.lock().unwrap_or_else(|p| p.into_inner()));
        for (source, keep, from, to) in lost {
            self.reset(&source);
            for &c in keep.iter() {
                self.sink.send(&Detection {
                    kind: "skipped",
                    source: source.to_string(),
                    channel: c,
                    time: rfc3339(from),
                    end: rfc3339(to),
                    predictions: Default::default(),
                    result: "the detector fell behind".into(),
                });
            }
        }
    }

    /// A source's run ended: its channels' windows start afresh, and the clips waiting for
    /// its audio take what there is.
    fn reset(&mut self, name: &str) {
        self.lanes.retain(|(s, _), _| &**s != name);
        if let Some(x) = self.extract.as_mut() {
            for ((s, c), ring) in self.rings.iter_mut().filter(|((s, _), _)| &**s == name) {
                x.cut(s, *c, ring, true);
            }
        }
        self.rings.retain(|(s, _), _| &**s != name);
    }

    fn audio(
        &mut self,
        source: &Arc<str>,
        channel: usize,
        start_us: i64,
        rate: u32,
        channels: usize,
        samples: &[f32],
    ) -> Result<(), String> {
        let frames = samples.len() / channels.max(1);
        let key = (source.clone(), channel);
        let one_sample = 1_000_000 / rate.max(1) as i64 + 1;
        let fresh = match self.lanes.get(&key) {
            Some(l) => (l.expect_us - start_us).abs() > one_sample,
            None => true,
        };
        if fresh {
            let resampler = Converter::new(
                self.models.selector.manifest.resampler,
                rate,
                self.models.rate,
            )?;
            self.lanes.insert(
                key.clone(),
                Lane {
                    resampler,
                    buf: Vec::new(),
                    start: 0,
                    t0_us: start_us,
                    expect_us: start_us,
                    scratch: Vec::new(),
                },
            );
        }
        let lane = self.lanes.get_mut(&key).expect("inserted");
        lane.expect_us = start_us + (frames as i64 * 1_000_000) / rate as i64;
        lane.scratch.clear();
        lane.scratch
            .extend(samples[channel..].iter().step_by(channels.max(1)).copied());
        let mut out = std::mem::take(&mut lane.buf);
        lane.resampler.push(&lane.scratch, &mut out);
        lane.buf = out;
        if let Some(x) = &self.extract {
            self.rings.entry(key.clone()).or_default().push(
                start_us,
                rate,
                &lane.scratch,
                x.keep_s,
            );
        }
        let (w, hop, mrate) = (self.models.window, self.models.hop, self.models.rate as i64);
        while lane.buf.len() >= w {
            let at = lane.t0_us + (lane.start as i64 * 1_000_000) / mrate;
            let end = lane.t0_us + ((lane.start + w as u64) as i64 * 1_000_000) / mrate;
            let classes = self.models.classify(&lane.buf[..w])?;
            self.windows.fetch_add(1, Ordering::Relaxed);
            let cfg = &self.models.config;
            let winner = decide(&classes, cfg.margin, cfg.min_score);
            if let (Some(i), Some(x)) = (winner, &self.extract) {
                let ring = self.rings.entry(key.clone()).or_default();
                x.offer(
                    source,
                    channel,
                    (at, end),
                    &classes[i].name,
                    classes[i].score,
                    ring,
                );
            }
            let result = winner.map_or(UNKNOWN.to_string(), |i| classes[i].name.clone());
            let mut order: Vec<usize> = (0..classes.len())
                .filter(|&i| classes[i].score >= cfg.min_score)
                .collect();
            order.sort_by(|&a, &b| classes[b].score.total_cmp(&classes[a].score));
            let predictions = order
                .into_iter()
                .take(cfg.predictions)
                .map(|i| {
                    let s = (classes[i].score as f64 * 1e4).round() / 1e4;
                    (classes[i].name.clone(), serde_json::json!(s))
                })
                .collect();
            self.sink.send(&Detection {
                kind: "detection",
                source: source.to_string(),
                channel,
                time: rfc3339(at),
                end: rfc3339(end),
                predictions,
                result,
            });
            let drop = hop.min(lane.buf.len());
            lane.buf.drain(..drop);
            lane.start += drop as u64;
        }
        if let (Some(x), Some(ring)) = (self.extract.as_mut(), self.rings.get_mut(&key)) {
            x.cut(source, channel, ring, false);
        }
        Ok(())
    }
}
