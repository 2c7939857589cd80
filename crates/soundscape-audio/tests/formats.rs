//! Every supported format decodes to the same signal (fixtures made once with ffmpeg from one
//! float source: a 3 kHz tone plus pink noise, 2 s at 48 kHz).

use std::path::{Path, PathBuf};

use soundscape_audio::{read_mono, AudioError, AudioReader};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/formats")
        .join(name)
}

fn reference() -> Vec<f32> {
    read_mono(&fixture("TONE_pcm_f32le.wav")).unwrap().1
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn pcm_variants_match_the_float_source_to_their_quantisation() {
    let r = reference();
    assert_eq!(r.len(), 96_000);
    for (name, bits, tol) in [
        ("TONE_pcm_u8.wav", 8, 1.0 / 128.0),
        ("TONE_pcm_s16le.wav", 16, 1.0 / 32768.0),
        ("TONE_pcm_s24le.wav", 24, 1.0 / 8388608.0),
        ("TONE_pcm_s32le.wav", 32, 1e-7),
        ("TONE_pcm_f64le.wav", 64, 1e-7),
        ("TONE_flac.flac", 24, 1.0 / 8388608.0),
    ] {
        let (info, x) = read_mono(&fixture(name)).unwrap();
        assert_eq!((info.sample_rate, info.channels), (48_000, 1), "{name}");
        if name.ends_with(".wav") {
            assert_eq!(info.bits_per_sample, Some(bits), "{name}");
        }
        assert_eq!(x.len(), r.len(), "{name}");
        let d = max_diff(&x, &r);
        assert!(d <= tol, "{name}: max diff {d} > {tol}");
    }
}

#[test]
fn int16_scaling_is_exact() {
    // libsndfile (and so the original) scales int16 by 1/32768.
    let (_, x) = read_mono(&fixture("TONE_pcm_s16le.wav")).unwrap();
    assert!(x.iter().all(|v| (v * 32768.0).fract() == 0.0));
}

/// A 16-bit PCM WAV with the given interleaved samples.
fn write_wav(path: &Path, channels: u16, samples: &[i16]) {
    std::fs::write(
        path,
        soundscape_testkit::wav_channels(48_000, channels, samples, None),
    )
    .unwrap();
}

#[test]
fn channels_are_averaged_in_float32() {
    let dir = tempfile::tempdir().unwrap();
    let n = 4800;
    let left: Vec<i16> = (0..n).map(|i| ((i * 7919) % 65536) as i32 as i16).collect();
    let right: Vec<i16> = (0..n)
        .map(|i| ((i * 104729 + 17) % 65536) as i32 as i16)
        .collect();
    for channels in [2u16, 3] {
        let mut inter = Vec::new();
        for i in 0..n {
            inter.push(left[i]);
            inter.push(right[i]);
            if channels == 3 {
                inter.push(left[i] / 3);
            }
        }
        let p = dir.path().join(format!("c{channels}.wav"));
        write_wav(&p, channels, &inter);
        let (info, x) = read_mono(&p).unwrap();
        assert_eq!(info.channels, channels);
        for i in 0..n {
            let mut sum = left[i] as f32 / 32768.0 + right[i] as f32 / 32768.0;
            if channels == 3 {
                sum += (left[i] / 3) as f32 / 32768.0;
            }
            assert_eq!(x[i], sum / channels as f32, "sample {i}");
        }
    }
}

#[test]
fn lossy_formats_decode_to_the_same_sound() {
    let r = reference();
    for name in ["TONE_mp3.mp3", "TONE_vorbis.ogg"] {
        let (info, x) = read_mono(&fixture(name)).unwrap();
        assert_eq!(info.sample_rate, 48_000, "{name}");
        assert!(
            (x.len() as i64 - r.len() as i64).abs() <= 1152,
            "{name}: {} samples",
            x.len()
        );
        let n = x.len().min(r.len());
        let dot: f64 = x[..n]
            .iter()
            .zip(&r[..n])
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        let norm = |v: &[f32]| {
            v[..n]
                .iter()
                .map(|a| (*a as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let corr = dot / (norm(&x) * norm(&r));
        assert!(corr > 0.9, "{name}: correlation {corr}");
    }
}

#[test]
fn streaming_blocks_add_up_to_the_header_length() {
    let mut rd = AudioReader::open(&fixture("TONE_flac.flac")).unwrap();
    let mut total = 0usize;
    let mut blocks = 0usize;
    while let Some(b) = rd.next_block().unwrap() {
        total += b.len();
        blocks += 1;
    }
    assert_eq!(total as u64, rd.info().frames.unwrap());
    assert!(blocks > 1, "the file is streamed in blocks");
}

#[test]
fn bad_files_get_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.path().join("text.wav");
    std::fs::write(&text, b"this is not audio").unwrap();
    let wav = std::fs::read(fixture("TONE_pcm_s16le.wav")).unwrap();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &wav[..wav.len() / 3]).unwrap();

    let e = AudioReader::open(&empty).err().unwrap();
    assert!(
        matches!(e, AudioError::Empty { .. }) && e.to_string().contains("empty.wav"),
        "{e}"
    );
    let e = AudioReader::open(&text).err().unwrap();
    assert!(
        matches!(e, AudioError::NotAudio { .. }) && e.to_string().contains("text.wav"),
        "{e}"
    );
    let e = read_mono(&cut).err().unwrap();
    assert!(
        matches!(e, AudioError::Truncated { .. }) && e.to_string().contains("cut.wav"),
        "{e}"
    );
    let e = AudioReader::open(&dir.path().join("missing.wav"))
        .err()
        .unwrap();
    assert!(
        matches!(e, AudioError::Io { .. }) && e.to_string().contains("missing.wav"),
        "{e}"
    );
}

/// Vorbis decodes to libsndfile's samples (libvorbis, as the original read it) within 1e-6:
/// the reference is libsndfile's decoding of the fixture, vendored beside it
/// (tests/python/vorbis_reference.py writes it, tests/python/test_vorbis_reference.py checks it).
#[test]
fn vorbis_decodes_to_libsndfiles_samples() {
    let reference: Vec<f32> = std::fs::read(fixture("TONE_vorbis.libsndfile.f32"))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let (_, ours) = read_mono(&fixture("TONE_vorbis.ogg")).unwrap();
    assert_eq!(ours.len(), reference.len());
    let worst = ours
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("largest difference from libsndfile: {worst:e}");
    assert!(
        worst <= 1e-6,
        "largest difference from libsndfile {worst:e}"
    );
}
