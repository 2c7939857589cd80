"""`soundscape run` on two units in two time zones, one recording broken: the run summary names
the failure, and the run's tables come out as one Hive-partitioned dataset that DuckDB, polars
and pyarrow read with one glob; the queries of docs/dataset.md run on it (the detections one on
a run with a model); collecting again rewrites nothing."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
BIN = Path(os.environ.get("SOUNDSCAPE_BIN_DIR", ROOT / "target" / "debug"))
UNIT_A = "92/0_00_1_0000/HARNESS/2021-08-04"
UNIT_B = "93/0_00_1_0001/SECOND/2021-08-04"


def write_manifest(base, broken=True):
    empty = base / "EMPTY_20210804_080000.wav"
    empty.write_bytes(b"")
    rows = [
        (GOLDEN / "mini" / "MINI_20210804_055000.wav", "2021-08-04T00:50:00-05:00", "0_00_1_0000", "HARNESS", "America/Mexico_City", "92"),
        (GOLDEN / "mini" / "MINI_20210804_062000.wav", "2021-08-04T01:20:00-05:00", "0_00_1_0000", "HARNESS", "America/Mexico_City", "92"),
        (GOLDEN / "edge" / "ESTEREO_20210804_071000.flac", "2021-08-04T02:10:00-05:00", "0_00_1_0001", "SECOND", "America/Cancun", "93"),
    ] + ([(empty, "2021-08-04T03:00:00-05:00", "0_00_1_0001", "SECOND", "America/Cancun", "93")] if broken else [])
    manifest = base / "manifest.csv"
    manifest.write_text("path,start,node,recorder,deployment,time_zone,cumulus\n" + "".join(
        f"{p},{s},{n},{r},2021-08-04,{tz},{c}\n" for p, s, n, r, tz, c in rows))
    return manifest


def run(manifest, out, *extra):
    return subprocess.run([str(BIN / "soundscape"), "run", "--input", str(manifest), "--out", str(out), "--no-progress", *extra],
                          capture_output=True, text=True, env={**os.environ, "SOUNDSCAPE_BIN_DIR": str(BIN)})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    out = base / "out"
    done = run(write_manifest(base), out)
    assert done.returncode == 3, done.stderr
    return out


@pytest.fixture(scope="module")
def model_run_dir(tmp_path_factory):
    """The same units with the small linear test model: embeddings and detections too."""
    base = tmp_path_factory.mktemp("model-run")
    models = base / "models"
    w = subprocess.run([str(BIN / "compute-embeddings"), "--write-test-model", str(models)], capture_output=True, text=True)
    assert w.returncode == 0, w.stderr
    out = base / "out"
    done = run(write_manifest(base, broken=False), out, "--set", "model=test-linear", "--set", f"models-dir={models}")
    assert done.returncode == 0, done.stderr
    return out


def documented_queries():
    """The SQL statements of docs/dataset.md, by the dataset they read."""
    text = (ROOT / "docs" / "dataset.md").read_text()
    sql = "\n".join(re.findall(r"```sql\n(.*?)```", text, re.S))
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    return {re.search(r"dataset/(\w+)/", s).group(1): s for s in statements} | {"all": statements}


def test_the_summary_counts_every_stage_and_names_the_broken_recording(run_dir):
    s = json.loads((run_dir / "work" / "run_summary.json").read_text())
    assert s["status"] == "partial"
    # The empty file is refused when it is listed; the three others go all the way.
    assert (s["units"], s["recordings"]) == (2, 3)
    stages = {x["stage"]: x for x in s["stages"]}
    assert stages["get-audio-df"]["items"]["failed"] == 1, stages["get-audio-df"]
    cs = stages["compute-soundscapes"]
    assert cs["units"]["done"] == 2, cs
    assert cs["items"]["done"] == 3 and cs["items"]["failed"] == 0, cs
    assert cs["seconds"] > 0 and cs["audio_hours"] > 0
    assert stages["spec-n-specvid"]["units"]["done"] == 2
    assert stages["upload-alfresco"]["units"]["skipped"] == 2, "no target"
    assert [f["stage"] for f in s["failed"]] == ["get-audio-df"], s["failed"]
    assert "EMPTY_20210804_080000" in s["failed"][0]["item"] and s["failed"][0]["reason"]
    brief = json.loads((run_dir / "work" / "run_summary.brief.json").read_text())
    assert brief["failed_total"] == s["failed_total"]


def test_one_glob_reads_every_unit_with_its_keys(run_dir):
    glob = str(run_dir / "dataset" / "soundscapes" / "**" / "*.parquet")
    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT cumulus, node, recorder, deployment, count(*) AS cells, count(DISTINCT id) AS recordings
        FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false)
        GROUP BY ALL ORDER BY cumulus""").fetchall()
    assert [r[:4] for r in rows] == [("92", "0_00_1_0000", "HARNESS", "2021-08-04"), ("93", "0_00_1_0001", "SECOND", "2021-08-04")]
    assert [r[5] for r in rows] == [2, 1]
    # The same cells as the unit tables.
    for unit, (_, _, _, _, cells, _) in zip([UNIT_A, UNIT_B], rows):
        n = con.execute(f"SELECT count(*) FROM '{run_dir / 'results' / unit / 'hashed_soundscape.parquet'}'").fetchone()[0]
        assert n == cells
    assert ds.dataset(run_dir / "dataset" / "soundscapes", partitioning="hive").count_rows() == sum(r[4] for r in rows)
    df = pl.read_parquet(glob, hive_partitioning=True)
    assert set(df["node"].unique()) == {"0_00_1_0000", "0_00_1_0001"}
    assert df.schema["abs_start_time"] == pl.Datetime("ns", "UTC")


def test_the_documented_queries_run(run_dir, model_run_dir):
    queries = documented_queries()
    assert len(queries["all"]) == 3, queries["all"]
    con = duckdb.connect()

    def on(out, statement):
        return con.execute(statement.replace("'dataset/", f"'{out}/dataset/")).fetchall()

    per_hour, per_deployment = (on(run_dir, q) for q in queries["all"][:2])
    assert per_hour and all(r[2] is not None for r in per_hour)
    assert {r[0] for r in per_hour} == {"0_00_1_0000", "0_00_1_0001"}
    assert sum(r[4] for r in per_deployment) == 3
    # The small test model's scores stay near 1/3 (three classes), so its threshold is lower.
    assert "score >= 0.5" in queries["detections"]
    per_night = on(model_run_dir, queries["detections"].replace("score >= 0.5", "score >= 0.3"))
    assert per_night, "the test model detects something"
    # The same count as the unit tables, read one by one.
    direct = sum(
        con.execute(f"SELECT count(*) FROM '{model_run_dir / 'results' / unit / 'detections.parquet'}' WHERE score >= 0.3").fetchone()[0]
        for unit in [UNIT_A, UNIT_B])
    assert sum(r[2] for r in per_night) == direct
    assert {r[1].isoformat() for r in per_night} <= {"2021-08-03", "2021-08-04"}


def test_collecting_again_rewrites_only_what_changed(run_dir):
    part = run_dir / "dataset" / "soundscapes" / "cumulus=92" / "node=0_00_1_0000" / "recorder=HARNESS" / "deployment=2021-08-04" / "part-0.parquet"
    before = part.stat().st_mtime_ns
    done = subprocess.run([str(BIN / "soundscape"), "collect", "--run-dir", str(run_dir), "--log-format=json"],
                          capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    logged = [json.loads(l) for l in done.stderr.splitlines() if l.startswith("{")]
    end = next(l for l in logged if l.get("message") == "collected")
    assert (end["written"], end["kept"], end["removed"]) == (0, 2, 0), end
    assert part.stat().st_mtime_ns == before
    assert "run partial: 2 units, 3 recordings" in done.stdout
    # A unit table that changes is rewritten; one that is gone leaves the dataset.
    unit_b = run_dir / "results" / UNIT_B / "hashed_soundscape.parquet"
    shutil.move(unit_b, unit_b.with_suffix(".moved"))
    done = subprocess.run([str(BIN / "soundscape"), "collect", "--run-dir", str(run_dir), "--log-format=json"],
                          capture_output=True, text=True)
    logged = [json.loads(l) for l in done.stderr.splitlines() if l.startswith("{")]
    end = next(l for l in logged if l.get("message") == "collected")
    assert (end["written"], end["kept"], end["removed"]) == (0, 1, 1), end
    assert not (run_dir / "dataset" / "soundscapes" / "cumulus=93").exists()
    shutil.move(unit_b.with_suffix(".moved"), unit_b)
