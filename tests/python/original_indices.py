"""The original soundscape indices, recomputed with numpy as the original computed them.

A reference for inputs the golden data does not cover (24-bit, float, FLAC, 96 kHz): the
steps of docs/method.md done with the same numpy calls, in the same memory order, as the
original's code (librosa <= 0.9 STFT, yuntu's indices), so that its float32 roundings are
numpy's own. `tests/python/test_original_indices.py` first checks it against the golden
output, bit for bit, then compares compute-soundscapes with it.

Runs in `.venv-birdnet` (numpy 1.26: the C pocketfft of numpy 1.17+ and numpy 1.x scalar
promotion; numpy 2 changed both). Usage:

    original_indices.py FILE... > cells.jsonl

One JSON object per cell: file, start_time, min_freq and the six indices (NaN as null).
"""
import json
import math
import sys

import numpy as np
import soundfile as sf
from scipy.signal import get_window

N_FFT = 1024
HOP = 512
SLICE_S = 30.0
BANDS = 96
F_MAX = 24000.0


def load(path):
    """librosa.load(path, sr=native, mono=True) of librosa <= 0.9: float32 frames from
    libsndfile, `int(duration * sr)` of them, channels averaged in float32."""
    with sf.SoundFile(path) as f:
        sr = f.samplerate
        duration = f.frames / sr
        y = f.read(frames=int(duration * sr), dtype="float32", always_2d=False).T
    if y.ndim > 1:
        y = np.mean(y, axis=0)
    return y, sr, duration


def magnitudes(y):
    """|stft(y, 1024, 512, hann, center=True)| of librosa <= 0.9: the whole signal padded by
    reflection, float32 frames times SciPy's float64 periodic Hann, a float64 real FFT stored
    as complex64, numpy's float32 abs; a (513, F) array in Fortran order."""
    window = get_window("hann", N_FFT, fftbins=True).reshape(-1, 1)
    yp = np.pad(y, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(N_FFT, 1 + (len(yp) - N_FFT) // HOP),
        strides=(yp.itemsize, HOP * yp.itemsize))
    out = np.empty((N_FFT // 2 + 1, frames.shape[1]), dtype=np.complex64, order="F")
    block = 4096
    for s in range(0, frames.shape[1], block):
        out[:, s:s + block] = np.fft.rfft(window * frames[:, s:s + block], axis=0)
    return np.abs(out)


def decile_mod(x, tolerance=0.1):
    """The percentile ranges of the deciles holding the histogram mode(s) of x."""
    hist, edges = np.histogram(x, bins=100)
    max_count = np.max(hist)
    perc_arr = np.array(range(0, 101))
    percentiles = np.percentile(x, perc_arr)
    ranges = []
    for i in range(len(hist)):
        if hist[i] >= max_count - tolerance * max_count:
            mode = (edges[i + 1] + edges[i]) / 2
            diff = np.abs(percentiles - mode)
            q = int(np.round(np.mean(perc_arr[diff == np.min(diff)])))
            d = min(int(q / 10) + 1, 10)
            ranges.append(((d - 1) * 10, d * 10))
    return ranges


def mean_db(power, ref, ranges):
    """dB of the mean power where pct(lo) < ref <= pct(hi), over the union of the ranges."""
    ranges = list(set(ranges))
    mask = (ref > np.percentile(ref, ranges[0][0])) & (ref <= np.percentile(ref, ranges[0][1]))
    for lo, hi in ranges[1:]:
        mask = mask | ((ref > np.percentile(ref, lo)) & (ref <= np.percentile(ref, hi)))
    return 10 * np.log10(np.mean(power[mask]))


def indices(cell):
    with np.errstate(all="ignore"):
        power = np.clip(cell, 1e-3, 1e+3) ** 2
        ref = 10 * np.log10(power)
        total = 10 * np.log10(np.sum(power))
        n = power.shape[0] * power.shape[1]
        p = power / power.sum()
        h = -(np.log2(p) * p).sum() / np.log2(n)
        try:
            tail = mean_db(power, ref, [(90, 100)])
            core = mean_db(power, ref, decile_mod(ref))
        except (IndexError, ValueError):
            tail = core = float("nan")
        return {"TOTAL": total, "CORE": core, "TAIL": tail, "EXAG": tail - core,
                "INFORMATION": 1 - h, "ICOMPLEXITY": 4 * h * (1 - h)}


def cells(path):
    y, sr, duration = load(path)
    spec = magnitudes(y)
    r_t = spec.shape[1] / duration
    r_f = (1 + N_FFT // 2) / (sr / 2)
    spec = spec[:math.floor((sr / 2) * r_f), :math.floor(duration * r_t)]
    unit = F_MAX / BANDS
    for t0 in np.arange(0, duration, SLICE_S):
        t1 = t0 + SLICE_S
        if t1 > duration:
            continue
        c0, c1 = math.floor(t0 * r_t), math.floor(min(t1, duration) * r_t)
        for f0 in np.arange(0, F_MAX, unit):
            f1 = f0 + unit
            if f1 > F_MAX:
                continue
            r0 = math.floor(min(f0, sr / 2) * r_f)
            r1 = math.floor(min(f1, sr / 2) * r_f)
            values = indices(spec[r0:r1, c0:c1])
            yield {"file": str(path), "start_time": float(t0), "min_freq": float(f0),
                   **{k: (None if math.isnan(v) else float(v)) for k, v in values.items()}}


def main(paths):
    for path in paths:
        for cell in cells(path):
            print(json.dumps(cell))


if __name__ == "__main__":
    main(sys.argv[1:])
