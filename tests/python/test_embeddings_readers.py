"""compute-embeddings' tables read back by pandas, polars and DuckDB (with the tiny ONNX model
the binary writes for tests, whose outputs are known)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from need import need
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("COMPUTE_EMBEDDINGS", ROOT / "target" / "debug" / "compute-embeddings"))


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("emb")
    models = tmp / "models"
    subprocess.run([str(BIN), "--write-test-model", str(models)], check=True)
    rec = tmp / "in"
    rec.mkdir()
    t = np.arange(16000 * 3) / 16000
    sig = 0.5 * np.cos(2 * np.pi * np.where(t < 1.0, 1000, 3000) * t)
    sf.write(rec / "R1_20240501_060000.flac", sig, 16000, subtype="PCM_16")
    sf.write(rec / "R1_20240501_061000.flac", sig[:20000], 16000, subtype="PCM_16")
    o = tmp / "out"
    subprocess.run([str(BIN), "--input", str(rec), "--out", str(o), "--model", "test-linear", "--models-dir",
                    str(models), "--node", "1_95_1_1350", "--recorder", "R1", "--cumulus", "92", "--no-progress"],
                   check=True)
    return o


def test_pandas(out):
    import pandas as pd
    e = pd.read_parquet(out / "embeddings.parquet")
    assert len(e) == 3 + 1  # 3 windows, then 1.25 s: one full window (the 0.25 s tail is dropped)
    assert list(e.columns[:6]) == ["id", "recording_index", "cumulus", "node", "recorder", "deployment"]
    assert str(e.abs_start.dt.tz) == "UTC"
    assert e.abs_start.iloc[1] == pd.Timestamp("2024-05-01T06:00:01Z")
    assert len(e.embedding.iloc[0]) == 4 and e.embedding.iloc[0].dtype == np.float32
    d = pd.read_parquet(out / "detections.parquet")
    assert set(d.columns) >= {"id", "start_time", "end_time", "label", "scientific_name", "common_name", "score"}
    assert d.groupby("id").label.first().to_dict() == {"R1_20240501_060000": "tone_1k", "R1_20240501_061000": "tone_1k"}


def test_polars(out):
    import polars as pl
    e = pl.read_parquet(out / "embeddings.parquet")
    assert e.schema["embedding"] == pl.Array(pl.Float32, 4)
    assert e.schema["abs_end"] == pl.Datetime("ns", "UTC")
    d = pl.read_parquet(out / "detections.parquet")
    assert d.filter(pl.col("window") == 2)["label"].to_list() == ["tone_3k"]


def test_duckdb(out):
    import duckdb
    con = duckdb.connect()
    n, dim = con.execute(
        f"select count(*), max(len(embedding)) from read_parquet('{out / 'embeddings.parquet'}')").fetchone()
    assert (n, dim) == (4, 4)
    top = con.execute(
        f"select label, count(*) from read_parquet('{out / 'detections.parquet'}') group by label order by label").fetchall()
    assert top == [("tone_1k", 2), ("tone_3k", 2)]


def test_log_mel_front_end_matches_vggish(tmp_path):
    """The log-mel front end gives VGGish's own patch (mel_features.py of the VGGish release,
    as torchvggish ships it; fetched by `just corpus`)."""
    ref = ROOT / "tests" / "corpus" / "reference" / "mel_features.py"
    need(ref, "VGGish's mel_features.py (just corpus)")
    import importlib.util
    spec = importlib.util.spec_from_file_location("mel_features", ref)
    mel_features = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mel_features)

    models = tmp_path / "models"
    subprocess.run([str(BIN), "--write-test-model", str(models)], check=True)
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 2) / 16000
    sig = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * (1000 + 2000 * t) * t) + 0.02 * rng.standard_normal(t.size)
    wav = tmp_path / "x.wav"
    sf.write(wav, sig, 16000, subtype="PCM_16")
    x, _ = sf.read(wav, dtype="int16")
    data = x / 32768.0
    theirs = mel_features.log_mel_spectrogram(
        data, audio_sample_rate=16000, log_offset=0.01, window_length_secs=0.025,
        hop_length_secs=0.010, num_mel_bins=64, lower_edge_hertz=125.0, upper_edge_hertz=7500.0)[:96]
    dump = tmp_path / "ours.f32"
    subprocess.run([str(BIN), "--model", "test-vggish-frontend", "--models-dir", str(models), "--dump-front-end",
                    str(wav), "--out", str(dump)], check=True)
    ours = np.fromfile(dump, dtype="<f4").reshape(96, 64)
    assert theirs.shape == (96, 64)
    assert np.abs(ours - theirs).max() < 1e-5, np.abs(ours - theirs).max()


LIBROSA_PCEN = """
import sys, numpy as np, soundfile as sf, librosa
y, sr = sf.read(sys.argv[1], dtype="float32")
S = np.abs(librosa.stft(y[:sr], n_fft=512, hop_length=128, window="hann", center=False))
np.save(sys.argv[2], librosa.pcen(S, sr=sr, hop_length=128).T)
"""


def test_pcen_front_end_matches_librosa(tmp_path):
    """The PCEN front end gives librosa.pcen of the magnitude spectrogram (librosa 0.11.0 in
    .venv-birdnet), with librosa's defaults (gain 0.98, bias 2, power 0.5, time constant
    0.4 s, eps 1e-6) and its initial smoother state."""
    ref_py = ROOT / ".venv-birdnet" / "bin" / "python"
    need(ref_py, "librosa's venv (scripts/setup.sh)")
    models = tmp_path / "models"
    subprocess.run([str(BIN), "--write-test-model", str(models)], check=True)
    rng = np.random.default_rng(11)
    t = np.arange(16000 * 2) / 16000
    sig = (0.3 * np.sin(2 * np.pi * (300 + 1500 * t) * t) * (t % 0.5 < 0.2)
           + 0.01 * rng.standard_normal(t.size))
    wav = tmp_path / "x.wav"
    sf.write(wav, sig, 16000, subtype="PCM_16")
    script = tmp_path / "pcen.py"
    script.write_text(LIBROSA_PCEN)
    subprocess.run([str(ref_py), str(script), str(wav), str(tmp_path / "theirs.npy")], check=True)
    theirs = np.load(tmp_path / "theirs.npy")
    dump = tmp_path / "ours.f32"
    subprocess.run([str(BIN), "--model", "test-pcen-frontend", "--models-dir", str(models), "--dump-front-end",
                    str(wav), "--out", str(dump)], check=True)
    ours = np.fromfile(dump, dtype="<f4").reshape(theirs.shape)
    assert theirs.shape == (122, 257)
    err = np.abs(ours - theirs).max() / np.abs(theirs).max()
    assert err < 1e-5, err
