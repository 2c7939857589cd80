//! The scrolling spectrogram video of a recording (docs/method.md#video, `audio2video`, with the call bug of
//! the full pipeline gone): a 3 s window of the dB spectrogram scrolls past a fixed red cursor
//! at the playback position, 500x800 pixels at 60 fps, H.264 (libx264) with the recording's own
//! audio as AAC, in MP4.
//!
//! Frames are written straight into YUV 4:2:0 planes: the axes and labels are drawn once
//! (plotters) into a template, each STFT column is turned into a column of luma values once,
//! and a frame is the template with the visible columns copied in and the cursor drawn. Columns
//! sit on a fixed pixel grid, so the picture moves by whole pixels between frames. The
//! recording is streamed twice (once for the loudest value that sets the 80 dB range, once to
//! encode), so memory stays small for recordings of any length. Outside the recording the
//! window is dark; the scale is the spectrogram pictures' (loud is light).
//!
//! A picture shown for several frames (24 pictures per second at 60 fps, as the original) is
//! encoded once and lasts until the next one: the frames keep their places on the 60 fps grid
//! (`r_frame_rate` 60/1, each picture starts and ends where it would at a constant rate) but
//! x264 does not spend a whole frame's work on each repeat. `repeat_frames` asks for every frame
//! instead (constant frame rate, for editors that need it).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Once;

use ffmpeg::{codec, encoder, format, frame, ChannelLayout, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use plotters::prelude::*;
use soundscape_engine::analyze::stream_spectrogram;

use crate::levels::{level, loudest, row_peak};

/// How the video looks and is encoded.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub size: (u32, u32),
    pub fps: u32,
    /// Distinct pictures per second (each shown for `fps / images_per_second` frames); the
    /// original made 24 and showed each for 2-3 frames at 60 fps. Equal to `fps` for a scroll
    /// that moves on every frame.
    pub images_per_second: u32,
    /// Seconds of spectrogram in view.
    pub window: f64,
    pub n_fft: usize,
    pub hop: usize,
    pub top_db: f32,
    /// x264 preset.
    pub preset: String,
    pub quality: VideoQuality,
    /// Extra libx264 settings (`key=value:key=value`).
    pub x264_params: Option<String>,
    /// Encoder threads (0: as many as x264 likes).
    pub threads: usize,
    /// Encode every frame, repeated pictures too (constant frame rate).
    pub repeat_frames: bool,
    /// FFmpeg AAC coder: `fast` (a fraction of the time of the default `twoloop`, plenty for
    /// 128 kb/s mono of field recordings) or `twoloop`.
    pub aac_coder: String,
    /// How ultrasonic recordings are made audible.
    pub ultrasonic: Ultrasonic,
}

/// Making ultrasound audible, as bat workers do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ultrasonic {
    /// Time expansion by this factor for recordings sampled above 96 kHz; as recorded below.
    Auto(u32),
    /// Time expansion by this factor whatever the rate (1: as recorded).
    TimeExpansion(u32),
}

impl Ultrasonic {
    /// The expansion factor for a recording at `rate`.
    pub fn factor(self, rate: u32) -> u32 {
        match self {
            Ultrasonic::Auto(k) if rate > 96_000 => k.max(1),
            Ultrasonic::Auto(_) => 1,
            Ultrasonic::TimeExpansion(k) => k.max(1),
        }
    }
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            size: (500, 800),
            fps: 60,
            images_per_second: 24,
            window: 3.0,
            n_fft: 1024,
            hop: 512,
            top_db: 80.0,
            preset: "ultrafast".into(),
            quality: VideoQuality::Qp(23),
            x264_params: None,
            threads: 0,
            repeat_frames: false,
            aac_coder: "fast".into(),
            ultrasonic: Ultrasonic::Auto(10),
        }
    }
}

/// How x264 chooses its quantizers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoQuality {
    /// Constant quantizer: no look-ahead analysis, the fastest. With `ultrafast`, 23 looks
    /// like `veryfast` at CRF 23 (about 41 dB PSNR) in files about 1.7x larger.
    Qp(u32),
    /// Constant rate factor: x264 analyses each frame at half size first to spread the bits.
    Crf(u32),
}

impl VideoQuality {
    /// The rate factor when one is given, else the constant quantizer (how the command lines
    /// take them).
    pub fn from_flags(qp: u32, crf: Option<u32>) -> Self {
        crf.map_or(VideoQuality::Qp(qp), VideoQuality::Crf)
    }
}

impl std::fmt::Display for VideoQuality {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VideoQuality::Qp(q) => write!(f, "qp {q}"),
            VideoQuality::Crf(q) => write!(f, "crf {q}"),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub duration: f64,
    /// Frames at the configured rate.
    pub frames: u64,
    /// Pictures encoded (`frames` when repeats are encoded too).
    pub encoded: u64,
    /// Sample rate of the soundtrack: the recording's, or the AAC rate it was resampled to.
    pub audio_rate: u32,
    /// Time expansion of picture and sound (1: as recorded; 10: ten times slower, the sound
    /// an octave band of ultrasound brought down by a factor of ten).
    pub time_expansion: u32,
}

/// The sample rates an AAC stream can carry (MPEG-4 sampling frequency indices).
pub const AAC_RATES: [u32; 13] = [
    7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000,
];

/// The soundtrack rate for a recording rate: the same when AAC carries it, else the next
/// AAC rate above it, and 48 kHz above 96 kHz (an ultrasonic band is silent to the ear at its
/// own speed either way).
pub fn soundtrack_rate(rate: u32) -> u32 {
    if rate > 96_000 {
        return 48_000;
    }
    AAC_RATES
        .iter()
        .copied()
        .find(|&r| r >= rate)
        .unwrap_or(96_000)
}

/// The recording's samples at the soundtrack rate, through FFmpeg's swresample (its default
/// windowed-sinc filter: 32 taps per phase, 1024 phases, cut-off 0.97 of the lower Nyquist
/// frequency), streamed block by block.
struct Soundtrack {
    swr: Option<ffmpeg::software::resampling::Context>,
    in_rate: u32,
    out_rate: u32,
}

impl Soundtrack {
    fn new(in_rate: u32, out_rate: u32) -> Result<Soundtrack, String> {
        let mono = format::Sample::F32(format::sample::Type::Packed);
        let swr = (in_rate != out_rate)
            .then(|| {
                ffmpeg::software::resampling::Context::get(
                    mono,
                    ChannelLayout::MONO,
                    in_rate,
                    mono,
                    ChannelLayout::MONO,
                    out_rate,
                )
                .map_err(ff("opening the soundtrack resampler"))
            })
            .transpose()?;
        Ok(Soundtrack {
            swr,
            in_rate,
            out_rate,
        })
    }

    fn output(rate: u32, capacity: usize) -> frame::Audio {
        let mut out = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Packed),
            capacity,
            ChannelLayout::MONO,
        );
        out.set_rate(rate);
        out
    }

    /// Appends `samples`, converted, to `to`.
    fn convert(&mut self, samples: &[f32], to: &mut Vec<f32>) -> Result<(), String> {
        let Some(swr) = self.swr.as_mut() else {
            to.extend_from_slice(samples);
            return Ok(());
        };
        if samples.is_empty() {
            return Ok(());
        }
        let mut input = frame::Audio::new(
            format::Sample::F32(format::sample::Type::Packed),
            samples.len(),
            ChannelLayout::MONO,
        );
        input.set_rate(self.in_rate);
        input.plane_mut::<f32>(0)[..samples.len()].copy_from_slice(samples);
        let capacity = samples.len() * self.out_rate as usize / self.in_rate as usize + 256;
        let mut out = Soundtrack::output(self.out_rate, capacity);
        swr.run(&input, &mut out)
            .map_err(ff("resampling the soundtrack"))?;
        to.extend_from_slice(&out.plane::<f32>(0)[..out.samples()]);
        Ok(())
    }

    /// Appends what the resampler still holds.
    fn finish(&mut self, to: &mut Vec<f32>) -> Result<(), String> {
        let Some(mut swr) = self.swr.take() else {
            return Ok(());
        };
        loop {
            let mut out = Soundtrack::output(self.out_rate, 4096);
            swr.flush(&mut out)
                .map_err(ff("resampling the soundtrack"))?;
            if out.samples() == 0 {
                return Ok(());
            }
            to.extend_from_slice(&out.plane::<f32>(0)[..out.samples()]);
        }
    }
}

fn ff(what: &str) -> impl Fn(ffmpeg::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn init() -> Result<(), String> {
    static ONCE: Once = Once::new();
    let mut r = Ok(());
    ONCE.call_once(|| {
        r = ffmpeg::init().map_err(|e| format!("FFmpeg: {e}"));
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    });
    r
}

/// BT.601 limited-range YUV of an RGB colour.
fn yuv(r: u8, g: u8, b: u8) -> (u8, u8, u8) {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b;
    let u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b;
    let v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b;
    (y.round() as u8, u.round() as u8, v.round() as u8)
}

/// The static picture: planes Y (w*h), U and V (w/2*h/2), and the spectrogram area.
struct Template {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
    area: (std::ops::Range<i32>, std::ops::Range<i32>),
}

fn template(cfg: &VideoConfig, title: &str, max_khz: f64) -> Result<Template, String> {
    soundscape_plots::render::fonts();
    let (w, h) = cfg.size;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    let area;
    {
        let fg = RGBColor(0xDD, 0xDD, 0xDD);
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&BLACK).map_err(|e| e.to_string())?;
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16).into_font().color(&fg))
            .margin(12)
            .y_label_area_size(58)
            .x_label_area_size(8)
            .build_cartesian_2d(0f64..cfg.window, 0f64..max_khz)
            .map_err(|e| e.to_string())?;
        c.configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(10)
            .y_desc("Frequency (kHz)")
            .label_style(("sans-serif", 14).into_font().color(&fg))
            .axis_desc_style(("sans-serif", 16).into_font().color(&fg))
            .axis_style(fg)
            .draw()
            .map_err(|e| e.to_string())?;
        area = c.plotting_area().get_pixel_range();
        root.present().map_err(|e| e.to_string())?;
    }
    let (w, h) = (w as usize, h as usize);
    let mut t = Template {
        y: vec![16; w * h],
        u: vec![128; w / 2 * (h / 2)],
        v: vec![128; w / 2 * (h / 2)],
        area,
    };
    for py in 0..h {
        for px in 0..w {
            let i = (py * w + px) * 3;
            let (y, u, v) = yuv(rgb[i], rgb[i + 1], rgb[i + 2]);
            t.y[py * w + px] = y;
            if py % 2 == 0 && px % 2 == 0 {
                t.u[py / 2 * (w / 2) + px / 2] = u;
                t.v[py / 2 * (w / 2) + px / 2] = v;
            }
        }
    }
    Ok(t)
}

/// Encoders, muxer and the frames in flight.
struct Writer {
    octx: format::context::Output,
    video: encoder::Video,
    audio: encoder::Audio,
    video_tb: Rational,
    audio_tb: Rational,
    audio_fifo: Vec<f32>,
    audio_pts: i64,
    audio_frame_size: usize,
    /// Soundtrack sample rate.
    rate: u32,
    soundtrack: Soundtrack,
    failure: Option<String>,
}

impl Writer {
    /// Takes the recording's samples into the soundtrack.
    fn take_samples(&mut self, block: &[f32]) {
        if self.failure.is_none() {
            if let Err(e) = self.soundtrack.convert(block, &mut self.audio_fifo) {
                self.failure = Some(e);
            }
        }
    }

    fn drain(&mut self) -> Result<(), String> {
        let mut p = Packet::empty();
        while self.video.receive_packet(&mut p).is_ok() {
            p.set_stream(0);
            p.rescale_ts(self.video_tb, self.octx.stream(0).unwrap().time_base());
            p.write_interleaved(&mut self.octx)
                .map_err(ff("writing video"))?;
        }
        while self.audio.receive_packet(&mut p).is_ok() {
            p.set_stream(1);
            p.rescale_ts(self.audio_tb, self.octx.stream(1).unwrap().time_base());
            p.write_interleaved(&mut self.octx)
                .map_err(ff("writing audio"))?;
        }
        Ok(())
    }

    /// Encodes whole audio frames from the FIFO (and the rest when `last`).
    fn push_audio(&mut self, last: bool) -> Result<(), String> {
        let n = self.audio_frame_size;
        while self.audio_fifo.len() >= n || (last && !self.audio_fifo.is_empty()) {
            let take = n.min(self.audio_fifo.len());
            let mut f = frame::Audio::new(
                format::Sample::F32(format::sample::Type::Planar),
                take,
                ChannelLayout::MONO,
            );
            f.set_rate(self.rate);
            f.plane_mut::<f32>(0)[..take].copy_from_slice(&self.audio_fifo[..take]);
            f.set_pts(Some(self.audio_pts));
            self.audio_pts += take as i64;
            self.audio_fifo.drain(..take);
            self.audio.send_frame(&f).map_err(ff("encoding audio"))?;
            self.drain()?;
        }
        Ok(())
    }
}

/// Writes the video of `audio` to `mp4` (atomically: a temporary name, then a rename; a
/// failed write leaves nothing behind).
pub fn spectrogram_video(
    audio: &Path,
    mp4: &Path,
    title: &str,
    cfg: &VideoConfig,
) -> Result<VideoInfo, String> {
    let tmp = mp4.with_extension("mp4.part");
    let made = write_video(audio, mp4, &tmp, title, cfg);
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made
}

fn write_video(
    audio: &Path,
    mp4: &Path,
    tmp: &Path,
    title: &str,
    cfg: &VideoConfig,
) -> Result<VideoInfo, String> {
    init()?;
    let (w, h) = cfg.size;
    if w % 2 == 1 || h % 2 == 1 {
        return Err(format!("video size {w}x{h} must be even"));
    }
    // Pass 1: the loudest value sets the range.
    let (info, n, top_db) = loudest(audio, cfg.n_fft, cfg.hop)?;
    let rate = info.sample_rate;
    let duration = n as f64 / rate as f64;
    // Time expansion: the samples are played `k` times slower (at rate / k), and the picture
    // scrolls `k` times slower to stay with them.
    let k = cfg.ultrasonic.factor(rate);
    let title = if k > 1 {
        format!("{title} | time expansion x{k}")
    } else {
        title.to_string()
    };
    let tpl = template(cfg, &title, rate as f64 / 2000.0)?;

    let mut octx = format::output_as(tmp, "mp4").map_err(ff("creating the MP4"))?;
    let global = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
    let x264 = encoder::find_by_name("libx264").ok_or("FFmpeg has no libx264 encoder")?;
    let aac = encoder::find(codec::Id::AAC).ok_or("FFmpeg has no AAC encoder")?;
    let video_tb = Rational(1, cfg.fps as i32);
    let played_rate = (rate / k).max(1);
    let audio_rate = soundtrack_rate(played_rate);
    let audio_tb = Rational(1, audio_rate as i32);
    let video = {
        let mut st = octx.add_stream(x264).map_err(ff("video stream"))?;
        let mut e = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(ff("video encoder"))?;
        e.set_width(w);
        e.set_height(h);
        e.set_format(format::Pixel::YUV420P);
        e.set_time_base(video_tb);
        e.set_frame_rate(Some(Rational(cfg.fps as i32, 1)));
        if global {
            e.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        opts.set("preset", &cfg.preset);
        match cfg.quality {
            VideoQuality::Qp(q) => opts.set("qp", &q.to_string()),
            VideoQuality::Crf(q) => opts.set("crf", &q.to_string()),
        }
        if cfg.threads > 0 {
            opts.set("threads", &cfg.threads.to_string());
        }
        if let Some(p) = &cfg.x264_params {
            opts.set("x264-params", p);
        }
        let e = e.open_with(opts).map_err(ff("opening libx264"))?;
        st.set_parameters(&e);
        st.set_time_base(video_tb);
        e
    };
    let audio_enc = {
        let mut st = octx.add_stream(aac).map_err(ff("audio stream"))?;
        let mut e = codec::context::Context::new_with_codec(aac)
            .encoder()
            .audio()
            .map_err(ff("audio encoder"))?;
        e.set_rate(audio_rate as i32);
        e.set_channel_layout(ChannelLayout::MONO);
        e.set_format(format::Sample::F32(format::sample::Type::Planar));
        e.set_bit_rate(128_000);
        e.set_time_base(audio_tb);
        if global {
            e.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        opts.set("aac_coder", &cfg.aac_coder);
        let e = e
            .open_as_with(aac, opts)
            .map_err(ff("opening the AAC encoder"))?;
        st.set_parameters(&e);
        st.set_time_base(audio_tb);
        e
    };
    octx.write_header().map_err(ff("writing the MP4 header"))?;
    let frame_size = (audio_enc.frame_size() as usize).max(1);
    let writer = RefCell::new(Writer {
        octx,
        video,
        audio: audio_enc,
        video_tb,
        audio_tb,
        audio_fifo: Vec::new(),
        audio_pts: 0,
        audio_frame_size: frame_size,
        rate: audio_rate,
        soundtrack: Soundtrack::new(played_rate, audio_rate)?,
        failure: None,
    });

    // Pass 2: render and encode.
    let (xr, yr) = tpl.area.clone();
    let (aw, ah) = ((xr.end - xr.start) as usize, (yr.end - yr.start) as usize);
    let total_cols = 1 + n / cfg.hop;
    let n_frames = (duration * k as f64 * cfg.fps as f64).round().max(1.0) as u64;
    let cols_per_s = rate as f64 / cfg.hop as f64;
    let dark = 16u8;
    let (cy, cu, cv) = yuv(230, 30, 30);
    let cursor_x = xr.start as usize + aw / 2;
    // Luma columns of the STFT frames [base, base + ring.len()).
    let ring: RefCell<(usize, VecDeque<Vec<u8>>)> = RefCell::new((0, VecDeque::new()));
    let mut next_frame = 0u64;
    let mut encoded = 0u64;
    let px_per_s = aw as f64 / cfg.window;
    let tw = 2 * aw;
    let tape: RefCell<(Vec<u8>, i64)> = RefCell::new((vec![dark; ah * tw], i64::MIN));
    let mut vframe = frame::Video::new(format::Pixel::YUV420P, w, h);
    let mut emit = |upto_col: usize,
                    finished: bool,
                    vframe: &mut frame::Video,
                    next_frame: &mut u64|
     -> Result<(), String> {
        while *next_frame < n_frames {
            // The picture of this frame: image i of `images_per_second`, at time i / ips.
            let ips = cfg.images_per_second.clamp(1, cfg.fps) as u64;
            let image = *next_frame * ips / cfg.fps as u64;
            // Seconds of the recording at this picture (video seconds over the expansion).
            let t = image as f64 / ips as f64 / k as f64;
            let same_image = *next_frame > 0 && (*next_frame - 1) * ips / cfg.fps as u64 == image;
            // Columns sit on a fixed grid of absolute pixels, so that from one frame to the
            // next the picture moves by whole pixels: the encoder's motion search then finds
            // exact matches and only the newly visible columns cost bits. The grid is kept as
            // a circular row-major tape; a frame copies one slice of it per row.
            let offset = (t * px_per_s).round() as i64 - (aw / 2) as i64;
            let col_of = |p: i64| ((p as f64 / px_per_s) * cols_per_s).round() as i64;
            if !finished && col_of(offset + aw as i64 - 1) >= upto_col as i64 {
                break;
            }
            if !same_image {
                let mut tp = tape.borrow_mut();
                let (tape_px, filled) = &mut *tp;
                let (base, cols) = &*ring.borrow();
                let start = (*filled).max(offset);
                for p in start..offset + aw as i64 {
                    let c = col_of(p);
                    let col = (c >= *base as i64 && (c as usize) < total_cols)
                        .then(|| cols.get(c as usize - base))
                        .flatten();
                    let x = p.rem_euclid(tw as i64) as usize;
                    for j in 0..ah {
                        tape_px[j * tw + x] = col.map_or(dark, |v| v[j]);
                    }
                }
                *filled = offset + aw as i64;
                let ys = vframe.stride(0);
                let plane = vframe.data_mut(0);
                for (row, line) in tpl.y.chunks(w as usize).enumerate() {
                    plane[row * ys..row * ys + w as usize].copy_from_slice(line);
                }
                let x0 = offset.rem_euclid(tw as i64) as usize;
                let first = aw.min(tw - x0);
                for j in 0..ah {
                    let dst = (yr.start as usize + j) * ys + xr.start as usize;
                    let src = &tape_px[j * tw..(j + 1) * tw];
                    plane[dst..dst + first].copy_from_slice(&src[x0..x0 + first]);
                    plane[dst + first..dst + aw].copy_from_slice(&src[..aw - first]);
                    plane[dst - xr.start as usize + cursor_x] = cy;
                    plane[dst - xr.start as usize + cursor_x + 1] = cy;
                }
                for (k, (src, plane_i)) in [(&tpl.u, 1usize), (&tpl.v, 2)].into_iter().enumerate() {
                    let s = vframe.stride(plane_i);
                    let p = vframe.data_mut(plane_i);
                    for (row, line) in src.chunks(w as usize / 2).enumerate() {
                        p[row * s..row * s + w as usize / 2].copy_from_slice(line);
                    }
                    let value = if k == 0 { cu } else { cv };
                    for j in (yr.start as usize / 2)..(yr.end as usize / 2) {
                        p[j * s + cursor_x / 2] = value;
                    }
                }
            }
            // A repeat lasts as part of the picture before it; the last frame is always
            // written, so the stream ends where it would at a constant rate.
            if same_image && !cfg.repeat_frames && *next_frame + 1 < n_frames {
                *next_frame += 1;
                continue;
            }
            encoded += 1;
            vframe.set_pts(Some(*next_frame as i64));
            let mut wr = writer.borrow_mut();
            wr.video.send_frame(vframe).map_err(ff("encoding video"))?;
            wr.drain()?;
            wr.push_audio(false)?;
            drop(wr);
            *next_frame += 1;
            // Columns of pixels already on the tape are no longer needed.
            let keep_from = ((tape.borrow().1 as f64 / px_per_s) * cols_per_s).floor() - 1.0;
            let mut r = ring.borrow_mut();
            while keep_from > r.0 as f64 && !r.1.is_empty() {
                r.1.pop_front();
                r.0 += 1;
            }
        }
        Ok(())
    };
    let failure: RefCell<Option<String>> = RefCell::new(None);
    stream_spectrogram(
        audio,
        cfg.n_fft,
        cfg.hop,
        |block| writer.borrow_mut().take_samples(block),
        |t, mags| {
            if failure.borrow().is_some() {
                return;
            }
            let mut col = vec![dark; ah];
            for (j, v) in col.iter_mut().enumerate() {
                let r = ah - 1 - j;
                let level = level(row_peak(mags, r, ah), top_db, cfg.top_db);
                *v = 16 + (level * 219.0).round() as u8;
            }
            ring.borrow_mut().1.push_back(col);
            if let Err(e) = emit(t + 1, false, &mut vframe, &mut next_frame) {
                *failure.borrow_mut() = Some(e);
            }
        },
    )
    .map_err(|e| e.to_string())?;
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    emit(total_cols, true, &mut vframe, &mut next_frame)?;
    let mut wr = writer.into_inner();
    if let Some(e) = wr.failure.take() {
        return Err(e);
    }
    let Writer {
        soundtrack,
        audio_fifo,
        ..
    } = &mut wr;
    soundtrack.finish(audio_fifo)?;
    wr.push_audio(true)?;
    wr.video.send_eof().map_err(ff("flushing video"))?;
    wr.audio.send_eof().map_err(ff("flushing audio"))?;
    wr.drain()?;
    wr.octx.write_trailer().map_err(ff("finishing the MP4"))?;
    drop(wr);
    std::fs::rename(tmp, mp4).map_err(|e| format!("{}: {e}", mp4.display()))?;
    Ok(VideoInfo {
        duration,
        frames: n_frames,
        encoded,
        audio_rate,
        time_expansion: k,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Presentation times of the decoded pictures, in frames of 1/`fps` s.
    fn picture_times(mp4: &Path, fps: i64) -> Vec<i64> {
        let mut input = format::input(mp4).unwrap();
        let stream = input.streams().best(ffmpeg::media::Type::Video).unwrap();
        let (index, tb) = (stream.index(), stream.time_base());
        let ctx = codec::context::Context::from_parameters(stream.parameters()).unwrap();
        let mut decoder = ctx.decoder().video().unwrap();
        let mut times = Vec::new();
        let mut picture = frame::Video::empty();
        let mut take = |d: &mut ffmpeg::decoder::Video, times: &mut Vec<i64>| {
            while d.receive_frame(&mut picture).is_ok() {
                let pts = picture.pts().unwrap();
                let f = pts as f64 * tb.numerator() as f64 * fps as f64 / tb.denominator() as f64;
                times.push(f.round() as i64);
            }
        };
        for (s, packet) in input.packets() {
            if s.index() == index {
                decoder.send_packet(&packet).unwrap();
                take(&mut decoder, &mut times);
            }
        }
        decoder.send_eof().unwrap();
        take(&mut decoder, &mut times);
        times
    }

    /// 24 pictures per second at 60 fps: each picture is encoded once, at the frame where it
    /// first shows, and the last frame closes the stream where a constant rate would; with
    /// `repeat_frames` every frame is there.
    #[test]
    fn repeated_pictures_are_encoded_once_on_the_frame_grid() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("x.wav");
        std::fs::write(&wav, soundscape_testkit::wav(48_000, 96_000, None)).unwrap();
        let once = dir.path().join("once.mp4");
        let every = dir.path().join("every.mp4");
        let cfg = VideoConfig {
            threads: 1,
            ..Default::default()
        };
        let v = spectrogram_video(&wav, &once, "t", &cfg).unwrap();
        // Picture i of 24 per second first shows at frame ceil(i * 60 / 24).
        let mut expected: Vec<i64> = (0..48).map(|i| (i * 60 + 23) / 24).collect();
        expected.push(119);
        assert_eq!((v.frames, v.encoded), (120, expected.len() as u64));
        assert_eq!(picture_times(&once, 60), expected);

        let all = VideoConfig {
            repeat_frames: true,
            ..cfg
        };
        let v = spectrogram_video(&wav, &every, "t", &all).unwrap();
        assert_eq!((v.frames, v.encoded), (120, 120));
        assert_eq!(picture_times(&every, 60), (0..120).collect::<Vec<_>>());
    }

    /// Recordings at rates AAC cannot carry (a Song Meter's 22 kHz, 38.4 kHz, a bat detector's
    /// 250 kHz) get a resampled soundtrack: one H.264 and one AAC stream, both as long as the
    /// recording, and the audio decodes cleanly to the right number of samples.
    #[test]
    fn any_sample_rate_gets_a_soundtrack() {
        let dir = tempfile::tempdir().unwrap();
        for rate in [22_000u32, 38_400, 250_000] {
            let wav = dir.path().join(format!("r{rate}.wav"));
            std::fs::write(&wav, soundscape_testkit::wav(rate, rate * 2, None)).unwrap();
            let mp4 = dir.path().join(format!("r{rate}.mp4"));
            let cfg = VideoConfig {
                threads: 1,
                ..Default::default()
            };
            let v = spectrogram_video(&wav, &mp4, "t", &cfg).unwrap();
            // Bat detector rates are made audible by time expansion (x10 by default).
            let k = if rate > 96_000 { 10 } else { 1 };
            assert_eq!(v.time_expansion, k);
            assert_eq!(v.audio_rate, soundtrack_rate(rate / k));
            assert!(AAC_RATES.contains(&v.audio_rate));
            assert_eq!(
                v.frames,
                2 * k as u64 * 60,
                "{rate}: the picture slows down too"
            );
            assert!(!mp4.with_extension("mp4.part").exists());

            let mut input = format::input(&mp4).unwrap();
            let kinds: Vec<_> = input.streams().map(|s| s.parameters().id()).collect();
            assert_eq!(kinds, [codec::Id::H264, codec::Id::AAC], "{rate}");
            let audio = input.streams().best(ffmpeg::media::Type::Audio).unwrap();
            let index = audio.index();
            let ctx = codec::context::Context::from_parameters(audio.parameters()).unwrap();
            let mut decoder = ctx.decoder().audio().unwrap();
            assert_eq!(decoder.rate(), v.audio_rate);
            let mut samples = 0usize;
            let mut decoded = frame::Audio::empty();
            let mut packets = Vec::new();
            for (s, packet) in input.packets() {
                if s.index() == index {
                    packets.push(packet);
                }
            }
            for p in &packets {
                decoder.send_packet(p).unwrap();
                while decoder.receive_frame(&mut decoded).is_ok() {
                    samples += decoded.samples();
                }
            }
            decoder.send_eof().unwrap();
            while decoder.receive_frame(&mut decoded).is_ok() {
                samples += decoded.samples();
            }
            // Two seconds (times the expansion), give or take the encoder's priming and last
            // frame (1024 samples).
            let want = 2 * k as usize * v.audio_rate as usize;
            assert!(
                samples.abs_diff(want) <= 2048 + 1024,
                "{rate}: {samples} vs {want}"
            );
            assert!((v.duration - 2.0).abs() < 1e-9);
        }
    }

    /// A write that fails leaves no partial file.
    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("x.wav");
        std::fs::write(&wav, soundscape_testkit::wav(48_000, 96_000, None)).unwrap();
        let mp4 = dir.path().join("x.mp4");
        let bad = VideoConfig {
            preset: "no-such-preset".into(),
            threads: 1,
            ..Default::default()
        };
        assert!(spectrogram_video(&wav, &mp4, "t", &bad).is_err());
        assert!(!mp4.exists() && !mp4.with_extension("mp4.part").exists());
    }
}
