//! One recording through a model: decode once, each channel (or their mean) resampled to the
//! model's rate and cut into windows, front end, network in batches, scores turned into
//! detections as each batch finishes (docs/embeddings.md#windows). Memory is bounded by one
//! window per channel plus one decoded block and one batch, whatever the recording's length.

use std::path::Path;

use soundscape_audio::{AudioError, AudioReader};

use crate::frontend::batbot::{window_input, PictureError};
use crate::frontend::Built;
use crate::manifest::Activation;
use crate::model::{Label, Model};
use crate::resample::Converter;

/// Default of [`Settings::max_truncation`].
pub const DEFAULT_MAX_TRUNCATION: f64 = soundscape_audio::TRUNCATION_TOLERANCE;

/// What the windows are cut from when a recording has several channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelMode {
    /// Every channel on its own: one row per window and channel (channel 0, 1, ...).
    #[default]
    Each,
    /// The channels' mean, as BirdNET's own tools read a file: one row per window
    /// (channel 0).
    Mix,
}

/// Settings of a run that are not the model's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Settings {
    /// Channels apart or mixed.
    pub channels: ChannelMode,
    /// Step between windows, seconds (the model's hop unless overridden).
    pub hop_s: f64,
    /// BirdNET's sensitivity (the slope of the sigmoid), 1.0 = none.
    pub sensitivity: f32,
    /// Scores at or above this become detections.
    pub min_confidence: f32,
    /// Also keep the best `top_k` labels of every window, whatever their score.
    pub top_k: usize,
    /// Only these labels become detections (empty: all).
    pub species: Vec<String>,
    /// Write the embeddings.
    pub embeddings: bool,
    /// Share of a header's declared length that may be missing from the decoded audio.
    pub max_truncation: f64,
}

/// One window's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub index: usize,
    /// Channel of the recording (0 where the channels are mixed).
    pub channel: u16,
    /// Start and end in the file, seconds (the end is clipped to the recording's length; a
    /// short last window was padded with zeros up to the model's window).
    pub start_s: f64,
    pub end_s: f64,
    pub embedding: Vec<f32>,
    /// (label index, score, rank in the window starting at 1, at or above the threshold).
    pub detections: Vec<(usize, f32, u32, bool)>,
}

#[derive(Debug, Clone)]
pub struct RecordingResult {
    pub duration_s: f64,
    pub sample_rate: u32,
    pub channels: u16,
    pub windows: Vec<Window>,
    /// Windows left out because their picture was blank (image front ends).
    pub blank_windows: usize,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("{0}")]
    Model(String),
    #[error(transparent)]
    Picture(#[from] PictureError),
}

impl AnalyzeError {
    pub fn kind(&self) -> &'static str {
        match self {
            AnalyzeError::Audio(e) => e.kind(),
            AnalyzeError::Model(_) => "model",
            AnalyzeError::Picture(PictureError::RateTooLow(..)) => "too-low-rate",
            AnalyzeError::Picture(PictureError::Blank) => "silent",
            AnalyzeError::Picture(PictureError::Empty) => "empty",
        }
    }
}

fn activate(act: &Activation, sensitivity: f32, scores: &mut [f32]) {
    match act {
        Activation::Identity => {}
        Activation::Sigmoid { clip } => {
            for s in scores.iter_mut() {
                *s = 1.0 / (1.0 + (-sensitivity * s.clamp(-clip, *clip)).exp());
            }
        }
        Activation::Softmax => {
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
    }
}

/// The detections of one window's scores.
pub fn select(
    scores: &[f32],
    settings: &Settings,
    allowed: Option<&[bool]>,
) -> Vec<(usize, f32, u32, bool)> {
    let mut order: Vec<usize> = (0..scores.len())
        .filter(|&i| allowed.is_none_or(|a| a[i]))
        .collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .enumerate()
        .take_while(|&(rank, i)| rank < settings.top_k || scores[i] >= settings.min_confidence)
        .map(|(rank, i)| {
            (
                i,
                scores[i],
                rank as u32 + 1,
                scores[i] >= settings.min_confidence,
            )
        })
        .collect()
}

/// Labels allowed by the species list (None: all).
pub fn allowed_labels(labels: &[Label], species: &[String]) -> Option<Vec<bool>> {
    if species.is_empty() {
        return None;
    }
    Some(
        labels
            .iter()
            .map(|l| {
                species.iter().any(|s| {
                    s == &l.raw
                        || s.eq_ignore_ascii_case(&l.scientific)
                        || s.eq_ignore_ascii_case(&l.common)
                })
            })
            .collect(),
    )
}

/// Where a window came from: its index, channel, start and end (seconds in the file).
#[derive(Debug, Clone, Copy)]
struct Slot {
    index: usize,
    channel: u16,
    start_s: f64,
    end_s: f64,
}

struct Batcher<'a> {
    model: &'a Model,
    settings: &'a Settings,
    allowed: Option<&'a [bool]>,
    /// Rate the recording was made at (image front ends leave out what it cannot hold).
    source_rate: u32,
    input: Vec<f32>,
    pending: Vec<Slot>,
    out: Vec<Window>,
    blank: usize,
    warnings: Vec<String>,
    /// Channels analysed apart (1: mono or mixed).
    lanes: usize,
}

/// One channel's (or the mix's) way to the windows: its resampler, and its resampled
/// samples from `start` on, which hold the next window.
struct Lane {
    resampler: Converter,
    buf: Vec<f32>,
    start: usize,
    /// Index of the next window.
    next: usize,
}

impl Batcher<'_> {
    fn push(&mut self, window: &[f32], at: Slot) -> Result<(), AnalyzeError> {
        let fe = match &self.model.front_end {
            Built::Window(fe) => fe,
            Built::Image(_) => return self.push_picture(window, at),
        };
        let per = fe.len();
        let slot = self.pending.len();
        fe.compute(window, &mut self.input[slot * per..(slot + 1) * per]);
        self.pending.push(at);
        if self.pending.len() == self.model.network.batch() {
            self.flush()?;
        }
        Ok(())
    }

    /// An image front end: the window's picture, its image windows through the network in
    /// batches, their (activated) scores and embeddings averaged into the window's.
    fn push_picture(&mut self, audio: &[f32], at: Slot) -> Result<(), AnalyzeError> {
        let Slot {
            index,
            channel,
            start_s,
            end_s,
        } = at;
        let Built::Image(img) = &self.model.front_end else {
            unreachable!("push_picture on a windowed front end")
        };
        let pic = match img.picture(audio, self.source_rate) {
            Ok(p) => p,
            Err(PictureError::Blank) => {
                self.blank += 1;
                self.warnings.push(format!(
                    "window {index}{} ({start_s:.3}–{end_s:.3} s) left out: {}",
                    if self.lanes > 1 {
                        format!(" of channel {channel}")
                    } else {
                        String::new()
                    },
                    PictureError::Blank
                ));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let wins = img.windows(&pic).map_err(AnalyzeError::Model)?;
        drop(pic);
        let per = img.input_len();
        let batch = self.model.network.batch();
        let (mut scores, mut embedding): (Vec<f64>, Vec<f64>) = (vec![], vec![]);
        let add = |acc: &mut Vec<f64>, v: &[f32]| {
            acc.resize(v.len(), 0.0);
            acc.iter_mut().zip(v).for_each(|(a, &x)| *a += x as f64);
        };
        for chunk in wins.chunks(batch) {
            for (slot, w) in chunk.iter().enumerate() {
                window_input(w, &mut self.input[slot * per..(slot + 1) * per]);
            }
            let out = self
                .model
                .network
                .run(
                    &mut self.input,
                    chunk.len(),
                    &self.model.manifest.input.shape,
                )
                .map_err(AnalyzeError::Model)?;
            for raw in &out.scores {
                let mut s = raw.clone();
                activate(
                    &self.model.manifest.activation,
                    self.settings.sensitivity,
                    &mut s,
                );
                add(&mut scores, &s);
            }
            if self.settings.embeddings {
                for e in &out.embeddings {
                    add(&mut embedding, e);
                }
            }
        }
        let n = wins.len().max(1) as f64;
        let mean = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|x| (x / n) as f32).collect() };
        let scores = mean(scores);
        let detections = if scores.is_empty() {
            vec![]
        } else {
            select(&scores, self.settings, self.allowed)
        };
        self.out.push(Window {
            index,
            channel,
            start_s,
            end_s,
            embedding: mean(embedding),
            detections,
        });
        Ok(())
    }

    fn flush(&mut self) -> Result<(), AnalyzeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.len();
        let out = self
            .model
            .network
            .run(&mut self.input, n, &self.model.manifest.input.shape)
            .map_err(AnalyzeError::Model)?;
        for (k, at) in self.pending.drain(..).enumerate() {
            let detections = match out.scores.get(k) {
                Some(raw) => {
                    let mut s = raw.clone();
                    activate(
                        &self.model.manifest.activation,
                        self.settings.sensitivity,
                        &mut s,
                    );
                    select(&s, self.settings, self.allowed)
                }
                None => vec![],
            };
            let embedding = if self.settings.embeddings {
                out.embeddings.get(k).cloned().unwrap_or_default()
            } else {
                vec![]
            };
            self.out.push(Window {
                index: at.index,
                channel: at.channel,
                start_s: at.start_s,
                end_s: at.end_s,
                embedding,
                detections,
            });
        }
        Ok(())
    }
}

/// Runs a model over one recording.
pub fn analyze(
    path: &Path,
    model: &Model,
    settings: &Settings,
    allowed: Option<&[bool]>,
    on_audio: &(dyn Fn(f64) + Sync),
) -> Result<RecordingResult, AnalyzeError> {
    let mut reader = AudioReader::open(path)?;
    let info = reader.info().clone();
    let sr = model.manifest.sample_rate;
    let w = model.manifest.window_samples();
    let min_len = (model.manifest.min_window() * sr as f64).round() as usize;
    let hop_of = |k: usize| (k as f64 * settings.hop_s * sr as f64).round() as usize;
    let mut warnings = Vec::new();
    let lanes = match (settings.channels, info.channels) {
        (ChannelMode::Each, n) if n > 1 => {
            reader.keep_channels();
            n as usize
        }
        (ChannelMode::Each, 0) => {
            warnings.push(
                "the header does not say how many channels the file has: their mean is analysed"
                    .to_string(),
            );
            1
        }
        _ => 1,
    };
    let mut lane: Vec<Lane> = (0..lanes)
        .map(|_| {
            Ok(Lane {
                resampler: Converter::new(model.manifest.resampler, info.sample_rate, sr)
                    .map_err(AnalyzeError::Model)?,
                buf: Vec::new(),
                start: 0,
                next: 0,
            })
        })
        .collect::<Result<_, AnalyzeError>>()?;
    let per = model.front_end.input_len();
    // A picture is drawn of what the recording holds, never of zeros padded after it.
    let pad_last = !model.manifest.front_end.is_image();
    let mut batcher = Batcher {
        model,
        settings,
        allowed,
        source_rate: info.sample_rate,
        input: vec![0.0; per * model.network.batch()],
        pending: Vec::new(),
        out: Vec::new(),
        blank: 0,
        warnings: Vec::new(),
        lanes,
    };
    let mut decoded = 0u64;
    let mut fresh = Vec::new();
    let mut one = Vec::new();
    let secs = |n: usize| n as f64 / sr as f64;
    // The windows a lane's samples now hold, into the batcher; then what no later window needs
    // is dropped.
    let drain = |l: &mut Lane,
                 channel: u16,
                 batcher: &mut Batcher,
                 last: bool|
     -> Result<(), AnalyzeError> {
        loop {
            let start = hop_of(l.next);
            let end_avail = l.start + l.buf.len();
            let at = |end: usize| Slot {
                index: l.next,
                channel,
                start_s: secs(start),
                end_s: secs(end),
            };
            if start + w <= end_avail {
                let s = start - l.start;
                batcher.push(&l.buf[s..s + w], at(start + w))?;
            } else if last && end_avail > start && end_avail - start >= min_len {
                let s = start - l.start;
                let mut padded = l.buf[s..].to_vec();
                if pad_last {
                    padded.resize(w, 0.0);
                }
                batcher.push(&padded, at(end_avail))?;
            } else {
                break;
            }
            l.next += 1;
        }
        let keep_from = hop_of(l.next).min(l.start + l.buf.len());
        if keep_from > l.start {
            l.buf.drain(..keep_from - l.start);
            l.start = keep_from;
        }
        Ok(())
    };
    loop {
        let block = match reader.next_block() {
            Ok(Some(b)) => b,
            Ok(None) => break,
            Err(AudioError::Truncated {
                expected, found, ..
            }) if found > 0
                && soundscape_audio::shortfall_tolerated(
                    expected,
                    found,
                    settings.max_truncation,
                ) =>
            {
                warnings.push(format!(
                    "the header declares {expected} frames but {found} were decoded ({} fewer, within the {:.2} % tolerated); the windows cover the {found} decoded",
                    expected - found,
                    settings.max_truncation * 100.0
                ));
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let frames = block.len() / lanes;
        decoded += frames as u64;
        for (c, l) in lane.iter_mut().enumerate() {
            let samples = if lanes == 1 {
                block
            } else {
                one.clear();
                one.extend(block[c..].iter().step_by(lanes));
                &one[..]
            };
            fresh.clear();
            l.resampler.push(samples, &mut fresh);
            l.buf.extend_from_slice(&fresh);
            drain(l, c as u16, &mut batcher, false)?;
        }
        on_audio(frames as f64 / info.sample_rate as f64);
    }
    for (c, l) in lane.iter_mut().enumerate() {
        fresh.clear();
        l.resampler.finish(&mut fresh);
        l.buf.extend_from_slice(&fresh);
        drain(l, c as u16, &mut batcher, true)?;
    }
    batcher.flush()?;
    warnings.append(&mut batcher.warnings);
    let blank_windows = batcher.blank;
    let mut windows = batcher.out;
    // Rows by window, then channel (the lanes fill batches in turn).
    windows.sort_by_key(|w| (w.index, w.channel));
    Ok(RecordingResult {
        duration_s: decoded as f64 / info.sample_rate as f64,
        sample_rate: info.sample_rate,
        channels: info.channels,
        windows,
        blank_windows,
        warnings,
    })
}

/// The first `samples` samples of a recording at the model's rate (fewer if it is shorter),
/// and the rate it was made at.
fn read_start(path: &Path, model: &Model, samples: usize) -> Result<(Vec<f32>, u32), AnalyzeError> {
    let mut reader = AudioReader::open(path)?;
    let sr_in = reader.info().sample_rate;
    let mut resampler = Converter::new(model.manifest.resampler, sr_in, model.manifest.sample_rate)
        .map_err(AnalyzeError::Model)?;
    let mut buf = Vec::new();
    while buf.len() < samples {
        match reader.next_block() {
            Ok(Some(b)) => resampler.push(b, &mut buf),
            Ok(None) | Err(AudioError::Truncated { .. }) => {
                resampler.finish(&mut buf);
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(samples);
    Ok((buf, sr_in))
}

/// The network input of the first window of a recording (the front end's output), for tests
/// that compare a front end with its original.
pub fn first_input(path: &Path, model: &Model) -> Result<Vec<f32>, AnalyzeError> {
    let fe = model.front_end.window().ok_or_else(|| {
        AnalyzeError::Model("the model's front end draws pictures (see first_picture)".into())
    })?;
    let w = model.manifest.window_samples();
    let (mut buf, _) = read_start(path, model, w)?;
    buf.resize(w, 0.0);
    let mut out = vec![0.0; fe.len()];
    fe.compute(&buf, &mut out);
    Ok(out)
}

/// The picture of the first window of a recording and its network windows (grey bytes), for
/// tests that compare an image front end with its original.
pub fn first_picture(
    path: &Path,
    model: &Model,
) -> Result<(crate::frontend::batbot::Picture, Vec<Vec<u8>>), AnalyzeError> {
    let Built::Image(img) = &model.front_end else {
        return Err(AnalyzeError::Model(
            "the model's front end does not draw pictures".into(),
        ));
    };
    let (buf, sr_in) = read_start(path, model, model.manifest.window_samples())?;
    let pic = img.picture(&buf, sr_in)?;
    let wins = img.windows(&pic).map_err(AnalyzeError::Model)?;
    Ok((pic, wins))
}

/// The activated scores of one window of audio at the model's rate (a windowed front end's
/// model, with batch 1): what live detection runs on each window of a stream.
pub fn window_scores(model: &Model, window: &[f32], sensitivity: f32) -> Result<Vec<f32>, String> {
    let fe = model.front_end.window().ok_or_else(|| {
        format!(
            "{}: an image model cannot run on live windows",
            model.manifest.name
        )
    })?;
    let mut input = vec![0.0; fe.len() * model.network.batch()];
    fe.compute(window, &mut input[..fe.len()]);
    let out = model
        .network
        .run(&mut input, 1, &model.manifest.input.shape)?;
    let mut s = out.scores.into_iter().next().unwrap_or_default();
    activate(&model.manifest.activation, sensitivity, &mut s);
    Ok(s)
}
