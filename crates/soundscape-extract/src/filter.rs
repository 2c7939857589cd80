//! Tidzam's object filter: keep a clip only when its sound lies in the middle. The clip's
//! magnitude spectrogram (Hann window of 512 samples, hop 256) is cut at a tenth of its peak
//! (20 dB below it); a clip passes when less than a quarter of the cells above that level lie
//! in the border quarter of the clip, its first and last eighths in time. A silent clip (no
//! cell above zero) does not pass.

use realfft::RealFftPlanner;

/// Samples per spectrogram frame.
pub const FRAME: usize = 512;
/// Samples between frames.
pub const HOP: usize = 256;
/// Level relative to the clip's peak magnitude above which a cell counts.
pub const LEVEL: f32 = 0.1;
/// The border's share of the clip, and the most of the sound it may hold.
pub const BORDER: f64 = 0.25;

/// The share of the clip's above-level cells that lie in its border quarter (NaN for a
/// silent clip).
pub fn border_share(samples: &[f32]) -> f64 {
    let frames = if samples.len() >= FRAME {
        1 + (samples.len() - FRAME) / HOP
    } else {
        1
    };
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(FRAME);
    let window: Vec<f32> = (0..FRAME)
        .map(|i| {
            let x = std::f32::consts::PI * i as f32 / FRAME as f32;
            x.sin() * x.sin()
        })
        .collect();
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let bins = spectrum.len();
    let mut mags = Vec::with_capacity(frames * bins);
    for f in 0..frames {
        let start = f * HOP;
        for (i, v) in input.iter_mut().enumerate() {
            *v = samples.get(start + i).copied().unwrap_or(0.0) * window[i];
        }
        fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)
            .expect("buffers from the plan");
        mags.extend(spectrum.iter().map(|c| c.norm()));
    }
    let peak = mags.iter().copied().fold(0.0f32, f32::max);
    if peak <= 0.0 {
        return f64::NAN;
    }
    let level = peak * LEVEL;
    let edge = ((BORDER / 2.0) * frames as f64) as usize;
    let (mut border, mut total) = (0u64, 0u64);
    for (f, row) in mags.chunks_exact(bins).enumerate() {
        let n = row.iter().filter(|&&m| m > level).count() as u64;
        total += n;
        if f < edge || f >= frames - edge {
            border += n;
        }
    }
    border as f64 / total as f64
}

/// Whether a clip of this border share passes (a silent clip's NaN does not).
pub fn share_passes(share: f64) -> bool {
    share < BORDER
}

/// Whether the clip passes the filter.
pub fn passes(samples: &[f32]) -> bool {
    share_passes(border_share(samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_at(len: usize, from: usize, to: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let s = (i as f32 * 0.3).sin();
                if (from..to).contains(&i) {
                    s
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn centred_sound_passes_border_sound_does_not() {
        let n = 48_000;
        assert!(passes(&tone_at(n, 20_000, 28_000)));
        assert!(border_share(&tone_at(n, 20_000, 28_000)) < 0.01);
        // All of it in the first eighth.
        assert!(!passes(&tone_at(n, 0, 5_000)));
        // Spread over the whole clip: a quarter at the borders, which is not less than one.
        let s = border_share(&tone_at(n, 0, n));
        assert!((s - 0.25).abs() < 0.02, "{s}");
        assert!(!passes(&vec![0.0; n]));
        assert!(border_share(&vec![0.0; n]).is_nan());
    }
}
