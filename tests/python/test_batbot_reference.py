"""compute-embeddings with batbot-0.2.1 agrees with batbot's own Python package on real bat
recordings (192–312.5 kHz; docs/fidelity.md#batbot):

- the picture: the same size as batbot's; at the recorder's own rate the same bytes but for
  rounding at grey-level boundaries (never more than one level); resampled, the same below
  the resamplers' transition bands (rubato's and soxr's filters differ in the top 10 % of the
  band) but for a few cells;
- the windows cut from a picture: byte for byte those of batbot's classifier (cv2.resize);
- the species scores per recording, and the same top species: within 0.01 of batbot's when
  neither side uses JPEG (a manifest with `jpeg_quality: null` beside batbot's tiles saved as
  PNG), and within 0.015 of batbot's own pipeline with JPEG tiles (the two JPEG codecs
  round differently).

Needs `just models`, `just corpus` and .venv-batbot (scripts/setup.sh); `just test` runs them
first and sets SOUNDSCAPE_REQUIRE_MODELS=1, so the test fails rather than skips there.
"""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from need import need
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("SOUNDSCAPE_MODELS", ROOT / "models"))
BATS = ROOT / "tests" / "corpus" / "bats"
REF_PY = ROOT / ".venv-batbot" / "bin" / "python"
REF = ROOT / "tests" / "python" / "batbot_reference.py"
BIN = ROOT / "target" / "debug" / "compute-embeddings"
MODEL = "batbot-0.2.1"
TOL_LOSSLESS = 0.01
TOL_JPEG = 0.015


def read_pgm(path):
    data = path.read_bytes()
    magic, w, h, maxval, rest = data.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    return np.frombuffer(rest, dtype=np.uint8).reshape(int(h), int(w))


@pytest.fixture(scope="module")
def recordings():
    need(MODELS / MODEL / "model.json", "the batbot model (just models)")
    need(REF_PY, "the batbot reference venv (scripts/setup.sh)")
    need(BIN, "the compute-embeddings binary (cargo build)")
    files = sorted(p for p in BATS.iterdir() if p.suffix.lower() == ".wav") if BATS.exists() else []
    if not files:
        need(BATS / "Echometer.wav", "the bat recordings (just corpus)")
    return files


@pytest.fixture(scope="module")
def models(recordings, tmp_path_factory):
    """The models folder, and one with a copy of batbot's model without the JPEG step."""
    d = tmp_path_factory.mktemp("models")
    lossless = d / (MODEL + "-lossless")
    lossless.mkdir()
    for f in (MODELS / MODEL).iterdir():
        if f.name != "model.json":
            (lossless / f.name).symlink_to(f)
    m = json.loads((MODELS / MODEL / "model.json").read_text())
    m["name"] += "-lossless"
    m["front_end"]["jpeg_quality"] = None
    (lossless / "model.json").write_text(json.dumps(m))
    return d


@pytest.fixture(scope="module")
def reference(recordings, tmp_path_factory):
    out = tmp_path_factory.mktemp("batbot")
    lines = subprocess.run([str(REF_PY), str(REF), str(out), *map(str, recordings)],
                           check=True, capture_output=True, text=True).stdout.splitlines()
    return {Path(d["file"]).stem: d for d in map(json.loads, lines)}


def dump(models, audio, out):
    """Our picture of a recording and the windows cut from it (without JPEG)."""
    subprocess.run([str(BIN), "--model", MODEL + "-lossless", "--models-dir", str(models),
                    "--dump-front-end", str(audio), "--out", str(out)], check=True)
    return read_pgm(out), (Path(str(out) + ".windows"))


def test_pictures_match_batbot(recordings, models, reference, tmp_path):
    for audio in recordings:
        theirs = np.load(reference[audio.stem]["picture"])
        ours, _ = dump(models, audio, tmp_path / f"{audio.stem}.pgm")
        assert ours.shape == theirs.shape, audio.name
        diff = np.abs(ours.astype(int) - theirs.astype(int))
        rate = sf.info(str(audio)).samplerate
        if rate == 250_000:
            assert diff.max() <= 1 and np.mean(diff > 0) <= 0.001, \
                f"{audio.name}: {np.mean(diff > 0):.4%} differ, by up to {diff.max()}"
            continue
        # Rows below 0.9 of the lower Nyquist frequency, under both resamplers' transition bands.
        freqs = (246 - np.arange(ours.shape[0])) * 250_000 / 512
        band = diff[freqs < 0.9 * min(rate, 250_000) / 2]
        assert np.mean(band > 4) <= 0.001, f"{audio.name}: {np.mean(band > 4):.4%} differ by more than 4"
        assert band.mean() <= 0.3, f"{audio.name}: mean difference {band.mean():.3f}"


def test_windows_are_cv2s_to_the_byte(recordings, models, tmp_path):
    for audio in recordings:
        ours_pic, windows = dump(models, audio, tmp_path / f"{audio.stem}.pgm")
        ours = np.frombuffer(windows.read_bytes(), dtype=np.uint8)
        theirs = np.frombuffer(subprocess.run([str(REF_PY), str(REF), "--windows", str(tmp_path / f"{audio.stem}.pgm")],
                                              check=True, capture_output=True).stdout, dtype=np.uint8)
        assert ours.size == theirs.size and ours.size % (224 * 224) == 0, audio.name
        assert np.array_equal(ours, theirs), f"{audio.name}: {np.count_nonzero(ours != theirs)} bytes differ"


def run_stage(models_dir, model, recordings, out):
    manifest = out.parent / f"{out.name}.csv"
    manifest.write_text("path,start\n" + "".join(f"{f},2024-05-01T22:00:00+00:00\n" for f in recordings))
    subprocess.run([str(BIN), "--manifest", str(manifest), "--out", str(out), "--model", model,
                    "--models-dir", str(models_dir), "--min-confidence", "0", "--top-k", "35", "--no-progress"],
                   check=True)
    report = json.loads((out / "embeddings_report.json").read_text())
    assert all(r["status"] == "done" for r in report["recordings"]), report["recordings"]
    scores = {}
    for d in pq.read_table(out / "detections.parquet").to_pylist():
        scores.setdefault(d["id"], {})[d["label"]] = d["score"]
    return scores


@pytest.mark.parametrize("variant,key,tol", [("-lossless", "lossless", TOL_LOSSLESS), ("", "jpeg", TOL_JPEG)])
def test_scores_match_batbot(recordings, models, reference, tmp_path, variant, key, tol):
    out = tmp_path / "out"
    ours = run_stage(models if variant else MODELS, MODEL + variant, recordings, out)
    assert set(ours) == set(reference)
    for stem, ref in reference.items():
        mine, theirs = ours[stem], ref[key]
        assert set(mine) == set(theirs)
        worst = max(abs(mine[k] - v) for k, v in theirs.items())
        assert worst <= tol, f"{stem}: scores differ from batbot's ({key}) by up to {worst:.4f}"
        top = sorted(theirs.items(), key=lambda kv: -kv[1])
        if top[0][1] - top[1][1] > 2 * tol:
            assert max(mine, key=mine.get) == top[0][0], stem
        if "classify_wav" in ref:
            # batbot's whole pipeline gives what the steps the reference runs give.
            assert max(abs(ref["classify_wav"][k] - v) for k, v in ref["jpeg"].items()) < 1e-6
    emb = pq.read_table(out / "embeddings.parquet")
    assert emb.num_rows == len(recordings)
    assert emb.schema.field("embedding").type.list_size == 960
