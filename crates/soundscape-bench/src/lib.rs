//! What the benchmark binaries share: a deterministic synthetic soundscape, peak memory, and a
//! child process measured with `wait4`.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Result;

/// Writes a deterministic synthetic soundscape: pink-ish noise, a dawn chorus of chirps and
/// tonal insects, so that the cells are neither constant nor trivial.
pub fn write_wav(path: &Path, seconds: u32, seed: u64) -> Result<()> {
    write_wav_at(path, seconds, seed, 48_000)
}

/// [`write_wav`] at another sample rate (the same sounds).
pub fn write_wav_at(path: &Path, seconds: u32, seed: u64, sr: u32) -> Result<()> {
    let n = seconds as u64 * sr as u64;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let data_bytes = (n * 2) as u32;
    w.write_all(b"RIFF")?;
    w.write_all(&(36 + data_bytes).to_le_bytes())?;
    w.write_all(b"WAVEfmt ")?;
    w.write_all(&16u32.to_le_bytes())?;
    w.write_all(&1u16.to_le_bytes())?;
    w.write_all(&1u16.to_le_bytes())?;
    w.write_all(&sr.to_le_bytes())?;
    w.write_all(&(sr * 2).to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&16u16.to_le_bytes())?;
    w.write_all(b"data")?;
    w.write_all(&data_bytes.to_le_bytes())?;
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut lp = 0.0f64;
    for i in 0..n {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let white = ((state >> 33) as f64 / (1u64 << 31) as f64) - 1.0;
        lp = 0.97 * lp + 0.03 * white;
        let t = i as f64 / sr as f64;
        let chirp_phase = (t % 2.0) * (2000.0 + 1500.0 * (t % 2.0));
        let chirp = if t % 7.0 < 2.0 {
            0.2 * (2.0 * std::f64::consts::PI * chirp_phase).sin()
        } else {
            0.0
        };
        let insect =
            0.05 * (2.0 * std::f64::consts::PI * 6100.0 * t).sin() * (0.5 + 0.5 * (t * 3.0).sin());
        let x = 0.3 * lp + 0.02 * white + chirp + insect;
        w.write_all(&((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())?;
    }
    w.flush()?;
    Ok(())
}

/// Peak resident memory of this process, MB (NaN where /proc is not readable).
pub fn peak_rss_self_mb() -> f64 {
    soundscape_core::resources::Resources::of_this_process().map_or(f64::NAN, |r| r.peak_rss_mb)
}

/// Runs `cmd` as a child and returns its exit code, wall seconds, CPU seconds and peak RSS (MB).
#[allow(unsafe_code)]
pub fn measured(cmd: &mut std::process::Command) -> anyhow::Result<(i32, f64, f64, f64)> {
    let t0 = std::time::Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting the child: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain integers, for which all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 reaps the child we spawned and fills the status and the struct we own;
    // `child` is not waited for again (dropping a Child does not wait).
    let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if got != pid {
        anyhow::bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((
        code,
        t0.elapsed().as_secs_f64(),
        secs(usage.ru_utime) + secs(usage.ru_stime),
        usage.ru_maxrss as f64 / 1024.0,
    ))
}
