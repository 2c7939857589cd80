//! A corpus of odd but valid files, written in the test with ffmpeg from one mono source (pink
//! noise with a tone), each decoded by our reader and compared sample for sample with what the
//! ffmpeg command decodes from the same file. Variants: µ-law, A-law, IMA and MS ADPCM, PCM
//! in WAVE_FORMAT_EXTENSIBLE, big-endian and 8-bit PCM, RF64, AIFF, Wave64, CAF, Ogg Opus and
//! `.opus`, at several sample rates; and multi-channel files whose channels, kept apart, are
//! the ffmpeg command's channels.

use std::path::{Path, PathBuf};
use std::process::Command;

use soundscape_audio::{read_mono, AudioReader};

/// (file name, ffmpeg output options, exact): exact variants must match ffmpeg bit for bit.
const VARIANTS: &[(&str, &[&str], bool)] = &[
    ("ulaw.wav", &["-c:a", "pcm_mulaw"], true),
    ("alaw.wav", &["-c:a", "pcm_alaw"], true),
    ("ima.wav", &["-c:a", "adpcm_ima_wav"], true),
    ("msadpcm.wav", &["-c:a", "adpcm_ms"], true),
    ("u8.wav", &["-c:a", "pcm_u8"], true),
    ("s24.wav", &["-c:a", "pcm_s24le"], true),
    ("s32.wav", &["-c:a", "pcm_s32le"], true),
    ("f64.wav", &["-c:a", "pcm_f64le"], true),
    ("rf64.wav", &["-c:a", "pcm_s24le", "-rf64", "always"], true),
    ("s16be.aiff", &["-c:a", "pcm_s16be"], true),
    ("s24be.aiff", &["-c:a", "pcm_s24be"], true),
    ("s16.w64", &["-c:a", "pcm_s16le"], true),
    ("s16.caf", &["-c:a", "pcm_s16le"], true),
    ("opus.ogg", &["-c:a", "libopus", "-b:a", "64k"], true),
    ("opus.opus", &["-c:a", "libopus", "-b:a", "32k"], true),
];

fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed by scripts/setup.sh");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn source(dir: &Path, rate: u32) -> PathBuf {
    let src = dir.join(format!("source{rate}.wav"));
    let graph = format!(
        "anoisesrc=d=3:c=pink:r={rate}:a=0.3,volume=0.8[n];sine=f=1000:r={rate}:d=3[s];[n][s]amix=inputs=2"
    );
    ffmpeg(&[
        "-filter_complex",
        &graph,
        "-ac",
        "1",
        "-c:a",
        "pcm_f32le",
        src.to_str().unwrap(),
    ]);
    src
}

/// What the ffmpeg command decodes from `file`: mono float32 samples.
fn reference(file: &Path) -> Vec<f32> {
    let bytes = ffmpeg(&[
        "-i",
        file.to_str().unwrap(),
        "-f",
        "f32le",
        "-c:a",
        "pcm_f32le",
        "-",
    ]);
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn every_variant_decodes_to_what_ffmpeg_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for rate in [48_000u32, 22_050] {
        let src = source(dir.path(), rate);
        for (name, opts, exact) in VARIANTS {
            if name.starts_with("opus") && rate != 48_000 {
                continue; // Opus runs at 48 kHz (ffmpeg resamples others first)
            }
            let file = dir.path().join(format!("{rate}_{name}"));
            let mut args = vec!["-i", src.to_str().unwrap()];
            args.extend_from_slice(opts);
            args.push(file.to_str().unwrap());
            ffmpeg(&args);
            let (info, ours) =
                read_mono(&file).unwrap_or_else(|e| panic!("{name} at {rate} Hz: {e}"));
            let theirs = reference(&file);
            assert_eq!(info.sample_rate, rate, "{name}");
            assert_eq!(
                ours.len(),
                theirs.len(),
                "{name} at {rate} Hz: sample count"
            );
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            if *exact {
                assert_eq!(
                    worst, 0.0,
                    "{name} at {rate} Hz ({}): not bit for bit",
                    info.codec
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * VARIANTS.len() - 2);
}

/// A RIFF (or RIFX) WAV written by hand: `fmt` body, extra chunks before `data`, the data.
fn riff(big_endian: bool, fmt: &[u8], extra: &[(&[u8; 4], Vec<u8>)], data: &[u8]) -> Vec<u8> {
    let size = |n: usize| -> [u8; 4] {
        if big_endian {
            (n as u32).to_be_bytes()
        } else {
            (n as u32).to_le_bytes()
        }
    };
    let mut body = b"WAVE".to_vec();
    let mut chunk = |id: &[u8; 4], bytes: &[u8]| {
        body.extend_from_slice(id);
        body.extend_from_slice(&size(bytes.len()));
        body.extend_from_slice(bytes);
        if bytes.len() % 2 == 1 {
            body.push(0);
        }
    };
    chunk(b"fmt ", fmt);
    for (id, bytes) in extra {
        chunk(id, bytes);
    }
    chunk(b"data", data);
    let mut out = if big_endian {
        b"RIFX".to_vec()
    } else {
        b"RIFF".to_vec()
    };
    out.extend_from_slice(&size(body.len()));
    out.extend_from_slice(&body);
    out
}

/// A `fmt ` body: PCM, or WAVE_FORMAT_EXTENSIBLE with `valid` bits in `bits`-bit containers.
fn fmt(big_endian: bool, rate: u32, bits: u16, valid: Option<u16>) -> Vec<u8> {
    fmt_channels(big_endian, rate, bits, valid, 1)
}

/// [`fmt`] of `channels` channels.
fn fmt_channels(
    big_endian: bool,
    rate: u32,
    bits: u16,
    valid: Option<u16>,
    channels: u16,
) -> Vec<u8> {
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let block = bits / 8 * channels;
    let mut f = Vec::new();
    f.extend_from_slice(&w16(if valid.is_some() { 0xFFFE } else { 1 }));
    f.extend_from_slice(&w16(channels));
    f.extend_from_slice(&w32(rate));
    f.extend_from_slice(&w32(rate * block as u32));
    f.extend_from_slice(&w16(block));
    f.extend_from_slice(&w16(bits));
    if let Some(v) = valid {
        f.extend_from_slice(&w16(22));
        f.extend_from_slice(&w16(v));
        f.extend_from_slice(&w32(4)); // front centre
                                      // KSDATAFORMAT_SUBTYPE_PCM
        f.extend_from_slice(&[
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
            0x9B, 0x71,
        ]);
    }
    f
}

/// Samples of a test signal, quantised to `valid` bits and stored left-aligned in `bits`;
/// with the values a reader must give (the container integer over 2^(bits-1), as libsndfile
/// scales it).
fn pcm(n: usize, bits: u16, valid: u16, big_endian: bool) -> (Vec<u8>, Vec<f32>) {
    let mut out = Vec::new();
    let mut want = Vec::new();
    for i in 0..n {
        let x = ((i as f64 * 0.037).sin() * 0.6 + ((i * 7919) % 1000) as f64 / 5000.0 - 0.1)
            .clamp(-1.0, 1.0);
        let q = (x * ((1i64 << (valid - 1)) - 1) as f64).round() as i64;
        let v = q << (bits - valid);
        want.push((v as f64 / (1i64 << (bits - 1)) as f64) as f32);
        let bytes = (v as i32).to_le_bytes();
        let mut s: Vec<u8> = bytes[..(bits / 8) as usize].to_vec();
        if big_endian {
            s.reverse();
        }
        out.extend_from_slice(&s);
    }
    (out, want)
}

#[test]
fn hand_made_riff_variants_decode_to_their_samples() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 32_000;
    let n = 3 * rate as usize;
    let info_list = |declared_extra: usize| {
        // LIST/INFO with an odd-length ICMT (and its pad byte); `declared_extra` makes the
        // subchunk claim more than the LIST holds (an overrun libsndfile and FFmpeg shrug off).
        let mut l = b"INFOICMT".to_vec();
        let text = b"odd comment";
        l.extend_from_slice(&((text.len() + declared_extra) as u32).to_le_bytes());
        l.extend_from_slice(text);
        l.push(0);
        l
    };
    // (name, big endian, container bits, valid bits (Some: WAVE_FORMAT_EXTENSIBLE), chunks)
    type Case = (
        &'static str,
        bool,
        u16,
        Option<u16>,
        Vec<(&'static [u8; 4], Vec<u8>)>,
    );
    let cases: Vec<Case> = vec![
        ("rifx16.wav", true, 16, None, vec![]),
        ("rifx24.wav", true, 24, None, vec![]),
        ("valid12in16.wav", false, 16, Some(12), vec![]),
        ("valid20in24.wav", false, 24, Some(20), vec![]),
        ("valid24in32.wav", false, 32, Some(24), vec![]),
        ("ext16.wav", false, 16, Some(16), vec![]),
        (
            "oddlist.wav",
            false,
            16,
            None,
            vec![(b"LIST", info_list(0))],
        ),
        (
            "overrunlist.wav",
            false,
            16,
            None,
            vec![(b"LIST", info_list(40))],
        ),
    ];
    for (name, be, bits, valid, chunks) in cases {
        let (data, want) = pcm(n, bits, valid.unwrap_or(bits), be);
        let file = dir.path().join(name);
        std::fs::write(&file, riff(be, &fmt(be, rate, bits, valid), &chunks, &data)).unwrap();
        let (info, ours) = read_mono(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((info.sample_rate, ours.len()), (rate, n), "{name}");
        let diff = ours.iter().zip(&want).position(|(a, b)| a != b);
        assert!(
            diff.is_none(),
            "{name} ({}): not bit for bit: at {diff:?}: {:?} vs {:?}",
            info.codec,
            diff.map(|i| ours[i]),
            diff.map(|i| want[i])
        );
        // The ffmpeg command agrees, but where FFmpeg 5.1 is wrong and libsndfile reads the
        // file as we do: 24 valid bits in 32 it takes for 24-bit float (pcm_f24le), and RIFX
        // samples it reads little-endian.
        if name != "valid24in32.wav" && !name.starts_with("rifx") {
            let theirs = reference(&file);
            assert!(theirs == want, "{name}: the ffmpeg command disagrees");
        }
    }
}

/// Every channel of `file`, interleaved, as our reader hands them out when told to keep them.
fn kept(file: &Path) -> (u16, Vec<f32>) {
    let mut r = AudioReader::open(file).unwrap_or_else(|e| panic!("{e}"));
    r.keep_channels();
    let mut out = Vec::new();
    while let Some(b) = r.next_block().unwrap_or_else(|e| panic!("{e}")) {
        out.extend_from_slice(b);
    }
    (r.info().channels, out)
}

/// The mean of interleaved channels in the reader's order of operations.
fn mean_of(interleaved: &[f32], channels: usize) -> Vec<f32> {
    interleaved
        .chunks_exact(channels)
        .map(|f| f[1..].iter().fold(f[0], |a, &b| a + b) / channels as f32)
        .collect()
}

#[test]
fn kept_channels_are_the_ffmpeg_commands_channels_and_average_to_the_mono_samples() {
    let dir = tempfile::tempdir().unwrap();
    let rate = 48_000;
    let src = dir.path().join("source3.wav");
    // Three different channels: a tone, a quieter higher tone, pink noise.
    ffmpeg(&[
        "-filter_complex",
        &format!("sine=f=500:r={rate}:d=2[a];sine=f=1500:r={rate}:d=2,volume=0.5[b];anoisesrc=d=2:c=pink:r={rate}:a=0.3[c];[a][b][c]join=inputs=3:channel_layout=3.0"),
        "-c:a",
        "pcm_f32le",
        src.to_str().unwrap(),
    ]);
    // (file, ffmpeg options, exact): symphonia's int16 shortcut and its generic path, FLAC
    // and Vorbis; FFmpeg's packed (AIFF, CAF, FLAC in Matroska) and planar (Opus) frames.
    let variants: &[(&str, &[&str], bool)] = &[
        ("s16.wav", &["-c:a", "pcm_s16le"], true),
        ("s24.wav", &["-c:a", "pcm_s24le"], true),
        ("f32.wav", &["-c:a", "pcm_f32le"], true),
        ("u8.wav", &["-c:a", "pcm_u8"], true),
        ("x.flac", &["-c:a", "flac"], true),
        ("s16be.aiff", &["-c:a", "pcm_s16be"], true),
        ("s16.caf", &["-c:a", "pcm_s16le"], true),
        ("flac.mka", &["-c:a", "flac"], true),
        ("x.opus", &["-c:a", "libopus", "-mapping_family", "1"], true),
        // symphonia reads one or two Vorbis channels (within 4e-8 of libvorbis), FFmpeg more.
        ("vorbis.ogg", &["-c:a", "libvorbis"], true),
        (
            "vorbis-stereo.ogg",
            &["-ac", "2", "-c:a", "libvorbis"],
            false,
        ),
    ];
    let check = |name: &str, file: &Path, theirs: Option<Vec<f32>>, exact: bool| {
        let (channels, ours) = kept(file);
        let want = if name.contains("stereo") { 2 } else { 3 };
        assert_eq!(channels, want, "{name}");
        let (_, mono) = read_mono(file).unwrap();
        assert_eq!(ours.len(), want as usize * mono.len(), "{name}: frames");
        let same = mean_of(&ours, want as usize)
            .iter()
            .zip(&mono)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "{name}: the kept channels do not average to the mono samples"
        );
        if let Some(theirs) = theirs {
            assert_eq!(ours.len(), theirs.len(), "{name}: sample count");
            let worst = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let tolerance = if exact { 0.0 } else { 1e-6 };
            assert!(
                worst <= tolerance,
                "{name}: {worst} from the ffmpeg command's channels"
            );
        }
    };
    for (name, opts, exact) in variants {
        let file = dir.path().join(name);
        let mut args = vec!["-i", src.to_str().unwrap()];
        args.extend_from_slice(opts);
        args.push(file.to_str().unwrap());
        ffmpeg(&args);
        check(name, &file, Some(reference(&file)), *exact);
    }
    // RIFX (big-endian RIFF), read by our own decoder; the ffmpeg command reads it wrong.
    let (data, want) = pcm(3 * 20_000, 16, 16, true);
    let file = dir.path().join("rifx3.wav");
    std::fs::write(
        &file,
        riff(true, &fmt_channels(true, rate, 16, None, 3), &[], &data),
    )
    .unwrap();
    check("rifx3.wav", &file, Some(want), true);
}
