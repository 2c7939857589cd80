//! The second decoder: FFmpeg's libavformat and libavcodec, for what symphonia does not read
//! (Ogg Opus and `.opus`, RF64, AIFF, WAVE_FORMAT_EXTENSIBLE variants, Wave64, CAF, ...). Samples
//! come out as FFmpeg decodes them and are scaled as the symphonia path scales them: integers
//! divided by 2^(bits-1) of their container type (FFmpeg keeps 24-bit samples left-aligned in
//! 32 bits, so this is the same as dividing the 24-bit value by 2^23), unsigned 8-bit centred
//! first, channels averaged in `f32`.

use std::path::Path;
use std::sync::Once;

use ff::{codec, decoder, format, frame, media};
use ffmpeg_next as ff;

use crate::reader::{AudioInfo, Convert};

/// An open FFmpeg audio stream.
pub(crate) struct FfmpegSource {
    input: format::context::Input,
    decoder: decoder::Audio,
    stream: usize,
    frame: frame::Audio,
    eof_sent: bool,
}

impl FfmpegSource {
    /// Sample rate and channel count of the last frame [`FfmpegSource::next`] returned.
    pub(crate) fn frame_layout(&self) -> (u32, usize) {
        (self.frame.rate(), self.frame.channels() as usize)
    }

    /// The decoder's sample format: whether it delivers integers and of what width, or floats.
    pub(crate) fn sample_format(&self) -> format::Sample {
        self.decoder.format()
    }
}

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// Opens the best audio stream of `path`.
pub(crate) fn open(path: &Path) -> Result<(FfmpegSource, AudioInfo), String> {
    init();
    let input = format::input(path).map_err(|e| format!("FFmpeg: {e}"))?;
    from_input(input)
}

/// Opens `url` (anything libavformat reads: a path, `file:`, `http(s)://`, a FIFO) with
/// format `options` and an interrupt that FFmpeg polls while it waits for data: returning
/// true aborts the open or the blocked read (then an error).
pub(crate) fn open_url(
    url: &str,
    options: &[(&str, &str)],
    interrupt: impl FnMut() -> bool + Send + 'static,
) -> Result<(FfmpegSource, AudioInfo), String> {
    init();
    let mut dict = ff::Dictionary::new();
    for (k, v) in options {
        dict.set(k, v);
    }
    let input = format::input_with_interrupt_and_dictionary(url, interrupt, dict)
        .map_err(|e| format!("FFmpeg: {e}"))?;
    from_input(input)
}

/// The best audio stream of an open input, with its decoder.
fn from_input(input: format::context::Input) -> Result<(FfmpegSource, AudioInfo), String> {
    let stream = input
        .streams()
        .best(media::Type::Audio)
        .ok_or("FFmpeg: no audio stream")?;
    let index = stream.index();
    let ctx = codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| format!("FFmpeg: {e}"))?;
    let decoder = ctx
        .decoder()
        .audio()
        .map_err(|e| format!("FFmpeg decoder: {e}"))?;
    let rate = decoder.rate();
    if rate == 0 {
        return Err("FFmpeg: no sample rate".into());
    }
    let codec = decoder
        .codec()
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| "unknown".into());
    // A frame count only where the container states it exactly (PCM in WAV, RF64, AIFF, ...);
    // otherwise the caller counts by decoding.
    let frames = (stream.frames() > 0 && codec.starts_with("pcm_")).then(|| stream.frames() as u64);
    let info = AudioInfo {
        sample_rate: rate,
        channels: decoder.channels(),
        frames,
        bits_per_sample: None,
        codec,
    };
    Ok((
        FfmpegSource {
            input,
            decoder,
            stream: index,
            frame: frame::Audio::empty(),
            eof_sent: false,
        },
        info,
    ))
}

impl FfmpegSource {
    /// Decodes the next frame into `mono` (interleaved channels if `keep`); its frames,
    /// `None` at the end of the stream.
    pub(crate) fn next(
        &mut self,
        mono: &mut Vec<f32>,
        keep: bool,
    ) -> Result<Option<usize>, String> {
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    if self.frame.samples() == 0 {
                        continue;
                    }
                    to_mono(&self.frame, mono, keep)?;
                    return Ok(Some(self.frame.samples()));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => return Err(e.to_string()),
            }
            if self.eof_sent {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            loop {
                match packet.read(&mut self.input) {
                    Ok(()) if packet.stream() == self.stream => {
                        self.decoder
                            .send_packet(&packet)
                            .map_err(|e| e.to_string())?;
                        break;
                    }
                    Ok(()) => continue,
                    Err(ff::Error::Eof) => {
                        self.decoder.send_eof().map_err(|e| e.to_string())?;
                        self.eof_sent = true;
                        break;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }
}

/// One decoded frame, averaged to mono `f32` with the arithmetic of the other decoders, or
/// (`keep`) its channels interleaved.
fn to_mono(f: &frame::Audio, mono: &mut Vec<f32>, keep: bool) -> Result<(), String> {
    use format::sample::Type;
    use format::Sample;
    let n = f.samples();
    let ch = f.channels() as usize;
    mono.clear();
    mono.resize(if keep { n * ch } else { n }, 0.0);
    // One native-endian sample to f32, chosen once per frame.
    let (width, planar, sample): (usize, Type, Convert) = match f.format() {
        Sample::U8(t) => (1, t, |b| (b[0] as f32 - 128.0) / 128.0),
        Sample::I16(t) => (2, t, |b| i16::from_ne_bytes([b[0], b[1]]) as f32 / 32768.0),
        Sample::I32(t) => (4, t, |b| {
            i32::from_ne_bytes(b[..4].try_into().unwrap()) as f32 / 2_147_483_648.0
        }),
        Sample::I64(t) => (8, t, |b| {
            (i64::from_ne_bytes(b[..8].try_into().unwrap()) as f64 / 9_223_372_036_854_775_808.0)
                as f32
        }),
        Sample::F32(t) => (4, t, |b| f32::from_ne_bytes(b[..4].try_into().unwrap())),
        Sample::F64(t) => (8, t, |b| {
            f64::from_ne_bytes(b[..8].try_into().unwrap()) as f32
        }),
        Sample::None => return Err("FFmpeg gave frames without a sample format".into()),
    };
    if planar == Type::Packed || ch == 1 {
        let mixed = if keep { 1 } else { ch };
        crate::reader::interleaved_to_mono(
            &f.data(0)[..n * ch * width],
            mixed,
            width,
            sample,
            mono,
        );
        return Ok(());
    }
    if keep {
        for c in 0..ch {
            let plane = f.data(c).chunks_exact(width);
            for (m, b) in mono[c..].iter_mut().step_by(ch).zip(plane) {
                *m = sample(b);
            }
        }
        return Ok(());
    }
    // Planar: channel 0, the others added in order, then divided by their number.
    for (m, b) in mono.iter_mut().zip(f.data(0).chunks_exact(width)) {
        *m = sample(b);
    }
    for c in 1..ch {
        for (m, b) in mono.iter_mut().zip(f.data(c).chunks_exact(width)) {
            *m += sample(b);
        }
    }
    let k = ch as f32;
    mono.iter_mut().for_each(|m| *m /= k);
    Ok(())
}
