//! One mono FLAC file being written, through FFmpeg's FLAC encoder and muxer: samples go in as
//! `f32` and are quantised to 16 or 24 bits (round to nearest, clipped); the muxer writes the
//! exact sample count and the MD5 of the audio into the header when the file is finished.

use std::path::Path;
use std::sync::Once;

use ff::{codec, encoder, format, frame, ChannelLayout, Packet, Rational};
use ffmpeg_next as ff;

/// A FLAC file in the making.
pub struct FlacWriter {
    octx: format::context::Output,
    enc: encoder::Audio,
    time_base: Rational,
    frame_size: usize,
    bits: u32,
    rate: u32,
    /// Quantised samples waiting for a whole encoder frame.
    pending: Vec<i32>,
    pts: i64,
    samples: u64,
}

fn ff_err(what: &'static str) -> impl Fn(ff::Error) -> String {
    move |e| format!("{what}: {e}")
}

fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

impl FlacWriter {
    /// Creates `path` (written as FLAC whatever its extension) for mono audio at `rate`,
    /// stored with `bits` (16 or 24) per sample, at FLAC compression `level` (0-12; FFmpeg's
    /// default is 5).
    pub fn create(path: &Path, rate: u32, bits: u32, level: u32) -> Result<FlacWriter, String> {
        init();
        assert!(bits == 16 || bits == 24, "FLAC chunks hold 16 or 24 bits");
        let mut octx = format::output_as(path, "flac").map_err(ff_err("creating the FLAC file"))?;
        let flac = encoder::find(codec::Id::FLAC).ok_or("FFmpeg has no FLAC encoder")?;
        let time_base = Rational(1, rate as i32);
        let mut st = octx.add_stream(flac).map_err(ff_err("FLAC stream"))?;
        let mut e = codec::context::Context::new_with_codec(flac)
            .encoder()
            .audio()
            .map_err(ff_err("FLAC encoder"))?;
        e.set_rate(rate as i32);
        e.set_channel_layout(ChannelLayout::MONO);
        // FFmpeg's FLAC encoder stores the top 24 bits of 32-bit input.
        e.set_format(if bits == 16 {
            format::Sample::I16(format::sample::Type::Packed)
        } else {
            format::Sample::I32(format::sample::Type::Packed)
        });
        e.set_time_base(time_base);
        e.set_compression(Some(level as usize));
        let enc = e
            .open_as(flac)
            .map_err(ff_err("opening the FLAC encoder"))?;
        st.set_parameters(&enc);
        st.set_time_base(time_base);
        octx.write_header()
            .map_err(ff_err("writing the FLAC header"))?;
        let frame_size = (enc.frame_size() as usize).max(1);
        Ok(FlacWriter {
            octx,
            enc,
            time_base,
            frame_size,
            bits,
            rate,
            pending: Vec::with_capacity(frame_size * 2),
            pts: 0,
            samples: 0,
        })
    }

    /// Samples written so far (pending ones included).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Appends samples in [-1, 1) (beyond is clipped).
    pub fn push(&mut self, samples: &[f32]) -> Result<(), String> {
        let scale = (1u32 << (self.bits - 1)) as f32;
        let (lo, hi) = (-scale, scale - 1.0);
        self.pending.extend(
            samples
                .iter()
                .map(|&x| (x * scale).round().clamp(lo, hi) as i32),
        );
        self.samples += samples.len() as u64;
        let mut done = 0;
        while self.pending.len() - done >= self.frame_size {
            self.encode(done, self.frame_size)?;
            done += self.frame_size;
        }
        self.pending.drain(..done);
        Ok(())
    }

    /// Encodes `n` pending samples from `from`.
    fn encode(&mut self, from: usize, n: usize) -> Result<(), String> {
        let values = &self.pending[from..from + n];
        let mut f = if self.bits == 16 {
            let mut f = frame::Audio::new(
                format::Sample::I16(format::sample::Type::Packed),
                n,
                ChannelLayout::MONO,
            );
            for (d, &v) in f.plane_mut::<i16>(0)[..n].iter_mut().zip(values) {
                *d = v as i16;
            }
            f
        } else {
            let mut f = frame::Audio::new(
                format::Sample::I32(format::sample::Type::Packed),
                n,
                ChannelLayout::MONO,
            );
            for (d, &v) in f.plane_mut::<i32>(0)[..n].iter_mut().zip(values) {
                *d = v << 8;
            }
            f
        };
        f.set_rate(self.rate);
        f.set_pts(Some(self.pts));
        self.pts += n as i64;
        self.enc.send_frame(&f).map_err(ff_err("encoding FLAC"))?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), String> {
        let mut p = Packet::empty();
        while self.enc.receive_packet(&mut p).is_ok() {
            p.set_stream(0);
            p.rescale_ts(self.time_base, self.octx.stream(0).unwrap().time_base());
            p.write_interleaved(&mut self.octx)
                .map_err(ff_err("writing FLAC"))?;
        }
        Ok(())
    }

    /// Encodes what is pending and finishes the file; returns its sample count.
    pub fn finish(mut self) -> Result<u64, String> {
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.encode(0, n)?;
            self.pending.clear();
        }
        self.enc.send_eof().map_err(ff_err("finishing FLAC"))?;
        self.drain()?;
        self.octx
            .write_trailer()
            .map_err(ff_err("finishing the FLAC file"))?;
        Ok(self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exactly_what_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        for (bits, rate, n) in [
            (16, 48_000, 100_000),
            (24, 96_000, 4_608 * 3),
            (16, 8_000, 1),
        ] {
            let path = dir.path().join(format!("t{bits}_{rate}.flac.part"));
            let signal: Vec<f32> = (0..n)
                .map(|i| 0.5 * (i as f32 * 0.01).sin() + if i % 7 == 0 { 2.0 } else { 0.0 })
                .collect();
            let mut w = FlacWriter::create(&path, rate, bits, 5).unwrap();
            for block in signal.chunks(1234) {
                w.push(block).unwrap();
            }
            assert_eq!(w.finish().unwrap(), n as u64);
            let flac = dir.path().join(format!("t{bits}_{rate}.flac"));
            std::fs::rename(&path, &flac).unwrap();
            let (info, back) = soundscape_audio::read_mono(&flac).unwrap();
            assert_eq!((info.sample_rate, info.channels), (rate, 1));
            assert_eq!(info.bits_per_sample, Some(bits));
            assert_eq!(back.len(), n);
            let scale = (1u32 << (bits - 1)) as f32;
            for (i, (&a, &b)) in signal.iter().zip(&back).enumerate() {
                let want = (a * scale).round().clamp(-scale, scale - 1.0) / scale;
                assert_eq!(b, want, "sample {i}");
            }
        }
    }
}
