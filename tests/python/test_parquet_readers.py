"""The soundscape table read back by the tools people use: pyarrow/pandas, polars and DuckDB,
and compared with the original's golden output through pandas."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
BIN = Path(os.environ.get("COMPUTE_SOUNDSCAPES", ROOT / "target" / "debug" / "compute-soundscapes"))
sys.path.insert(0, str(Path(__file__).parent))
from compare_golden import compare  # noqa: E402


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    out = tmp_path_factory.mktemp("mini")
    cmd = [str(BIN), "--input", str(GOLDEN / "mini"), "--out", str(out), "--node", "0_00_1_0000",
           "--recorder", "HARNESS", "--cumulus", "92", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_pandas_reads_the_original_frame(mini):
    import pandas as pd
    df = pd.read_parquet(mini / "hashed_soundscape.parquet")
    assert list(df.columns)[:4] == ["id", "time_raw", "time_format", "time_zone"]
    assert df.index.name is None and list(df.index.unique()) == [0, 1]
    assert str(df.time_utc.dt.tz) == "UTC"
    assert df.crono_hash_30m.dtype == "int64"
    assert list(df.proc_unit.iloc[0]) == ["0_00_1_0000", "HARNESS", "2021-08-04"]
    assert len(df) == 288


def test_matches_the_golden_table_through_pandas(mini):
    problems = compare(mini / "hashed_soundscape.parquet", GOLDEN / "mini" / "hashed_soundscape.parquet")
    assert not problems, problems


def test_polars_reads_it(mini):
    import polars as pl
    df = pl.read_parquet(mini / "hashed_soundscape.parquet")
    assert df.height == 288
    assert df.schema["abs_start_time"] == pl.Datetime("ns", "UTC")
    assert df.schema["proc_unit"] == pl.List(pl.String)
    assert df["TOTAL"].null_count() == 0


def test_duckdb_reads_it(mini):
    import duckdb
    path = str(mini / "hashed_soundscape.parquet")
    rows = duckdb.sql(
        f"select crono_hash_30m, count(*), round(avg(TOTAL), 3) from read_parquet('{path}') group by 1 order by 1"
    ).fetchall()
    assert [r[:2] for r in rows] == [(0, 192), (1, 96)]


def test_the_run_report_lists_every_recording(mini):
    report = json.loads((mini / "run_report.json").read_text())
    assert report["summary"] == {"total": 2, "done": 2, "skipped": 0, "failed": 0}
    assert [r["status"] for r in report["recordings"]] == ["done", "done"]


def test_bad_files_give_exit_code_3_and_a_report(tmp_path):
    out = tmp_path / "edge"
    done = subprocess.run([str(BIN), "--input", str(GOLDEN / "edge"), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    report = json.loads((out / "run_report.json").read_text())
    by_id = {r["id"]: r for r in report["recordings"]}
    assert by_id["ESHORT_20210804_072000"]["status"] == "skipped"
    for bad in ["ETRUNC_20210804_074000", "EEMPTY_20210804_075000", "ETEXT_20210804_080000"]:
        assert by_id[bad]["status"] == "failed" and bad in by_id[bad]["reason"]
    import pyarrow.parquet as pq
    t = pq.read_table(out / "hashed_soundscape.parquet")
    assert t.num_rows == 3 * 96  # E441, ESILENT, ESTEREO


def test_help_and_usage_errors():
    h = subprocess.run([str(BIN), "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--manifest" in h.stdout and "Exit codes" in h.stdout
    bad = subprocess.run([str(BIN), "--out", "/tmp/x"], capture_output=True, text=True)
    assert bad.returncode == 2
