//! One recording through a model: decode once, resample to the model's rate, cut windows,
//! front end, network in batches, scores turned into detections as each batch finishes
//! (docs/embeddings.md#windows). Memory is bounded by one window plus one decoded block and
//! one batch, whatever the recording's length.

use std::path::Path;

use soundscape_audio::{AudioError, AudioReader};

use crate::frontend::batbot::{window_input, PictureError};
use crate::frontend::Built;
use crate::manifest::Activation;
use crate::model::{Label, Model};
use crate::resample::Converter;

/// Default of [`Settings::max_truncation`].
pub const DEFAULT_MAX_TRUNCATION: f64 = soundscape_audio::TRUNCATION_TOLERANCE;

/// Settings of a run that are not the model's.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Settings {
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

struct Batcher<'a> {
    model: &'a Model,
    settings: &'a Settings,
    allowed: Option<&'a [bool]>,
    /// Rate the recording was made at (image front ends leave out what it cannot hold).
    source_rate: u32,
    input: Vec<f32>,
    pending: Vec<(usize, f64, f64)>,
    out: Vec<Window>,
    blank: usize,
    warnings: Vec<String>,
}

impl Batcher<'_> {
    fn push(
        &mut self,
        window: &[f32],
        index: usize,
        start_s: f64,
        end_s: f64,
    ) -> Result<(), AnalyzeError> {
        let fe = match &self.model.front_end {
            Built::Window(fe) => fe,
            Built::Image(_) => return self.push_picture(window, index, start_s, end_s),
        };
        let per = fe.len();
        let slot = self.pending.len();
        fe.compute(window, &mut self.input[slot * per..(slot + 1) * per]);
        self.pending.push((index, start_s, end_s));
        if self.pending.len() == self.model.network.batch() {
            self.flush()?;
        }
        Ok(())
    }

    /// An image front end: the window's picture, its image windows through the network in
    /// batches, their (activated) scores and embeddings averaged into the window's.
    fn push_picture(
        &mut self,
        audio: &[f32],
        index: usize,
        start_s: f64,
        end_s: f64,
    ) -> Result<(), AnalyzeError> {
        let Built::Image(img) = &self.model.front_end else {
            unreachable!("push_picture on a windowed front end")
        };
        let pic = match img.picture(audio, self.source_rate) {
            Ok(p) => p,
            Err(PictureError::Blank) => {
                self.blank += 1;
                self.warnings.push(format!(
                    "window {index} ({start_s:.3}–{end_s:.3} s) left out: {}",
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
        for (k, (index, start_s, end_s)) in self.pending.drain(..).enumerate() {
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
                index,
                start_s,
                end_s,
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
    let mut resampler = Converter::new(model.manifest.resampler, info.sample_rate, sr)
        .map_err(AnalyzeError::Model)?;
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
    };
    // buf holds the resampled samples from `buf_start` on.
    let mut buf: Vec<f32> = Vec::new();
    let mut buf_start = 0usize;
    let mut next = 0usize;
    let mut decoded = 0u64;
    let mut fresh = Vec::new();
    let secs = |n: usize| n as f64 / sr as f64;
    let drain = |buf: &mut Vec<f32>,
                 buf_start: &mut usize,
                 next: &mut usize,
                 batcher: &mut Batcher,
                 last: bool|
     -> Result<(), AnalyzeError> {
        loop {
            let start = hop_of(*next);
            let end_avail = *buf_start + buf.len();
            if start + w <= end_avail {
                let s = start - *buf_start;
                batcher.push(&buf[s..s + w], *next, secs(start), secs(start + w))?;
            } else if last && end_avail > start && end_avail - start >= min_len {
                let s = start - *buf_start;
                let mut padded = buf[s..].to_vec();
                if pad_last {
                    padded.resize(w, 0.0);
                }
                batcher.push(&padded, *next, secs(start), secs(end_avail))?;
            } else {
                break;
            }
            *next += 1;
        }
        // Drop what no later window needs.
        let keep_from = hop_of(*next).min(*buf_start + buf.len());
        if keep_from > *buf_start {
            buf.drain(..keep_from - *buf_start);
            *buf_start = keep_from;
        }
        Ok(())
    };
    let mut warnings = Vec::new();
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
        decoded += block.len() as u64;
        fresh.clear();
        resampler.push(block, &mut fresh);
        buf.extend_from_slice(&fresh);
        drain(&mut buf, &mut buf_start, &mut next, &mut batcher, false)?;
        on_audio(block.len() as f64 / info.sample_rate as f64);
    }
    fresh.clear();
    resampler.finish(&mut fresh);
    buf.extend_from_slice(&fresh);
    drain(&mut buf, &mut buf_start, &mut next, &mut batcher, true)?;
    batcher.flush()?;
    warnings.append(&mut batcher.warnings);
    let blank_windows = batcher.blank;
    let windows = batcher.out;
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
