"""compute-embeddings then extract-samples, with nothing but the detections table between them
(the recordings found through compute-embeddings' report): the clips are the ones pandas
counts in the table, and hold the samples libsndfile reads from the recordings."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SOUNDSCAPE_BIN_DIR", ROOT / "target" / "debug"))


def test_detections_to_clips(tmp_path):
    models = tmp_path / "models"
    subprocess.run([str(BIN / "compute-embeddings"), "--write-test-model", str(models)], check=True)
    rec = tmp_path / "in"
    rec.mkdir()
    rate = 16000
    t = np.arange(rate * 8) / rate
    # 1 kHz and 3 kHz seconds in turn, so both labels of the test model occur.
    sig = 0.5 * np.cos(2 * np.pi * np.where((t.astype(int) % 2) == 0, 1000, 3000) * t)
    sf.write(rec / "north_ch01_20240501_060000.flac", sig, rate, subtype="PCM_16")
    sf.write(rec / "south_20240501_060000.flac", sig[: rate * 5], rate, subtype="PCM_16")
    unit = tmp_path / "unit"
    subprocess.run([str(BIN / "compute-embeddings"), "--input", str(rec), "--out", str(unit), "--model",
                    "test-linear", "--models-dir", str(models), "--no-progress"], check=True)
    table = unit / "detections.parquet"
    d = pd.read_parquet(table)
    rules = tmp_path / "rules.json"
    # The north stream's channel 1 only, 0.5 s clips of the 3 kHz tone.
    rules.write_text(json.dumps({"rules": [
        {"name": "north 3k", "sources": ["north"], "channels": [1], "classes": ["tone_3k"]},
    ]}))
    out = tmp_path / "samples"
    r = subprocess.run([str(BIN / "extract-samples"), "--detections", str(table), "--rules", str(rules),
                        "--out", str(out), "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    want = d[(d.label == "tone_3k") & d.above_threshold & d.id.str.startswith("north_ch01_")]
    assert len(want) >= 3
    clips = sorted((out / "unchecked" / "tone_3k").glob("*.wav"))
    assert len(clips) == len(want)
    report = json.loads((out / "extract_report.json").read_text())
    assert report["summary"]["extracted"] == len(want) and report["summary"]["failed"] == 0
    assert report["recordings_from"].endswith("embeddings_report.json")
    source, _ = sf.read(rec / "north_ch01_20240501_060000.flac", dtype="int16")
    for (_, row), clip in zip(want.sort_values("start_time").iterrows(), clips):
        side = json.loads(clip.with_suffix(".json").read_text())
        assert side["source"] == "north" and side["channel"] == 1
        assert side["detection"]["label"] == "tone_3k"
        assert abs(side["detection"]["start_time"] - row.start_time) < 1e-9
        centre = (row.start_time + row.end_time) / 2
        assert abs((side["clip"]["start_s"] + side["clip"]["end_s"]) / 2 - centre) < 1e-3
        got, got_rate = sf.read(clip, dtype="int16")
        assert got_rate == rate and len(got) == rate // 2
        start = round(side["clip"]["start_s"] * rate)
        assert np.array_equal(got, source[start:start + len(got)])
        assert pd.Timestamp(side["clip"]["abs_start"]) == (
            pd.Timestamp("2024-05-01T06:00:00Z") + pd.Timedelta(seconds=side["clip"]["start_s"]))
