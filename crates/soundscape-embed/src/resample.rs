//! Streaming sample-rate conversion to a model's rate (docs/embeddings.md#resampling).
//!
//! Two converters, chosen by the model's manifest, both giving exactly `ceil(n * to / from)`
//! samples for `n` (the length librosa gives), both streaming:
//!
//! - [`Resampler`] over rubato's synchronous FFT resampler (the default): fixed input chunks,
//!   the start-up delay trimmed, the tail flushed;
//! - [`KaiserFast`], resampy's `kaiser_fast` band-limited interpolation, which BirdNET's own
//!   tools use through `librosa.load(res_type="kaiser_fast")`: models are sensitive to the
//!   filter they were run with, and this one cuts at 0.868 of the lower Nyquist frequency.
//!
//! Same rates pass through untouched.

use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

const CHUNK: usize = 4096;

/// Which converter a model wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Rubato,
    KaiserFast,
}

/// A converter of either kind.
pub enum Converter {
    Rubato(Box<Resampler>),
    KaiserFast(KaiserFast),
}

impl Converter {
    pub fn new(kind: Kind, from: u32, to: u32) -> Result<Converter, String> {
        Ok(match kind {
            Kind::Rubato => Converter::Rubato(Box::new(Resampler::new(from, to)?)),
            Kind::KaiserFast => Converter::KaiserFast(KaiserFast::new(from, to)?),
        })
    }

    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        match self {
            Converter::Rubato(r) => r.push(input, out),
            Converter::KaiserFast(r) => r.push(input, out),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<f32>) {
        match self {
            Converter::Rubato(r) => r.finish(out),
            Converter::KaiserFast(r) => r.finish(out),
        }
    }
}

/// rubato's synchronous FFT resampler, streamed.
pub struct Resampler {
    fft: Option<Fft<f32>>,
    from: u32,
    to: u32,
    pending: Vec<f32>,
    outbuf: Vec<f32>,
    delay_left: usize,
    in_total: u64,
    out_total: u64,
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Result<Resampler, String> {
        let fft = if from == to {
            None
        } else {
            Some(
                Fft::<f32>::new(from as usize, to as usize, CHUNK, 1, FixedSync::Input)
                    .map_err(|e| format!("cannot resample {from} Hz to {to} Hz: {e}"))?,
            )
        };
        let delay_left = fft.as_ref().map_or(0, |f| f.output_delay());
        let outbuf = vec![0.0; fft.as_ref().map_or(0, |f| f.output_frames_max())];
        Ok(Resampler {
            fft,
            from,
            to,
            pending: Vec::with_capacity(CHUNK),
            outbuf,
            delay_left,
            in_total: 0,
            out_total: 0,
        })
    }

    /// Samples the input gives in all, after `n` input samples.
    fn expected(&self) -> u64 {
        (self.in_total as u128 * self.to as u128).div_ceil(self.from as u128) as u64
    }

    fn run(&mut self, partial: Option<usize>, out: &mut Vec<f32>) {
        let fft = self.fft.as_mut().expect("resampling");
        if self.pending.len() < CHUNK {
            self.pending.resize(CHUNK, 0.0);
        }
        let input = SequentialSlice::new(&self.pending[..CHUNK], 1, CHUNK).expect("one channel");
        let frames = self.outbuf.len();
        let mut output =
            SequentialSlice::new_mut(&mut self.outbuf[..], 1, frames).expect("one channel");
        let indexing = partial.map(|n| Indexing {
            partial_len: Some(n),
            ..Default::default()
        });
        let (_, produced) = fft
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .expect("buffers sized by the resampler");
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        let want = (self.expected() - self.out_total) as usize;
        let take = (produced - skip).min(if partial.is_some() { want } else { usize::MAX });
        out.extend_from_slice(&self.outbuf[skip..skip + take]);
        self.out_total += take as u64;
        self.pending.clear();
    }

    /// Resamples `input`, appending what is ready to `out`.
    pub fn push(&mut self, mut input: &[f32], out: &mut Vec<f32>) {
        self.in_total += input.len() as u64;
        if self.fft.is_none() {
            out.extend_from_slice(input);
            self.out_total += input.len() as u64;
            return;
        }
        while !input.is_empty() {
            let n = (CHUNK - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..n]);
            input = &input[n..];
            if self.pending.len() == CHUNK {
                self.run(None, out);
            }
        }
    }

    /// Flushes the tail: after this, `out` has received `ceil(n * to / from)` samples in all.
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.fft.is_none() {
            return;
        }
        let n = self.pending.len();
        self.run(Some(n), out);
        let mut guard = 0;
        while self.out_total < self.expected() && guard < 64 {
            self.run(Some(0), out);
            guard += 1;
        }
    }

    /// The -6 dB point of the anti-aliasing filter relative to the lower Nyquist frequency
    /// (1.0 when the rates are the same).
    pub fn cutoff(&self) -> f32 {
        self.fft.as_ref().map_or(1.0, |f| f.cutoff())
    }
}

/// resampy's `kaiser_fast` filter: 24 zero crossings, 512 table entries per crossing,
/// roll-off 0.8682120388377784, Kaiser window with beta 9.90322 (the table resampy ships is
/// this construction to within 6e-9).
const KF_ZEROS: usize = 24;
const KF_TABLE: usize = 512;
const KF_ROLLOFF: f64 = 0.868_212_038_837_778_4;
const KF_BETA: f64 = 9.90322;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, mut k) = (1.0f64, 1.0f64, 1.0f64);
    let q = x * x / 4.0;
    loop {
        term *= q / (k * k);
        sum += term;
        if term < sum * 1e-17 {
            return sum;
        }
        k += 1.0;
    }
}

fn kaiser_fast_window() -> Vec<f64> {
    let n = KF_TABLE * KF_ZEROS;
    let m = 2 * n; // numpy.kaiser(2n + 1)[n:]
    (0..=n)
        .map(|i| {
            let t = KF_ZEROS as f64 * i as f64 / n as f64;
            let x = KF_ROLLOFF * t;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let k = (n + i) as f64;
            let r = 2.0 * k / m as f64 - 1.0;
            let taper = bessel_i0(KF_BETA * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(KF_BETA);
            KF_ROLLOFF * sinc * taper
        })
        .collect()
}

/// resampy's band-limited interpolation with the `kaiser_fast` filter, streamed: each output
/// sample is computed as soon as the input it needs has arrived, and input no later sample
/// needs is dropped. The last `ceil(n * to / from) - floor(n * to / from)` samples are zeros,
/// as librosa pads resampy's output.
pub struct KaiserFast {
    win: Vec<f64>,
    delta: Vec<f64>,
    scale: f64,
    step: usize,
    increment: f64,
    ratio: f64,
    /// Input samples from `x0` on.
    x: Vec<f32>,
    x0: usize,
    n_in: usize,
    /// Next output sample.
    t: usize,
    passthrough: bool,
    /// The rates' ratio as `p / q` in lowest terms, and for each of the `p` phases of an
    /// output sample the left and right wing's weights, when `p` is small enough to tabulate.
    p: usize,
    q: usize,
    phases: Vec<Wings>,
    /// For each phase, both wings as one kernel over consecutive input samples (the left wing
    /// reversed, then the right), for outputs whose wings lie wholly inside the input.
    kernels: Vec<Vec<f64>>,
}

/// The left and right wing's weights of one output sample.
type Wings = (Vec<f64>, Vec<f64>);

impl KaiserFast {
    pub fn new(from: u32, to: u32) -> Result<KaiserFast, String> {
        if from == 0 || to == 0 {
            return Err(format!("cannot resample {from} Hz to {to} Hz"));
        }
        let ratio = to as f64 / from as f64;
        let mut win = kaiser_fast_window();
        if ratio < 1.0 {
            win.iter_mut().for_each(|w| *w *= ratio);
        }
        let mut delta: Vec<f64> = win.windows(2).map(|p| p[1] - p[0]).collect();
        delta.push(0.0);
        let scale = ratio.min(1.0);
        let g = gcd(from as usize, to as usize);
        let mut r = KaiserFast {
            step: (scale * KF_TABLE as f64) as usize,
            win,
            delta,
            scale,
            increment: 1.0 / ratio,
            ratio,
            x: Vec::new(),
            x0: 0,
            n_in: 0,
            t: 0,
            passthrough: from == to,
            p: to as usize / g,
            q: from as usize / g,
            phases: Vec::new(),
            kernels: Vec::new(),
        };
        if r.p <= 4096 && !r.passthrough {
            r.phases = (0..r.p).map(|k| r.wings(k as f64 * r.increment)).collect();
            r.kernels = r
                .phases
                .iter()
                .map(|(left, right)| left.iter().rev().chain(right).copied().collect())
                .collect();
        }
        Ok(r)
    }

    /// The weights of both wings for an output at `time` (input samples), as resampy forms
    /// them: table entry plus the linear interpolation to the next.
    fn wings(&self, time: f64) -> Wings {
        let nwin = self.win.len();
        let wing = |frac: f64| -> Vec<f64> {
            let index = frac * KF_TABLE as f64;
            let offset = index as usize;
            let eta = index - offset as f64;
            (0..(nwin - offset) / self.step)
                .map(|i| {
                    let j = offset + i * self.step;
                    self.win[j] + eta * self.delta[j]
                })
                .collect()
        };
        let frac = self.scale * (time - time.floor());
        (wing(frac), wing(self.scale - frac))
    }

    /// Input index and weights of output `t`.
    fn weights(&self, t: usize) -> (usize, std::borrow::Cow<'_, Wings>) {
        if self.phases.is_empty() {
            let time = t as f64 * self.increment;
            (time as usize, std::borrow::Cow::Owned(self.wings(time)))
        } else {
            let n = (t as u128 * self.q as u128 / self.p as u128) as usize;
            (n, std::borrow::Cow::Borrowed(&self.phases[t % self.p]))
        }
    }

    /// Input samples one side of an output sample may need.
    fn reach(&self) -> usize {
        self.win.len() / self.step + 1
    }

    fn sample(&self, t: usize, n_orig: Option<usize>) -> f32 {
        let (n, w) = self.weights(t);
        let (left, right) = &*w;
        let x = &self.x[..];
        let at = n - self.x0;
        let k_max = n_orig.unwrap_or(usize::MAX).saturating_sub(n + 1);
        if !self.kernels.is_empty() && n + 1 >= left.len() && k_max >= right.len() {
            // Both wings inside the input: one dot product over consecutive samples, in four
            // running sums (which the compiler keeps in vector registers).
            let kernel = &self.kernels[t % self.p];
            {
                let xs = &x[at + 1 - left.len()..at + 1 + right.len()];
                let mut acc = [0.0f64; 4];
                let (kc, kr) = kernel.split_at(kernel.len() / 4 * 4);
                let (xc, xr) = xs.split_at(kc.len());
                for (k, v) in kc.chunks_exact(4).zip(xc.chunks_exact(4)) {
                    for j in 0..4 {
                        acc[j] += k[j] * v[j] as f64;
                    }
                }
                let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                for (k, v) in kr.iter().zip(xr) {
                    sum += k * *v as f64;
                }
                return sum as f32;
            }
        }
        let mut acc = 0.0f64;
        for (i, w) in left.iter().take(n + 1).enumerate() {
            acc += w * x[at - i] as f64;
        }
        for (k, w) in right.iter().take(k_max).enumerate() {
            acc += w * x[at + k + 1] as f64;
        }
        acc as f32
    }

    /// Input index of output `t`.
    fn input_index(&self, t: usize) -> usize {
        if self.phases.is_empty() {
            (t as f64 * self.increment) as usize
        } else {
            (t as u128 * self.q as u128 / self.p as u128) as usize
        }
    }

    fn emit(&mut self, out: &mut Vec<f32>, end: Option<usize>) {
        let reach = self.reach();
        loop {
            let n = self.input_index(self.t);
            match end {
                None if n + 1 + reach > self.x0 + self.x.len() => break,
                Some(total) if self.t >= total => break,
                _ => {}
            }
            out.push(self.sample(self.t, end.map(|_| self.n_in)));
            self.t += 1;
        }
        // Keep what the next output's left wing reaches back to.
        let n = self.input_index(self.t);
        let keep = n.saturating_sub(reach).max(self.x0);
        if keep > self.x0 {
            self.x.drain(..keep - self.x0);
            self.x0 = keep;
        }
    }

    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.n_in += input.len();
        if self.passthrough {
            out.extend_from_slice(input);
            return;
        }
        self.x.extend_from_slice(input);
        self.emit(out, None);
    }

    pub fn finish(&mut self, out: &mut Vec<f32>) {
        if self.passthrough {
            return;
        }
        let computed = (self.n_in as f64 * self.ratio) as usize;
        self.emit(out, Some(computed));
        let total = ((self.n_in as f64 * self.ratio).ceil() as usize).max(computed);
        out.resize(out.len() + (total - self.t.min(total)), 0.0);
        self.t = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(sr: u32, f: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / sr as f64).sin() as f32 * 0.5)
            .collect()
    }

    #[test]
    fn kaiser_fast_length_tone_and_blocks() {
        for (from, to, n) in [
            (32000u32, 48000u32, 100_003usize),
            (44100, 48000, 44_100),
            (96000, 48000, 12_345),
            (48000, 16000, 7),
        ] {
            let x = tone(from, 1000.0, n);
            let whole = kaiser_fast(from, to, &x, |_| {});
            let mut r = KaiserFast::new(from, to).unwrap();
            let mut blocks = Vec::new();
            for b in x.chunks(777) {
                r.push(b, &mut blocks);
            }
            r.finish(&mut blocks);
            assert_eq!(whole, blocks, "{from}->{to}: blocks change the result");
            // librosa: ceil(n * (to / from)) in floating point, 48001 for 44100 -> 48000.
            assert_eq!(
                whole.len(),
                (n as f64 * (to as f64 / from as f64)).ceil() as usize
            );
            let y = tone(to, 1000.0, whole.len());
            let inner = whole.len() / 10..whole.len() * 9 / 10;
            let err = inner
                .map(|i| (whole[i] - y[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(
                whole.len() < 1000 || err < 2e-3,
                "{from}->{to}: max error {err}"
            );
        }
    }

    /// `x` through a [`KaiserFast`] changed by `tweak` first, in one call.
    fn kaiser_fast(from: u32, to: u32, x: &[f32], tweak: impl Fn(&mut KaiserFast)) -> Vec<f32> {
        let mut r = KaiserFast::new(from, to).unwrap();
        tweak(&mut r);
        let mut out = Vec::new();
        r.push(x, &mut out);
        r.finish(&mut out);
        out
    }

    #[test]
    fn kaiser_fast_phase_tables_equal_direct_weights() {
        for (from, to) in [
            (32000u32, 48000u32),
            (44100, 48000),
            (96000, 48000),
            (22050, 16000),
        ] {
            let x = tone(from, 1234.0, 20_000);
            let a = kaiser_fast(from, to, &x, |_| {});
            let b = kaiser_fast(from, to, &x, |r| {
                r.phases.clear();
                r.kernels.clear();
            });
            assert_eq!(a.len(), b.len());
            let err = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(err < 1e-6, "{from}->{to}: {err}");
        }
    }

    #[test]
    fn kaiser_fast_kernels_equal_the_wings_to_float64_rounding() {
        for (from, to) in [(32000u32, 48000u32), (44100, 48000), (96000, 48000)] {
            let x = tone(from, 3210.0, 30_000);
            let a = kaiser_fast(from, to, &x, |_| {});
            let b = kaiser_fast(from, to, &x, |r| r.kernels.clear());
            assert_eq!(a.len(), b.len());
            // Another order of the same float64 sum: apart by its rounding (terms up to 0.5),
            // and the same float32 sample almost always.
            let worst = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs())
                .fold(0f32, f32::max);
            let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
            assert!(worst <= 1e-12, "{from}->{to}: {worst}");
            assert!(
                same as f64 >= 0.99 * a.len() as f64,
                "{from}->{to}: {same} of {}",
                a.len()
            );
        }
    }

    #[test]
    fn exact_length_and_alignment() {
        for (from, to, n) in [
            (32000u32, 48000u32, 100_003usize),
            (44100, 48000, 44_100),
            (96000, 48000, 12_345),
            (48000, 16000, 7),
            (16000, 48000, 0),
        ] {
            let x = tone(from, 1000.0, n);
            let mut r = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            for block in x.chunks(1000) {
                r.push(block, &mut out);
            }
            r.finish(&mut out);
            let want = (n as u64 * to as u64).div_ceil(from as u64) as usize;
            assert_eq!(out.len(), want, "{from}->{to}, {n} samples");
            // A 1 kHz tone comes out as the same tone, in phase (the delay is trimmed).
            let y = tone(to, 1000.0, out.len());
            let inner = out.len() / 10..out.len() * 9 / 10;
            let err = inner
                .clone()
                .map(|i| (out[i] - y[i]).abs())
                .fold(0.0f32, f32::max);
            assert!(
                out.len() < 1000 || err < 1e-3,
                "{from}->{to}: max error {err}"
            );
        }
    }
}
