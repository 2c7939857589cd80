"""The first three stages chained as the workflow runs them: get-audio-df on a SiPeCaM-like
folder tree, dirstruct, then compute-soundscapes on each unit folder; the audio table read back
by pyarrow/pandas, polars and DuckDB."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
BIN = Path(os.environ.get("SOUNDSCAPE_BIN_DIR", ROOT / "target" / "debug"))
UNIT = "92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04"
ID_ROOT = "/shared_volume/audio/soundscapes"


def run(name, *args, expect=0):
    done = subprocess.run([str(BIN / name), *map(str, args), "--no-progress"], capture_output=True, text=True)
    assert done.returncode == expect, f"{name}: {done.returncode}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    base = tmp_path_factory.mktemp("chain")
    tree = base / "archive"
    audio = tree / UNIT / "audio"
    audio.mkdir(parents=True)
    for f in (GOLDEN / "mini").glob("*.wav"):
        shutil.copy(f, audio / f.name)
    (audio / "EMPTY_20210804_070000.wav").write_bytes(b"")
    work, results = base / "work", base / "results"
    run("get-audio-df", "--source", tree, "--out", work, "--layout", "sipecam", expect=3)
    run("dirstruct", "--units", work / "units.json", "--results-dir", results, "--id-root", ID_ROOT)
    units = json.loads((work / "units.json").read_text())
    for u in units["units"]:
        run("compute-soundscapes", "--unit-dir", results / u["id"])
        run("spec-n-specvid", "--unit-dir", results / u["id"])
    return work, results


def test_audio_table_through_pandas(chain):
    import pandas as pd
    work, _ = chain
    df = pd.read_parquet(work / "audio.parquet")
    assert list(df["id"]) == ["MINI_20210804_055000", "MINI_20210804_062000"]
    assert list(df["duration"]) == [64.0, 31.5]
    assert list(df["samplerate"]) == [48000.0, 48000.0]
    assert list(df["nchannels"]) == [1, 1] and list(df["sampwidth"]) == [2, 2]
    assert list(df["time_raw"]) == ["05:50:00 04/08/2021 (+0000)", "06:20:00 04/08/2021 (+0000)"]
    assert str(df.time_utc.dt.tz) == "UTC"
    assert set(df["proc_unit"]) == {UNIT}
    assert list(df["cumulus"]) == ["92", "92"] and list(df["start_source"]) == ["file_name"] * 2
    assert list(df["node_integrity"]) == ["Integro", "Integro"]


def test_audio_table_through_polars_and_duckdb(chain):
    import duckdb
    import polars as pl
    work, _ = chain
    path = work / "audio.parquet"
    assert pl.read_parquet(path).height == 2
    assert duckdb.sql(f"select sum(duration) from read_parquet('{path}')").fetchall() == [(95.5,)]


def test_report_names_the_bad_file(chain):
    work, _ = chain
    report = json.loads((work / "run_report.json").read_text())
    assert report["summary"]["done"] == 2 and report["summary"]["failed"] == 1
    bad = [r for r in report["recordings"] if r["status"] == "failed"][0]
    assert "EMPTY_20210804_070000.wav" in bad["reason"]


def test_unit_folder_products_and_ids(chain):
    import pandas as pd
    _, results = chain
    unit = results / UNIT
    df = pd.read_parquet(unit / "hashed_soundscape.parquet")
    assert len(df) == 288
    assert list(df.proc_unit.iloc[0]) == ["1_92_1_1350", "248C7D075B1F7CDB", "2021-08-04"]
    meta = json.loads((unit / "soundscape_metadata.json").read_text())
    assert meta["product_id"] == json.loads((unit / "unit.json").read_text())["products"][0]["product_id"]
    assert meta["product_path"] == f"{ID_ROOT}/{UNIT}/hashed_soundscape.parquet"
    assert meta["CumulusName"] == 92
    assert meta["NodeCategoryIntegrity"] == "Integro"


def png_size(path):
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_plots_and_spectrograms_of_the_unit(chain):
    _, results = chain
    unit = results / UNIT
    for name in ["sequence.png", "mean_soundscape.png", "std_soundscape.png"]:
        assert png_size(unit / name) == (2000, 1500)
    selection = json.loads((unit / "selection.json").read_text())
    assert [(c["hour"], c["id"]) for c in selection] == [(5, "MINI_20210804_055000"), (6, "MINI_20210804_062000")]
    for c in selection:
        assert png_size(unit / f"{c['id']}.png") == (2000, 1000)
        meta = json.loads((unit / f"{c['id']}_spectrogram_metadata.json").read_text())
        assert meta["AudioID"] == c["id"] and meta["product_name"] == "Spectrogram"
        assert meta["product_path"] == f"{ID_ROOT}/{UNIT}/{c['id']}.png"
        assert meta["product_parent"] == json.loads((unit / "soundscape_metadata.json").read_text())["product_id"]
    report = json.loads((unit / "spec_n_specvid_report.json").read_text())
    assert report["summary"]["done"] == 2
    for c in selection:
        comp = json.loads((unit / f"{c['id']}_compressed.json").read_text())
        seg = comp["segments"]
        assert len(seg["start_times"]) == len(seg["end_times"]) == len(seg["widths"]) >= 1
        assert all(0 <= a < b <= seg["duration"] for a, b in zip(seg["start_times"], seg["end_times"]))
        assert png_size(unit / f"{c['id']}_compressed.png") == (seg["total_width"], seg["height"])


def test_videos_decode_with_one_h264_and_one_aac_stream(chain):
    _, results = chain
    unit = results / UNIT
    durations = {"MINI_20210804_055000": 64.0, "MINI_20210804_062000": 31.5}
    for rec, seconds in durations.items():
        mp4 = unit / f"{rec}.mp4"
        probe = json.loads(subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(mp4)],
            capture_output=True, text=True, check=True).stdout)
        kinds = sorted(s["codec_name"] for s in probe["streams"])
        assert kinds == ["aac", "h264"], kinds
        video = next(s for s in probe["streams"] if s["codec_name"] == "h264")
        audio = next(s for s in probe["streams"] if s["codec_name"] == "aac")
        assert (video["width"], video["height"]) == (500, 800)
        assert video["r_frame_rate"] == "60/1"
        assert abs(float(probe["format"]["duration"]) - seconds) <= 0.1
        assert abs(float(video["duration"]) - seconds) <= 0.1
        assert abs(float(audio["duration"]) - seconds) <= 0.05, audio["duration"]
        assert int(audio["sample_rate"]) == 48000
        # every frame decodes
        done = subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp4), "-f", "null", "-"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr.strip(), done.stderr
        meta = json.loads((unit / f"{rec}_spectrogram_video_metadata.json").read_text())
        assert meta["ClipStart"] == 0.0 and meta["ClipEnd"] == seconds
        assert meta["product_path"].endswith(f"/{rec}.mp4")


def test_help_of_the_new_stages():
    for name in ["get-audio-df", "dirstruct", "spec-n-specvid"]:
        h = subprocess.run([str(BIN / name), "--help"], capture_output=True, text=True)
        assert h.returncode == 0 and "Exit codes" in h.stdout
