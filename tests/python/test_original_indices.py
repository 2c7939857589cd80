"""compute-soundscapes against the original's numpy arithmetic on inputs the golden data lacks.

`original_indices.py` redoes the original's STFT and indices with numpy 1.26 (in
.venv-birdnet). First it must reproduce the golden output bit for bit, which makes it a
reference; then our indices are compared with it on recordings FFmpeg writes here: 24-bit,
32-bit float, 64-bit float, FLAC, 96 kHz, noise and a chirp (docs/fidelity.md#other-inputs).

The golden output was made where numpy's float32 log10 runs Intel's SVML on AVX-512; on a
machine without AVX-512 numpy calls glibc instead and cannot be bit for bit, so there the
reference is held to the acceptance tolerances only.
"""
import json
import math
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from need import need

ROOT = Path(__file__).resolve().parents[2]
REF_PY = ROOT / ".venv-birdnet" / "bin" / "python"
REF = ROOT / "tests" / "python" / "original_indices.py"
BIN = ROOT / "target" / "debug" / "compute-soundscapes"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
INDICES = ["TOTAL", "CORE", "TAIL", "EXAG", "INFORMATION", "ICOMPLEXITY"]
# Our promise on any input, against numpy on AVX-512 (docs/fidelity.md): the means of TAIL and
# CORE within a float32 step, the entropy within a float64 step (numpy's float64 log2 of N).
BOUND = {"TOTAL": 1e-5, "CORE": 1e-5, "TAIL": 1e-5, "EXAG": 1e-5,
         "INFORMATION": 1e-12, "ICOMPLEXITY": 1e-12}
# The acceptance tolerances of the golden data, which is all a numpy without AVX-512 (glibc's
# log10f and log2f) can be held to.
ACCEPTANCE = {"TOTAL": 1e-4, "TAIL": 1e-4, "CORE": 1e-2, "EXAG": 1e-2,
              "INFORMATION": 1e-5, "ICOMPLEXITY": 1e-5}


def reference(paths):
    out = subprocess.run([str(REF_PY), str(REF), *map(str, paths)], check=True,
                         capture_output=True, text=True).stdout
    cells = {}
    for line in out.splitlines():
        d = json.loads(line)
        cells[(Path(d["file"]).stem, d["start_time"], d["min_freq"])] = d
    return cells


def rows(table):
    return {(r["id"], r["start_time"], r["min_freq"]): r for r in pq.read_table(table).to_pylist()}


def value(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def differences(ref, ours):
    """Per index: the largest difference and the number of rows that are not the same bits."""
    assert set(ref) == set(ours), "the two disagree on which cells exist"
    worst, differ = dict.fromkeys(INDICES, 0.0), dict.fromkeys(INDICES, 0)
    for k, r in ref.items():
        for c in INDICES:
            a, b = value(r[c]), value(ours[k][c])
            assert (a is None) == (b is None), f"{k} {c}: {a} vs {b}"
            if a is not None and a != b:
                differ[c] += 1
                worst[c] = max(worst[c], abs(a - b))
    return worst, differ


def avx512_numpy():
    code = "import numpy.core._multiarray_umath as m; print(int(m.__cpu_features__['AVX512_SKX']))"
    return subprocess.run([str(REF_PY), "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip() == "1"


def test_the_reference_is_the_golden_output():
    need(REF_PY, "the numpy 1.26 reference venv (scripts/setup.sh)")
    cases = [(sorted((GOLDEN / "mini").glob("*.wav")), GOLDEN / "mini" / "hashed_soundscape.parquet"),
             (sorted((GOLDEN / "edge").glob("ESTEREO_*")), GOLDEN / "edge" / "ESTEREO.hashed_soundscape.parquet"),
             (sorted((GOLDEN / "edge").glob("ESILENT_*")), GOLDEN / "edge" / "ESILENT.hashed_soundscape.parquet")]
    exact = avx512_numpy()
    for files, table in cases:
        worst, differ = differences(reference(files), rows(table))
        if exact:
            assert not any(differ.values()), f"{table.name}: {differ} {worst}"
        else:
            assert all(worst[c] <= ACCEPTANCE[c] for c in INDICES), f"{table.name}: {worst}"


VARIANTS = {
    # name: (golden file or FFmpeg lavfi source, output options, extension)
    "P24": ("golden", ["-c:a", "pcm_s24le"], "wav"),
    "F32": ("golden", ["-c:a", "pcm_f32le"], "wav"),
    "FLA": ("golden", [], "flac"),
    "R96": ("golden", ["-af", "aresample=96000", "-c:a", "pcm_s24le"], "wav"),
    "PNK": ("anoisesrc=d=60:c=pink:r=48000:a=0.3:seed=7", ["-c:a", "pcm_s24le"], "wav"),
    "CHR": ("aevalsrc=0.5*sin(2*PI*(100*t+165*t*t)):s=48000:d=60", ["-c:a", "pcm_f32le"], "wav"),
    "BRN": ("anoisesrc=d=60:c=brown:r=96000:a=0.2:seed=3", ["-sample_fmt", "s32", "-c:a", "flac"], "flac"),
    "F64": ("anoisesrc=d=60:c=white:r=48000:a=0.01:seed=5", ["-c:a", "pcm_f64le"], "wav"),
}


def test_other_inputs_match_the_originals_arithmetic(tmp_path):
    need(REF_PY, "the numpy 1.26 reference venv (scripts/setup.sh)")
    need(BIN, "the compute-soundscapes binary (cargo build)")
    src = tmp_path / "in"
    src.mkdir()
    golden = GOLDEN / "mini" / "MINI_20210804_055000.wav"
    for name, (source, options, ext) in VARIANTS.items():
        inp = ["-i", str(golden)] if source == "golden" else ["-f", "lavfi", "-i", source]
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *inp, *options,
                        str(src / f"{name}_20210804_055000.{ext}")], check=True)
    files = sorted(src.iterdir())
    out = tmp_path / "out"
    subprocess.run([str(BIN), "--input", str(src), "--out", str(out), "--no-plots", "--no-progress"],
                   check=True, capture_output=True)
    ref = reference(files)
    ours = rows(out / "hashed_soundscape.parquet")
    assert len(ours) == 96 * (2 * len(files)), len(ours)
    worst, differ = differences(ref, ours)
    print(f"{len(ours)} cells; rows not bit for bit: {differ}; largest differences: {worst}")
    bound = BOUND if avx512_numpy() else ACCEPTANCE
    for c in INDICES:
        assert worst[c] <= bound[c], f"{c}: {worst[c]:.3e} > {bound[c]} ({differ[c]} rows differ)"
