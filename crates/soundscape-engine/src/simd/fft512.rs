//! The forward complex FFT of 512 points (the half-length transform of the 1024-sample STFT)
//! with AVX-512, four complex values per register where rustfft's AVX path holds two.
//!
//! rustfft plans this length as `Butterfly512Avx64`: the 512 values as 16 rows of 32
//! columns, a 16-point FFT down each column, a twiddle per value, a transpose, then a
//! 32-point FFT down each of the 16 new columns. Each step works on each complex value on its
//! own (additions, subtractions, products, a fused multiply-add-subtract per complex
//! product, sign flips and swaps of the two parts), so doing the same steps on twice as many
//! columns at once gives every output the same bits. [`Fft512::forward`] does exactly those
//! steps with the same twiddles, computed as rustfft computes them; only the transposes
//! (which move values and compute nothing) differ. The twin is rustfft itself: the tests
//! compare the two bit for bit.

use realfft::num_complex::Complex;

/// Points of the transform.
pub const LEN: usize = 512;
/// Rows and columns of the first step (a 16-point FFT down each of the 32 columns).
const ROWS: usize = 16;
const COLS: usize = 32;
/// Complex values per 512-bit register.
const PER: usize = 4;

/// Eight float64 lanes, as one aligned register's worth.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Lanes([f64; 8]);

impl Lanes {
    /// Four complex values in register order.
    fn of(values: [Complex<f64>; PER]) -> Lanes {
        let mut l = [0.0; 8];
        for (i, c) in values.iter().enumerate() {
            (l[2 * i], l[2 * i + 1]) = (c.re, c.im);
        }
        Lanes(l)
    }

    /// One complex value in every place.
    fn broadcast(c: Complex<f64>) -> Lanes {
        Lanes::of([c; PER])
    }
}

/// rustfft's forward twiddle `exp(-2 pi i index / len)`, computed as it computes it.
fn twiddle(index: usize, len: usize) -> Complex<f64> {
    let angle = -2f64 * std::f64::consts::PI / len as f64 * index as f64;
    Complex::new(angle.cos(), angle.sin())
}

/// The twiddles of the transform, laid out for four columns a register.
pub struct Fft512 {
    /// After the column FFTs: for each group `g` of four columns and row `y` in `1..16`, at
    /// `g * 15 + y - 1`, the twiddles `exp(-2 pi i y c / 512)` of columns `c = 4g..4g+4`.
    columns: Vec<Lanes>,
    /// Inside the 16-point FFT: the twiddles 1 and 3 of 16.
    of16: [Lanes; 2],
    /// Inside the 32-point FFT: the twiddles 1, 2, 3, 5, 6 and 7 of 32.
    of32: [Lanes; 6],
}

impl Fft512 {
    /// The transform, where the CPU has AVX-512 F (`None` elsewhere). The caller decides
    /// whether to use it ([`crate::simd::use_avx512`]).
    pub fn new() -> Option<Fft512> {
        if !super::cpu_has_avx512() {
            return None;
        }
        let columns = (0..COLS / PER)
            .flat_map(|g| {
                (1..ROWS).map(move |y| {
                    Lanes::of(std::array::from_fn(|i| twiddle(y * (PER * g + i), LEN)))
                })
            })
            .collect();
        Some(Fft512 {
            columns,
            of16: [1, 3].map(|k| Lanes::broadcast(twiddle(k, 16))),
            of32: [1, 2, 3, 5, 6, 7].map(|k| Lanes::broadcast(twiddle(k, 32))),
        })
    }

    /// The forward FFT of `input` into `output` (512 values each), the bits of rustfft's.
    pub fn forward(&self, input: &[Complex<f64>], output: &mut [Complex<f64>]) {
        assert_eq!(input.len(), LEN, "512 input values");
        assert_eq!(output.len(), LEN, "512 output values");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked that the CPU has AVX-512 F; both slices hold 512 complex
        // values (1024 float64), which is all the kernel reads and writes.
        unsafe {
            forward_avx512(
                self,
                input.as_ptr() as *const f64,
                output.as_mut_ptr() as *mut f64,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("`new` gives no transform without AVX-512")
    }

    /// [`Fft512::forward`] of `frame * window` (1024 samples: the real frame read as 512
    /// complex values, as realfft reads it), each product `s as f64 * w` taken as the
    /// transform loads its input: the STFT's window pass, its stores and their reloading are
    /// saved, and the values are those the window pass makes.
    pub fn forward_windowed(&self, frame: &[f32], window: &[f64], output: &mut [Complex<f64>]) {
        assert_eq!(frame.len(), 2 * LEN, "1024 samples");
        assert_eq!(window.len(), 2 * LEN, "1024 window values");
        assert_eq!(output.len(), LEN, "512 output values");
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `new` checked that the CPU has AVX-512 F; the slices hold 1024 samples,
        // 1024 window values and 512 complex values, which is all the kernel reads and
        // writes.
        unsafe {
            forward_windowed_avx512(
                self,
                frame.as_ptr(),
                window.as_ptr(),
                output.as_mut_ptr() as *mut f64,
            )
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("`new` gives no transform without AVX-512")
    }
}

/// [`Fft512::forward`].
///
/// # Safety
/// The CPU must have AVX-512 F; `input` must be readable and `output` writable for 1024
/// float64 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_avx512(fft: &Fft512, input: *const f64, output: *mut f64) {
    // SAFETY: `steps` asks for values `i..i + 4` with `i + 4 <= 512` only.
    unsafe { steps(fft, |i| v::load(input.add(2 * i)), output) }
}

/// [`Fft512::forward_windowed`].
///
/// # Safety
/// The CPU must have AVX-512 F; `frame` and `window` must be readable for 1024 values and
/// `output` writable for 1024 float64 values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn forward_windowed_avx512(
    fft: &Fft512,
    frame: *const f32,
    window: *const f64,
    output: *mut f64,
) {
    use std::arch::x86_64::*;
    // SAFETY: `steps` asks for values `i..i + 4` with `i + 4 <= 512` only: samples and
    // window values `2i..2i + 8`.
    let windowed = |i: usize| unsafe {
        let samples = _mm512_cvtps_pd(_mm256_loadu_ps(frame.add(2 * i)));
        _mm512_mul_pd(samples, v::load(window.add(2 * i)))
    };
    unsafe { steps(fft, windowed, output) }
}

/// The two steps (see the module doc); `input(i)` gives complex values `i..i + 4`.
///
/// # Safety
/// The CPU must have AVX-512 F; `input` must be able to give any four values of the 512,
/// and `output` must be writable for 1024 float64 values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn steps(fft: &Fft512, input: impl Fn(usize) -> v::V, output: *mut f64) {
    use v::*;
    let of16 = fft.of16.map(|t| load(t.0.as_ptr()));
    let of32 = fft.of32.map(|t| load(t.0.as_ptr()));
    // Step one: for each group of four columns, the 16-point FFT down the columns, the
    // twiddles, then value (y, c) to place 16 c + y, rows four at a time.
    for g in 0..COLS / PER {
        // Column 4g + 3 < 32 and row < 16: every load lies in the 512 values.
        let row = |y: usize| input(PER * g + COLS * y);
        let mut mid = butterfly16(row, of16);
        for (y, m) in mid.iter_mut().enumerate().skip(1) {
            *m = mul_complex(*m, load(fft.columns[g * (ROWS - 1) + y - 1].0.as_ptr()));
        }
        for chunk in 0..ROWS / PER {
            let r = chunk * PER;
            let t = transpose([mid[r], mid[r + 1], mid[r + 2], mid[r + 3]]);
            for (i, t) in t.into_iter().enumerate() {
                // SAFETY: 16 (4g + i) + r + 4 <= 16 * 32: the four values lie in the 512.
                unsafe { store(output.add(2 * (ROWS * (PER * g + i) + r)), t) };
            }
        }
    }
    // Step two: the 32-point FFT down each of the 16 columns of the 32 x 16 result, in place.
    for g in 0..ROWS / PER {
        let at = |k: usize| 2 * (PER * g + ROWS * k);
        // SAFETY: column 4g + 3 < 16 and row k < 32: every place lies in the 512 values.
        let row = |k: usize| unsafe { load(output.add(at(k))) };
        // SAFETY: as the loads; a row is stored only after all rows were loaded.
        let put = |k: usize, o: V| unsafe { store(output.add(at(k)), o) };
        butterfly32(row, put, of32);
    }
}

/// rustfft's 16-point column FFT (its `column_butterfly16_loadfn`), step for step; `x(i)`
/// loads input `i`, each when it is first needed (fewer registers spilled).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn butterfly16(x: impl Fn(usize) -> v::V, tw: [v::V; 2]) -> [v::V; 16] {
    use v::*;
    let x = |rows: [usize; 4]| rows.map(&x);
    let mut mid1 = butterfly4(x([1, 5, 9, 13]));
    mid1[1] = mul_complex(mid1[1], tw[0]);
    mid1[2] = twiddle8_1(mid1[2]);
    mid1[3] = mul_complex(mid1[3], tw[1]);
    let mut mid2 = butterfly4(x([2, 6, 10, 14]));
    mid2[1] = twiddle8_1(mid2[1]);
    mid2[2] = rotate90(mid2[2]);
    mid2[3] = twiddle8_3(mid2[3]);
    let mut mid3 = butterfly4(x([3, 7, 11, 15]));
    mid3[1] = mul_complex(mid3[1], tw[1]);
    mid3[2] = twiddle8_3(mid3[2]);
    mid3[3] = mul_complex(mid3[3], neg(tw[0]));
    let mid0 = butterfly4(x([0, 4, 8, 12]));
    let mut y = [mid0[0]; 16];
    for i in 0..4 {
        let o = butterfly4([mid0[i], mid1[i], mid2[i], mid3[i]]);
        for (j, o) in o.into_iter().enumerate() {
            y[i + 4 * j] = o;
        }
    }
    y
}

/// rustfft's 32-point column FFT (its `column_butterfly32_loadfn`), step for step: `x(i)`
/// loads input `i` when it is first needed, `put(i, y)` stores output `i` once it is made.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn butterfly32(x: impl Fn(usize) -> v::V, mut put: impl FnMut(usize, v::V), tw: [v::V; 6]) {
    use v::*;
    let x = |rows: [usize; 4]| rows.map(&x);
    let mut mid1 = butterfly4(x([1, 9, 17, 25]));
    mid1[1] = mul_complex(mid1[1], tw[0]);
    mid1[2] = mul_complex(mid1[2], tw[1]);
    mid1[3] = mul_complex(mid1[3], tw[2]);
    let mut mid2 = butterfly4(x([2, 10, 18, 26]));
    mid2[1] = mul_complex(mid2[1], tw[1]);
    mid2[2] = twiddle8_1(mid2[2]);
    mid2[3] = mul_complex(mid2[3], tw[4]);
    let mut mid3 = butterfly4(x([3, 11, 19, 27]));
    mid3[1] = mul_complex(mid3[1], tw[2]);
    mid3[2] = mul_complex(mid3[2], tw[4]);
    mid3[3] = mul_complex(mid3[3], rotate90(tw[0]));
    let mut mid4 = butterfly4(x([4, 12, 20, 28]));
    mid4[1] = twiddle8_1(mid4[1]);
    mid4[2] = rotate90(mid4[2]);
    mid4[3] = twiddle8_3(mid4[3]);
    let mut mid5 = butterfly4(x([5, 13, 21, 29]));
    mid5[1] = mul_complex(mid5[1], tw[3]);
    mid5[2] = mul_complex(mid5[2], rotate90(tw[1]));
    mid5[3] = mul_complex(mid5[3], rotate90(tw[5]));
    let mut mid6 = butterfly4(x([6, 14, 22, 30]));
    mid6[1] = mul_complex(mid6[1], tw[4]);
    mid6[2] = twiddle8_3(mid6[2]);
    mid6[3] = mul_complex(mid6[3], neg(tw[1]));
    let mut mid7 = butterfly4(x([7, 15, 23, 31]));
    mid7[1] = mul_complex(mid7[1], tw[5]);
    mid7[2] = mul_complex(mid7[2], rotate90(tw[4]));
    mid7[3] = mul_complex(mid7[3], neg(tw[3]));
    let mid0 = butterfly4(x([0, 8, 16, 24]));
    for i in 0..4 {
        let o = butterfly8([
            mid0[i], mid1[i], mid2[i], mid3[i], mid4[i], mid5[i], mid6[i], mid7[i],
        ]);
        for (j, o) in o.into_iter().enumerate() {
            put(i + 4 * j, o);
        }
    }
}

/// The per-value steps on four complex values a register, as rustfft's `AvxVector` does them
/// on two (forward direction). Inlined into the AVX-512 function that calls them.
#[cfg(target_arch = "x86_64")]
mod v {
    use std::arch::x86_64::*;

    pub(super) type V = __m512d;

    /// # Safety
    /// AVX-512 F; eight float64 readable at `p`.
    #[inline(always)]
    pub(super) unsafe fn load(p: *const f64) -> V {
        unsafe { _mm512_loadu_pd(p) }
    }

    /// # Safety
    /// AVX-512 F; eight float64 writable at `p`.
    #[inline(always)]
    pub(super) unsafe fn store(p: *mut f64, v: V) {
        unsafe { _mm512_storeu_pd(p, v) }
    }

    /// Bitwise exclusive or (AVX-512 F has it for integers only; the bits are the same).
    #[inline(always)]
    unsafe fn xor(a: V, b: V) -> V {
        unsafe {
            _mm512_castsi512_pd(_mm512_xor_si512(
                _mm512_castpd_si512(a),
                _mm512_castpd_si512(b),
            ))
        }
    }

    /// `-v`, by the sign bits (rustfft's `neg`).
    #[inline(always)]
    pub(super) unsafe fn neg(v: V) -> V {
        unsafe { xor(v, _mm512_set1_pd(-0.0)) }
    }

    /// Each value's real and imaginary parts swapped.
    #[inline(always)]
    unsafe fn swap_parts(v: V) -> V {
        unsafe { _mm512_permute_pd::<0x55>(v) }
    }

    /// `v * -i` (rustfft's forward `rotate90`: the real part's sign flipped, then the parts
    /// swapped).
    #[inline(always)]
    pub(super) unsafe fn rotate90(v: V) -> V {
        unsafe {
            let real_signs = _mm512_setr_pd(-0.0, 0.0, -0.0, 0.0, -0.0, 0.0, -0.0, 0.0);
            swap_parts(xor(v, real_signs))
        }
    }

    /// rustfft's `mul_complex`: `left * right` as the product of `left`'s imaginary parts
    /// with `right` swapped, then one fused multiply-add-subtract with `left`'s real parts.
    #[inline(always)]
    pub(super) unsafe fn mul_complex(left: V, right: V) -> V {
        unsafe {
            let (left_re, left_im) = (_mm512_movedup_pd(left), _mm512_permute_pd::<0xFF>(left));
            let right_im_part = _mm512_mul_pd(left_im, swap_parts(right));
            _mm512_fmaddsub_pd(left_re, right, right_im_part)
        }
    }

    #[inline(always)]
    unsafe fn butterfly2(a: V, b: V) -> (V, V) {
        unsafe { (_mm512_add_pd(a, b), _mm512_sub_pd(a, b)) }
    }

    /// rustfft's `column_butterfly4` (2 x 2, outputs in order).
    #[inline(always)]
    pub(super) unsafe fn butterfly4(r: [V; 4]) -> [V; 4] {
        unsafe {
            let (mid0, mid2) = butterfly2(r[0], r[2]);
            let (mid1, mid3) = butterfly2(r[1], r[3]);
            let mid3 = rotate90(mid3);
            let (o0, o1) = butterfly2(mid0, mid1);
            let (o2, o3) = butterfly2(mid2, mid3);
            [o0, o2, o1, o3]
        }
    }

    /// rustfft's `column_butterfly8` (4 x 2).
    #[inline(always)]
    pub(super) unsafe fn butterfly8(r: [V; 8]) -> [V; 8] {
        unsafe {
            let mid0 = butterfly4([r[0], r[2], r[4], r[6]]);
            let mut mid1 = butterfly4([r[1], r[3], r[5], r[7]]);
            mid1[1] = twiddle8_1(mid1[1]);
            mid1[2] = rotate90(mid1[2]);
            mid1[3] = twiddle8_3(mid1[3]);
            let (o0, o1) = butterfly2(mid0[0], mid1[0]);
            let (o2, o3) = butterfly2(mid0[1], mid1[1]);
            let (o4, o5) = butterfly2(mid0[2], mid1[2]);
            let (o6, o7) = butterfly2(mid0[3], mid1[3]);
            [o0, o2, o4, o6, o1, o3, o5, o7]
        }
    }

    /// rustfft's `apply_butterfly8_twiddle1`: `sqrt(1/2) (rotate90(v) + v)`.
    #[inline(always)]
    pub(super) unsafe fn twiddle8_1(v: V) -> V {
        unsafe {
            let half_root2 = _mm512_set1_pd(0.5f64.sqrt());
            _mm512_mul_pd(half_root2, _mm512_add_pd(rotate90(v), v))
        }
    }

    /// rustfft's `apply_butterfly8_twiddle3`: `sqrt(1/2) (rotate90(v) - v)`.
    #[inline(always)]
    pub(super) unsafe fn twiddle8_3(v: V) -> V {
        unsafe {
            let half_root2 = _mm512_set1_pd(0.5f64.sqrt());
            _mm512_mul_pd(half_root2, _mm512_sub_pd(rotate90(v), v))
        }
    }

    /// A 4 x 4 transpose of complex values: value `j` of register `i` to value `i` of
    /// register `j`.
    #[inline(always)]
    pub(super) unsafe fn transpose(r: [V; 4]) -> [V; 4] {
        unsafe {
            let t0 = _mm512_shuffle_f64x2::<0x44>(r[0], r[1]); // r0.0 r0.1 r1.0 r1.1
            let t1 = _mm512_shuffle_f64x2::<0xEE>(r[0], r[1]); // r0.2 r0.3 r1.2 r1.3
            let t2 = _mm512_shuffle_f64x2::<0x44>(r[2], r[3]);
            let t3 = _mm512_shuffle_f64x2::<0xEE>(r[2], r[3]);
            [
                _mm512_shuffle_f64x2::<0x88>(t0, t2), // r0.0 r1.0 r2.0 r3.0
                _mm512_shuffle_f64x2::<0xDD>(t0, t2), // r0.1 r1.1 r2.1 r3.1
                _mm512_shuffle_f64x2::<0x88>(t1, t3),
                _mm512_shuffle_f64x2::<0xDD>(t1, t3),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustfft::FftPlanner;

    /// rustfft's forward transform of `x`.
    fn rustfft(x: &[Complex<f64>]) -> Vec<Complex<f64>> {
        let fft = FftPlanner::<f64>::new().plan_fft_forward(LEN);
        let mut input = x.to_vec();
        let mut out = vec![Complex::new(0.0, 0.0); LEN];
        let mut scratch = vec![Complex::new(0.0, 0.0); fft.get_outofplace_scratch_len()];
        fft.process_outofplace_with_scratch(&mut input, &mut out, &mut scratch);
        out
    }

    /// The AVX-512 transform gives rustfft's bits: on tones with noise, on white noise over
    /// many magnitudes, on an impulse at every place, and on values with special bits (signed
    /// zeros, subnormals, infinities, NaN).
    #[test]
    fn the_avx512_transform_is_rustfft_bit_for_bit() {
        let Some(fft) = Fft512::new() else {
            eprintln!("no AVX-512 F on this CPU: nothing to compare");
            return;
        };
        let mut inputs: Vec<Vec<Complex<f64>>> = Vec::new();
        for seed in 0..8 {
            let re = crate::simd::rfft::tests::values(LEN, seed);
            let im = crate::simd::rfft::tests::values(LEN, seed + 100);
            inputs.push(
                re.iter()
                    .zip(&im)
                    .map(|(&a, &b)| Complex::new(a, b))
                    .collect(),
            );
        }
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for scale in [1e-300, 1e-12, 1.0, 3e5, 1e300] {
            inputs.push(
                (0..LEN)
                    .map(|_| {
                        let u = |v: u64| ((v >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * scale;
                        Complex::new(u(next()), u(next()))
                    })
                    .collect(),
            );
        }
        for at in 0..LEN {
            let mut x = vec![Complex::new(0.0, 0.0); LEN];
            x[at] = Complex::new(1.0, -0.5);
            inputs.push(x);
        }
        let special = [
            0.0,
            -0.0,
            f64::MIN_POSITIVE / 8.0,
            -5e-324,
            f64::INFINITY,
            1.0,
            f64::NAN,
        ];
        inputs.push(
            (0..LEN)
                .map(|i| Complex::new(special[i % 7], special[(i / 7) % 7]))
                .collect(),
        );
        // The same bits, but for NaN: Rust fixes neither the sign nor the payload of a NaN
        // that arithmetic makes (the compiler may swap the operands of an addition), so a
        // NaN only has to be a NaN in both.
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for (n, x) in inputs.iter().enumerate() {
            let want = rustfft(x);
            let mut got = vec![Complex::new(f64::NAN, f64::NAN); LEN];
            fft.forward(x, &mut got);
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same(a.re, b.re) && same(a.im, b.im),
                    "input {n}, bin {k}: {a} against rustfft's {b}"
                );
            }
        }
    }

    /// The windowed transform gives the bits of the window product followed by rustfft, on
    /// frames of tones, noise, a click and special values, with the STFT's Hann window.
    #[test]
    fn the_windowed_transform_is_the_window_product_then_rustfft() {
        let Some(fft) = Fft512::new() else {
            eprintln!("no AVX-512 F on this CPU: nothing to compare");
            return;
        };
        let window = crate::fidelity::hann_periodic(2 * LEN);
        let mut frames: Vec<Vec<f32>> = (0..6)
            .map(|seed| {
                let x = crate::simd::rfft::tests::values(2 * LEN, seed);
                x.iter()
                    .map(|&v| v as f32 * 10f32.powi(seed as i32 - 3))
                    .collect()
            })
            .collect();
        let mut click = vec![0f32; 2 * LEN];
        click[700] = -1.0;
        frames.push(click);
        let special = [
            0.0,
            -0.0,
            1e-45,
            f32::MAX,
            f32::NEG_INFINITY,
            f32::NAN,
            0.25,
        ];
        frames.push((0..2 * LEN).map(|i| special[i % 7]).collect());
        let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        for (n, frame) in frames.iter().enumerate() {
            let mut windowed: Vec<f64> = frame
                .iter()
                .zip(&window)
                .map(|(&s, &w)| s as f64 * w)
                .collect();
            let want = rustfft(crate::simd::rfft::as_complex(&mut windowed));
            let mut got = vec![Complex::new(f64::NAN, f64::NAN); LEN];
            fft.forward_windowed(frame, &window, &mut got);
            for (k, (a, b)) in got.iter().zip(&want).enumerate() {
                assert!(
                    same(a.re, b.re) && same(a.im, b.im),
                    "frame {n}, value {k}: {a} against {b}"
                );
            }
        }
    }
}
