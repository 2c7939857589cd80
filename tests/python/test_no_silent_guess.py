"""Stages never silently do nothing and never silently guess: the cases a newcomer meets.

- get-audio-df without --layout on a SiPeCaM-shaped tree reads it as one; on another tree it
  groups recordings by folder; either way the report says what it did;
- spec-n-specvid works on a folder that compute-soundscapes --out wrote alone;
- a stage whose input holds nothing to do says so and exits 1.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
BIN = Path(os.environ.get("SOUNDSCAPE_BIN_DIR", ROOT / "target" / "debug"))
MINI = sorted((GOLDEN / "mini").glob("*.wav"))


def run(name, *args, expect=0):
    done = subprocess.run([str(BIN / name), *map(str, args), "--no-progress"],
                          capture_output=True, text=True)
    assert done.returncode == expect, f"{name}: {done.returncode}\n{done.stderr}"
    return done


def copy_mini(dest, prefix="MINI"):
    dest.mkdir(parents=True, exist_ok=True)
    for f in MINI:
        shutil.copy(f, dest / f.name.replace("MINI", prefix))


def test_sipecam_tree_without_layout(tmp_path):
    tree = tmp_path / "archive"
    copy_mini(tree / "92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04/audio")
    # The same recorder again three years later: its own deployment, its own unit.
    later = tree / "92/1_92_1_1350/248C7D075B1F7CDB/2024-08-04"
    later.mkdir(parents=True)
    shutil.copy(MINI[0], later / "MINI_20240804_055000.wav")
    run("get-audio-df", "--source", tree, "--out", tmp_path / "work")
    units = json.loads((tmp_path / "work" / "units.json").read_text())
    assert [u["id"] for u in units["units"]] == [
        "92/1_92_1_1350/248C7D075B1F7CDB/2021-08-04",
        "92/1_92_1_1350/248C7D075B1F7CDB/2024-08-04",
    ]
    report = json.loads((tmp_path / "work" / "run_report.json").read_text())
    assert any("--layout sipecam" in w for w in report["warnings"]), report["warnings"]


def test_other_trees_are_grouped_by_folder(tmp_path):
    tree = tmp_path / "archive"
    copy_mini(tree / "site-a", "SITEA")
    copy_mini(tree / "site-b", "SITEB")
    run("get-audio-df", "--source", tree, "--out", tmp_path / "work")
    units = json.loads((tmp_path / "work" / "units.json").read_text())
    assert [u["recorder"] for u in units["units"]] == ["site-a", "site-b"]
    report = json.loads((tmp_path / "work" / "run_report.json").read_text())
    assert any("2 folders" in w and "--layout" in w for w in report["warnings"]), report


def test_spec_n_specvid_on_a_compute_only_folder(tmp_path):
    audio = tmp_path / "audio"
    copy_mini(audio)
    out = tmp_path / "unit"
    run("compute-soundscapes", "--input", audio, "--out", out, "--cumulus", "92",
        "--node", "1_92_1_1350", "--recorder", "REC1", "--deployment", "2021-08-04")
    assert not (out / "unit.json").exists()
    run("spec-n-specvid", "--unit-dir", out, "--no-video", "--no-compressed")
    report = json.loads((out / "spec_n_specvid_report.json").read_text())
    assert report["summary"]["done"] >= 1 and report["summary"]["failed"] == 0, report
    assert any("no unit.json" in w for w in report["warnings"]), report["warnings"]
    for r in report["recordings"]:
        assert (out / f"{r['id']}.png").stat().st_size > 0
        meta = json.loads((out / f"{r['id']}_spectrogram_metadata.json").read_text())
        assert meta["NomenclatureNode"] == "1_92_1_1350" and meta["SerialNumber"] == "REC1"


def test_nothing_to_do_is_said_and_fails(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    done = run("get-audio-df", "--source", empty, "--out", tmp_path / "work", expect=1)
    assert "nothing to do" in done.stderr
    done = run("compute-soundscapes", "--input", empty, "--out", tmp_path / "out", expect=1)
    assert "nothing to do" in done.stderr
    done = run("spec-n-specvid", "--unit-dir", empty, expect=1)
    assert "not a unit folder" in done.stderr
    done = run("upload-alfresco", "--results-dir", empty, "--s3", f"file://{tmp_path}/store",
               expect=1)
    assert "no unit folders" in done.stderr
    # Everything filtered out: the report says why, and the run fails.
    tree = tmp_path / "tree"
    copy_mini(tree)
    done = run("get-audio-df", "--source", tree, "--out", tmp_path / "work2",
               "--sample-rate", "96000", expect=1)
    report = json.loads((tmp_path / "work2" / "run_report.json").read_text())
    assert any("nothing to do" in e for e in report["errors"]), report
    assert all("filtered out" in r["reason"] for r in report["recordings"])


def run_poisoned(name, ids, *args, expect):
    env = {**os.environ, "SOUNDSCAPE_TEST_PANIC_IDS": ids}
    done = subprocess.run([str(BIN / name), *map(str, args), "--no-progress"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == expect, f"{name}: {done.returncode}\n{done.stderr}"
    return done


def test_one_poisoned_item_fails_alone_in_every_stage(tmp_path):
    """A panic inside one item's work (the test hook) fails that item with its reason; the
    other items are written and the exit code says partial (3)."""
    audio = tmp_path / "92/1_92_1_1350/REC1/2021-08-04"
    copy_mini(audio)
    bad, good = "MINI_20210804_055000", "MINI_20210804_062000"

    run_poisoned("get-audio-df", bad, "--source", tmp_path / "92/..", "--out", tmp_path / "work",
                 expect=3)
    report = json.loads((tmp_path / "work" / "run_report.json").read_text())
    status = {r["id"]: r for r in report["recordings"]}
    assert status[bad]["status"] == "failed" and "internal error" in status[bad]["reason"]
    assert status[good]["status"] == "done"

    out = tmp_path / "unit"
    run("compute-soundscapes", "--input", audio, "--out", out, "--cumulus", "92",
        "--node", "1_92_1_1350", "--recorder", "REC1", "--deployment", "2021-08-04")
    chosen = [c["id"] for c in json.loads((out / "selection.json").read_text())] \
        if (out / "selection.json").exists() else None
    run_poisoned("spec-n-specvid", bad, "--unit-dir", out, "--no-video", "--per-hour", "3",
                 expect=3)
    report = json.loads((out / "spec_n_specvid_report.json").read_text())
    status = {r["id"]: r for r in report["recordings"]}
    assert chosen is None
    assert status[bad]["status"] == "failed" and "poisoned" in status[bad]["reason"], status
    assert status[good]["status"] == "done" and (out / f"{good}.png").is_file()

    store = tmp_path / "store"
    run_poisoned("upload-alfresco", f"{good}.png", "--unit-dir", out, "--s3", f"file://{store}",
                 expect=3)
    report = json.loads((out / "upload_report.json").read_text())
    files = {f["file"]: f for f in report["files"]}
    assert files[f"{good}.png"]["status"] == "failed"
    assert "internal error" in files[f"{good}.png"]["reason"]
    assert files["hashed_soundscape.parquet"]["status"] == "done"
    assert (store / "92/1_92_1_1350/REC1/2021-08-04/hashed_soundscape.parquet").is_file()


def test_recordings_without_a_start_time(tmp_path):
    import pandas as pd
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    for i, f in enumerate(MINI):  # 64 s, then 31.5 s
        dest = tree / "a" / f"rec{i + 1}.wav"
        shutil.copy(f, dest)
        os.utime(dest, (1628053200 + i, 1628053200 + 3600 * i))  # 2021-08-04T05:00Z, 06:00Z

    done = run("get-audio-df", "--source", tree, "--out", tmp_path / "w0", expect=1)
    report = json.loads((tmp_path / "w0" / "run_report.json").read_text())
    reasons = [r["reason"] for r in report["recordings"]]
    assert all("no start time" in r and "--start-from mtime" in r and "--starts" in r
               for r in reasons), reasons

    def table(out, *flags):
        run("get-audio-df", "--source", tree, "--out", tmp_path / out, *flags)
        df = pd.read_parquet(tmp_path / out / "audio.parquet")
        return list(df["start"]), set(df["start_source"])

    starts, source = table("w1", "--start-from", "mtime")
    assert starts == ["2021-08-04T05:00:00+00:00", "2021-08-04T06:00:00+00:00"]
    assert source == {"mtime"}

    starts, source = table("w2", "--start", "2021-08-04T05:00:00-05:00")
    assert starts == ["2021-08-04T05:00:00-05:00", "2021-08-04T05:01:04-05:00"]
    assert source == {"fixed"}

    csv = tmp_path / "starts.csv"
    csv.write_text("folder,start\na,2021-08-05T00:00:00Z\n")
    starts, source = table("w3", "--starts", csv)
    assert starts == ["2021-08-05T00:00:00+00:00", "2021-08-05T00:01:04+00:00"]
    assert source == {"folder_csv"}
