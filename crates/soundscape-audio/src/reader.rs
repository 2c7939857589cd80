//! The reader and its error type: symphonia first, FFmpeg ([`crate::ffmpeg`]) for files
//! symphonia does not read.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{
    Decoder, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_VORBIS,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Facts read from the file header (and completed while decoding).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub sample_rate: u32,
    pub channels: u16,
    /// Frames per channel promised by the header, when it says.
    pub frames: Option<u64>,
    /// Bits per sample of the stored samples, when the codec has such a thing.
    pub bits_per_sample: Option<u32>,
    /// Short codec name (e.g. `pcm_s16le`, `flac`, `mp3`, `vorbis`).
    pub codec: String,
}

impl AudioInfo {
    /// Duration in seconds promised by the header.
    pub fn duration(&self) -> Option<f64> {
        self.frames.map(|f| f as f64 / self.sample_rate as f64)
    }
}

/// Why a file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: cannot open: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: empty file (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: not a recognised audio file ({detail})")]
    NotAudio { path: PathBuf, detail: String },
    #[error("{path}: unsupported audio: {detail}")]
    Unsupported { path: PathBuf, detail: String },
    #[error("{path}: corrupt audio data after {frames} frames: {detail}")]
    Corrupt {
        path: PathBuf,
        frames: u64,
        detail: String,
    },
    #[error("{path}: truncated: the header promises {expected} frames ({expected_s:.3} s) but the data holds {found} ({found_s:.3} s)")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
        expected_s: f64,
        found_s: f64,
    },
}

impl AudioError {
    /// Short machine-readable kind, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AudioError::Io { .. } => "io",
            AudioError::Empty { .. } => "empty",
            AudioError::NotAudio { .. } => "not-audio",
            AudioError::Unsupported { .. } => "unsupported",
            AudioError::Corrupt { .. } => "corrupt",
            AudioError::Truncated { .. } => "truncated",
        }
    }
}

/// A streaming decoder that yields mono `f32` blocks (the channels' mean), or, after
/// [`AudioReader::keep_channels`], the channels' samples interleaved.
pub struct AudioReader {
    path: PathBuf,
    backend: Backend,
    info: AudioInfo,
    mono: Vec<f32>,
    decoded: u64,
    done: bool,
    /// Hand out every channel, interleaved, instead of their mean.
    keep: bool,
}

enum Backend {
    Symphonia {
        format: Box<dyn FormatReader>,
        decoder: Box<dyn Decoder>,
        track_id: u32,
        /// Channels of a 16-bit little-endian PCM stream, converted here straight from the
        /// packet bytes (symphonia's generic sample loop costs more than the rest of the
        /// decoding).
        s16le_channels: Option<usize>,
    },
    Ffmpeg(crate::ffmpeg::FfmpegSource),
    Rifx(crate::rifx::RifxSource),
}

impl AudioReader {
    /// Opens and probes `path`: with symphonia, else with FFmpeg. Fails on empty, unreadable
    /// or non-audio files.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let with = |backend, info| AudioReader {
            path: path.to_path_buf(),
            backend,
            info,
            mono: Vec::new(),
            decoded: 0,
            done: false,
            keep: false,
        };
        match crate::rifx::open(path) {
            Ok(Some((source, info))) => return Ok(with(Backend::Rifx(source), info)),
            Ok(None) => {}
            Err(detail) => {
                return Err(AudioError::Unsupported {
                    path: path.to_path_buf(),
                    detail,
                })
            }
        }
        // Symphonia reads WAV, FLAC, MP3 and Ogg Vorbis (within 4e-8 of libvorbis's samples,
        // as FFmpeg's Vorbis decoder); Ogg Opus and what it refuses go to FFmpeg after it.
        // Other containers go to FFmpeg first: symphonia's probe could take a stray MPEG sync
        // word in them for an MP3 stream.
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        if !matches!(
            ext.as_deref(),
            None | Some("wav" | "wave" | "flac" | "mp3" | "ogg" | "oga")
        ) {
            if let Ok((source, info)) = crate::ffmpeg::open(path) {
                return Ok(with(Backend::Ffmpeg(source), info));
            }
        }
        match Self::open_symphonia(path) {
            Err(e @ (AudioError::NotAudio { .. } | AudioError::Unsupported { .. })) => {
                match crate::ffmpeg::open(path) {
                    Ok((source, info)) => Ok(with(Backend::Ffmpeg(source), info)),
                    Err(_) => Err(e),
                }
            }
            r => r,
        }
    }

    fn open_symphonia(path: &Path) -> Result<Self, AudioError> {
        let p = path.to_path_buf();
        let file = File::open(path).map_err(|e| AudioError::Io {
            path: p.clone(),
            source: e,
        })?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len == 0 {
            return Err(AudioError::Empty { path: p });
        }
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(&ext.to_ascii_lowercase());
        }
        let fmt_opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
            .map_err(|e| AudioError::NotAudio {
                path: p.clone(),
                detail: short(&e),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::NotAudio {
                path: p.clone(),
                detail: "no audio track".into(),
            })?;
        let params = &track.codec_params;
        let sample_rate =
            params
                .sample_rate
                .filter(|&r| r > 0)
                .ok_or_else(|| AudioError::Unsupported {
                    path: p.clone(),
                    detail: "no sample rate in header".into(),
                })?;
        let channels = params.channels.map(|c| c.count() as u16).unwrap_or(0);
        let codec = symphonia::default::get_codecs()
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| "unknown".into());
        let info = AudioInfo {
            sample_rate,
            channels,
            frames: params.n_frames,
            bits_per_sample: params.bits_per_sample,
            codec,
        };
        let track_id = track.id;
        let coded_bits = params.bits_per_coded_sample.or(params.bits_per_sample);
        let s16le_channels =
            (params.codec == CODEC_TYPE_PCM_S16LE && coded_bits == Some(16) && channels > 0)
                .then_some(channels as usize);
        if params.codec == CODEC_TYPE_VORBIS && channels > 2 {
            // symphonia 0.5 decodes Vorbis streams of more than two channels into other
            // sounds (libvorbis, libsndfile and FFmpeg agree among themselves): FFmpeg reads
            // them, and hands the channels out in WAV order as for every other format.
            return Err(AudioError::Unsupported {
                path: p,
                detail: format!("Vorbis with {channels} channels"),
            });
        }
        let decoder = symphonia::default::get_codecs()
            .make(params, &DecoderOptions::default())
            .map_err(|e| AudioError::Unsupported {
                path: p.clone(),
                detail: short(&e),
            })?;
        Ok(AudioReader {
            path: p,
            backend: Backend::Symphonia {
                format,
                decoder,
                track_id,
                s16le_channels,
            },
            info,
            mono: Vec::new(),
            decoded: 0,
            done: false,
            keep: false,
        })
    }

    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes `frames` as the stream's length instead of the header's (a second pass over a
    /// file whose decoded length is known to differ from its header).
    pub fn set_frames(&mut self, frames: u64) {
        self.info.frames = Some(frames);
    }

    /// From now on, blocks hold every channel's samples interleaved (frame by frame, channels
    /// in the file's order; a block's length is its frames times [`AudioInfo::channels`]),
    /// each converted exactly as for the mean.
    pub fn keep_channels(&mut self) {
        self.keep = true;
    }

    /// Frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.decoded
    }

    /// The next block of mono samples (or of interleaved channels, see
    /// [`AudioReader::keep_channels`]), or `None` at the end of the stream. At the end, a
    /// stream shorter than its header promised is an [`AudioError::Truncated`].
    pub fn next_block(&mut self) -> Result<Option<&[f32]>, AudioError> {
        if self.done {
            return Ok(None);
        }
        // The block decoders of the other paths.
        let keep = self.keep;
        let block = match &mut self.backend {
            Backend::Ffmpeg(source) => Some(source.next(&mut self.mono, keep)),
            Backend::Rifx(source) => Some(source.next(&mut self.mono, keep)),
            Backend::Symphonia { .. } => None,
        };
        if let Some(block) = block {
            return match block {
                Ok(Some(frames)) => {
                    self.decoded += frames as u64;
                    Ok(Some(&self.mono))
                }
                Ok(None) => {
                    self.finish()?;
                    Ok(None)
                }
                Err(e) => Err(self.corrupt(e)),
            };
        }
        let Backend::Symphonia {
            format,
            decoder,
            track_id,
            s16le_channels,
        } = &mut self.backend
        else {
            unreachable!("the other backends returned above")
        };
        let (track_id, s16le_channels) = (*track_id, *s16le_channels);
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.finish()?;
                    return Ok(None);
                }
                Err(SymError::ResetRequired) => {
                    return Err(self.corrupt("stream parameters change mid-file".into()))
                }
                Err(e) => return Err(self.corrupt(short(&e))),
            };
            if packet.track_id() != track_id {
                continue;
            }
            if let Some(ch) = s16le_channels {
                let data = packet.buf();
                let whole = !data.is_empty() && data.len() % (2 * ch) == 0;
                if whole && packet.trim_start == 0 && packet.trim_end == 0 {
                    let frames = data.len() / (2 * ch);
                    self.mono.clear();
                    self.mono.resize(frames * if keep { ch } else { 1 }, 0.0);
                    s16le_to_mono(data, if keep { 1 } else { ch }, &mut self.mono);
                    self.decoded += frames as u64;
                    return Ok(Some(&self.mono));
                }
            }
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                Err(e) => return Err(self.corrupt(short(&e))),
            };
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let channels = decoded.spec().channels.count();
            if self.info.channels == 0 {
                self.info.channels = channels as u16;
            }
            self.mono.clear();
            if keep {
                self.mono.resize(frames * channels, 0.0);
                interleave(&decoded, &mut self.mono);
            } else {
                self.mono.resize(frames, 0.0);
                downmix(&decoded, &mut self.mono);
            }
            self.decoded += frames as u64;
            return Ok(Some(&self.mono));
        }
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        self.done = true;
        match self.info.frames {
            Some(expected) if self.decoded < expected => {
                let sr = self.info.sample_rate as f64;
                Err(AudioError::Truncated {
                    path: self.path.clone(),
                    expected,
                    found: self.decoded,
                    expected_s: expected as f64 / sr,
                    found_s: self.decoded as f64 / sr,
                })
            }
            _ => {
                self.info.frames = Some(self.decoded);
                Ok(())
            }
        }
    }

    fn corrupt(&mut self, detail: String) -> AudioError {
        self.done = true;
        AudioError::Corrupt {
            path: self.path.clone(),
            frames: self.decoded,
            detail,
        }
    }
}

fn short(e: &SymError) -> String {
    match e {
        SymError::IoError(io) => format!("I/O error: {io}"),
        SymError::DecodeError(d) => format!("decode error: {d}"),
        SymError::SeekError(_) => "seek error".into(),
        SymError::Unsupported(u) => format!("unsupported: {u}"),
        SymError::LimitError(l) => format!("limit exceeded: {l}"),
        SymError::ResetRequired => "decoder reset required".into(),
    }
}

/// One stored sample (its bytes) to f32, chosen once per stream by the decoders that read raw
/// bytes.
pub(crate) type Convert = fn(&[u8]) -> f32;

/// Interleaved frames of `width`-byte samples to mono, with exactly the arithmetic of
/// [`downmix`]: each sample converted by `sample`, channels added in order in f32, then
/// divided by their number. Shared by every decoder that hands out raw interleaved bytes;
/// with `channels` 1 it converts every sample, which is how interleaved channels are kept.
#[inline(always)]
pub(crate) fn interleaved_to_mono(
    data: &[u8],
    channels: usize,
    width: usize,
    sample: impl Fn(&[u8]) -> f32,
    out: &mut [f32],
) {
    if channels == 1 {
        for (o, b) in out.iter_mut().zip(data.chunks_exact(width)) {
            *o = sample(b);
        }
        return;
    }
    let n = channels as f32;
    for (o, frame) in out.iter_mut().zip(data.chunks_exact(width * channels)) {
        let mut acc = sample(frame);
        for c in 1..channels {
            acc += sample(&frame[width * c..]);
        }
        *o = acc / n;
    }
}

/// Interleaved 16-bit little-endian frames to mono (`s / 32768`).
fn s16le_to_mono(data: &[u8], channels: usize, out: &mut [f32]) {
    interleaved_to_mono(
        data,
        channels,
        2,
        |b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0,
        out,
    );
}

/// Calls `$body!(buffer, conversion)` with the sample conversion of the buffer's type:
/// scaled to [-1, 1) as libsndfile does.
macro_rules! with_conversion {
    ($buf:expr, $body:ident) => {
        match $buf {
            AudioBufferRef::U8(b) => $body!(b, |s: u8| (s as f32 - 128.0) / 128.0),
            AudioBufferRef::S8(b) => $body!(b, |s: i8| s as f32 / 128.0),
            AudioBufferRef::U16(b) => $body!(b, |s: u16| (s as f32 - 32768.0) / 32768.0),
            AudioBufferRef::S16(b) => $body!(b, |s: i16| s as f32 / 32768.0),
            AudioBufferRef::U24(b) => $body!(b, |s: symphonia::core::sample::u24| {
                (s.inner() as f32 - 8388608.0) / 8388608.0
            }),
            AudioBufferRef::S24(b) => {
                $body!(b, |s: symphonia::core::sample::i24| s.inner() as f32
                    / 8388608.0)
            }
            AudioBufferRef::U32(b) => {
                $body!(b, |s: u32| ((s as f64 - 2147483648.0) / 2147483648.0)
                    as f32)
            }
            AudioBufferRef::S32(b) => $body!(b, |s: i32| s as f32 / 2147483648.0),
            AudioBufferRef::F32(b) => $body!(b, |s: f32| s),
            AudioBufferRef::F64(b) => $body!(b, |s: f64| s as f32),
        }
    };
}

/// Averages the channels in f32 (channel 0, the others added in order, then divided by
/// their number).
fn downmix(buf: &AudioBufferRef<'_>, out: &mut [f32]) {
    macro_rules! mix {
        ($b:expr, $conv:expr) => {{
            let b = $b;
            let nch = b.spec().channels.count();
            let conv = $conv;
            for (o, &s) in out.iter_mut().zip(b.chan(0)) {
                *o = conv(s);
            }
            if nch > 1 {
                for c in 1..nch {
                    for (o, &s) in out.iter_mut().zip(b.chan(c)) {
                        *o += conv(s);
                    }
                }
                let n = nch as f32;
                for o in out.iter_mut() {
                    *o /= n;
                }
            }
        }};
    }
    with_conversion!(buf, mix)
}

/// The channels' samples interleaved, each converted as [`downmix`] converts it.
fn interleave(buf: &AudioBufferRef<'_>, out: &mut [f32]) {
    macro_rules! weave {
        ($b:expr, $conv:expr) => {{
            let b = $b;
            let nch = b.spec().channels.count();
            let conv = $conv;
            for c in 0..nch {
                for (o, &s) in out[c..].iter_mut().step_by(nch).zip(b.chan(c)) {
                    *o = conv(s);
                }
            }
        }};
    }
    with_conversion!(buf, weave)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(path: &Path, fast: bool) -> Vec<f32> {
        let mut r = AudioReader::open(path).unwrap();
        let Backend::Symphonia { s16le_channels, .. } = &mut r.backend else {
            panic!("a 16-bit WAV goes through symphonia")
        };
        assert!(s16le_channels.is_some());
        if !fast {
            *s16le_channels = None;
        }
        let mut out = Vec::new();
        while let Some(b) = r.next_block().unwrap() {
            out.extend_from_slice(b);
        }
        out
    }

    #[test]
    fn the_int16_shortcut_gives_the_decoders_samples_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = 12345u32;
        for channels in [1u16, 2, 3, 4] {
            let frames = 10_007;
            let samples: Vec<i16> = (0..frames * channels as usize)
                .map(|i| {
                    state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                    match i % 97 {
                        0 => i16::MIN,
                        1 => i16::MAX,
                        _ => (state >> 16) as i16,
                    }
                })
                .collect();
            let path = dir.path().join(format!("x{channels}.wav"));
            std::fs::write(
                &path,
                soundscape_testkit::wav_channels(48_000, channels, &samples, None),
            )
            .unwrap();
            let (fast, slow) = (decode(&path, true), decode(&path, false));
            assert_eq!(fast.len(), frames);
            let same = fast
                .iter()
                .zip(&slow)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && fast.len() == slow.len(), "{channels} channels");
        }
    }
}
