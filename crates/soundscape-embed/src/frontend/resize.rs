//! OpenCV's `INTER_LANCZOS4` resize of 8-bit images, reproduced to the integer: batbot's
//! classifier resizes every spectrogram with it before cutting windows, so the network must
//! see the same bytes (docs/embeddings.md#batbot).
//!
//! What OpenCV does for 8-bit pixels: each output coordinate maps to
//! `(d + 0.5) * scale - 0.5` in the source, whose floor and fraction give an 8-tap Lanczos
//! kernel (a = 4, no widening when shrinking) computed in floating point and rounded to
//! 11-bit fixed point; a horizontal pass sums into 32-bit integers, a vertical pass sums those
//! with the vertical weights and shifts by 22 bits with rounding. Samples outside the image
//! repeat the edge. tests/python/test_batbot_reference.py compares the bytes with `cv2.resize`.

/// The eight Lanczos-4 weights at fraction `x` in [0, 1), as OpenCV computes them (including
/// its stand-in of 1e30 for the tap that lands exactly on a sample).
fn lanczos4_weights(x: f32) -> [f32; 8] {
    const S45: f64 = std::f64::consts::FRAC_1_SQRT_2;
    const CS: [[f64; 2]; 8] = [
        [1.0, 0.0],
        [-S45, -S45],
        [0.0, 1.0],
        [S45, -S45],
        [-1.0, 0.0],
        [S45, S45],
        [0.0, -1.0],
        [-S45, S45],
    ];
    let mut c = [0f32; 8];
    let mut sum = 0f32;
    let y0 = -((x + 3.0) as f64) * std::f64::consts::PI * 0.25;
    let (s0, c0) = (y0.sin(), y0.cos());
    for (i, ci) in c.iter_mut().enumerate() {
        let y0_ = x + 3.0 - i as f32;
        *ci = if y0_.abs() >= 1e-6 {
            let y = -(y0_ as f64) * std::f64::consts::PI * 0.25;
            ((CS[i][0] * s0 + CS[i][1] * c0) / (y * y)) as f32
        } else {
            1e30
        };
        sum += *ci;
    }
    let inv = 1.0 / sum;
    c.iter_mut().for_each(|v| *v *= inv);
    c
}

/// Per output coordinate: the first source index of its 8 taps (may be negative or past the
/// end) and the taps' fixed-point weights.
fn axis(src: usize, dst: usize) -> Vec<(isize, [i32; 8])> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor();
            let w = lanczos4_weights(f - s);
            let fixed = w.map(|v| (v * 2048.0).round_ties_even() as i32);
            (s as isize - 3, fixed)
        })
        .collect()
}

/// Resizes a one-channel `sw x sh` image (row-major) to `dw x dh`.
pub fn lanczos4_u8(src: &[u8], sw: usize, sh: usize, dw: usize, dh: usize) -> Vec<u8> {
    assert_eq!(src.len(), sw * sh);
    if sw == dw && sh == dh {
        return src.to_vec();
    }
    let xs = axis(sw, dw);
    let ys = axis(sh, dh);
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    // Horizontal pass of every source row (rows are reused by up to 8 output rows).
    let mut rows = vec![0i32; dw * sh];
    for y in 0..sh {
        let s = &src[y * sw..(y + 1) * sw];
        let out = &mut rows[y * dw..(y + 1) * dw];
        for (o, (x0, w)) in out.iter_mut().zip(&xs) {
            let mut v = 0i32;
            if *x0 >= 0 && (*x0 as usize) + 8 <= sw {
                let taps = &s[*x0 as usize..*x0 as usize + 8];
                for k in 0..8 {
                    v += taps[k] as i32 * w[k];
                }
            } else {
                for k in 0..8 {
                    v += s[clamp(x0 + k as isize, sw)] as i32 * w[k];
                }
            }
            *o = v;
        }
    }
    let mut dst = vec![0u8; dw * dh];
    for (dy, (y0, w)) in ys.iter().enumerate() {
        let src_rows: [&[i32]; 8] =
            std::array::from_fn(|k| &rows[clamp(y0 + k as isize, sh) * dw..][..dw]);
        for (x, o) in dst[dy * dw..(dy + 1) * dw].iter_mut().enumerate() {
            let mut v = 0i64;
            for k in 0..8 {
                v += src_rows[k][x] as i64 * w[k] as i64;
            }
            *o = ((v + (1 << 21)) >> 22).clamp(0, 255) as u8;
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_hit_samples_exactly() {
        for x in [0.0f32, 0.1, 0.5, 0.9] {
            let w = lanczos4_weights(x);
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let w = lanczos4_weights(0.0);
        assert!(
            (w[3] - 1.0).abs() < 1e-6
                && w.iter().enumerate().all(|(i, v)| i == 3 || v.abs() < 1e-6)
        );
    }

    #[test]
    fn a_flat_image_stays_flat_and_same_size_is_a_copy() {
        let img = vec![77u8; 40 * 30];
        assert!(lanczos4_u8(&img, 40, 30, 17, 11).iter().all(|&v| v == 77));
        let ramp: Vec<u8> = (0..40 * 30).map(|i| (i % 251) as u8).collect();
        assert_eq!(lanczos4_u8(&ramp, 40, 30, 40, 30), ramp);
    }
}
