//! Draws the spectrogram picture of one recording: `cargo run --example spectrogram -- IN.wav OUT.png`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let cfg = soundscape_specvid::spectrogram::SpectrogramConfig::default();
    let d =
        soundscape_specvid::spectrogram::spectrogram_png(a[1].as_ref(), a[2].as_ref(), &a[1], &cfg)
            .unwrap();
    println!("{d} s");
}
