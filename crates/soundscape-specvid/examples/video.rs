//! Writes the spectrogram video of one recording:
//! `cargo run --example video -- IN.wav OUT.mp4 [PRESET [THREADS [QP [X264_PARAMS [IMAGES_PER_SECOND]]]]]`.
use soundscape_specvid::video::{VideoConfig, VideoQuality};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let mut cfg = VideoConfig::default();
    if let Some(p) = a.get(3) {
        cfg.preset = p.clone();
    }
    if let Some(t) = a.get(4) {
        cfg.threads = t.parse().unwrap();
    }
    if let Some(q) = a.get(5) {
        cfg.quality = VideoQuality::Qp(q.parse().unwrap());
    }
    cfg.x264_params = a.get(6).filter(|p| !p.is_empty()).cloned();
    if let Some(i) = a.get(7) {
        cfg.images_per_second = i.parse().unwrap();
    }
    let t0 = std::time::Instant::now();
    let v = soundscape_specvid::video::spectrogram_video(a[1].as_ref(), a[2].as_ref(), &a[1], &cfg)
        .unwrap();
    let s = t0.elapsed().as_secs_f64();
    println!("{v:?} in {s:.2} s ({:.1}x real time)", v.duration / s);
}
