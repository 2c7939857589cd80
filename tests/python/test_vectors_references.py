"""The `embeddings` tool against other people's code: its TFRecord shards read by TensorBoard's
record reader (which checks every CRC) and the tfrecord package's tf.train.Example parser, with
the tensors parsed by TensorBoard's TensorProto; shards written by those packages imported; the
projector's log dir served by a real TensorBoard over HTTP; search hits read by DuckDB."""
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "target" / "debug"
EMB = Path(os.environ.get("EMBEDDINGS", TARGET / "embeddings"))
STAGE = Path(os.environ.get("COMPUTE_EMBEDDINGS", TARGET / "compute-embeddings"))


def run(*args):
    return subprocess.run([str(a) for a in args] + ["--no-progress"], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    """A unit folder of the embeddings stage (the tiny test model): two channels of two
    recordings, with the audio beside it."""
    tmp = tmp_path_factory.mktemp("vec")
    models = tmp / "models"
    subprocess.run([str(STAGE), "--write-test-model", str(models)], check=True)
    rec = tmp / "in"
    rec.mkdir()
    t = np.arange(16000 * 4) / 16000
    left = 0.5 * np.cos(2 * np.pi * np.where(t < 2.0, 1000, 3000) * t)
    right = 0.3 * np.cos(2 * np.pi * 500 * t)
    sf.write(rec / "R1_20240501_060000.flac", np.stack([left, right], 1), 16000, subtype="PCM_16")
    sf.write(rec / "R1_20240501_070000.flac", left[:32000], 16000, subtype="PCM_16")
    out = tmp / "unit"
    run(STAGE, "--input", rec, "--out", out, "--model", "test-linear", "--models-dir", models,
        "--node", "1_95_1_1350", "--recorder", "R1")
    return out


def tensor(raw):
    from tensorboard.compat.proto import tensor_pb2
    from tensorboard.util import tensor_util
    t = tensor_pb2.TensorProto()
    t.ParseFromString(raw)
    return tensor_util.make_ndarray(t)


def test_export_is_read_by_tensorboard_and_the_tfrecord_package(unit, tmp_path):
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
    from tensorboard.compat.tensorflow_stub import errors
    from tfrecord import reader
    run(EMB, "export", unit, "--out", tmp_path)
    shard = tmp_path / "embeddings-00000-of-00001"
    # Every record's framing and CRCs, as TensorBoard reads event files.
    r = pywrap_tensorflow.PyRecordReader_New(str(shard).encode())
    framed = 0
    while True:
        try:
            r.GetNext()
        except errors.OutOfRangeError:
            break
        framed += 1
    records = list(reader.tfrecord_loader(str(shard), None))
    assert framed == len(records) == 2  # a record per recording, its channels together
    table = pq.read_table(unit / "embeddings.parquet").to_pandas()
    got = []
    for ex in records:
        e = tensor(ex["embedding"])
        assert list(e.shape) == list(ex["embedding_shape"])
        name = ex["filename"].decode()
        rows = table[table.id == name].sort_values(["window", "channel"])
        start = float(ex["timestamp_s"][0])
        rows = rows[rows.start_time >= start - 1e-9].head(e.shape[0] * e.shape[1])
        want = np.stack(rows.embedding.to_numpy()).reshape(e.shape)
        np.testing.assert_array_equal(e, want)
        got.append((name, e.shape[1]))
    assert sorted(set(got)) == [("R1_20240501_060000", 2), ("R1_20240501_070000", 1)]


def test_shards_written_in_python_are_imported(tmp_path):
    from tensorboard.util import tensor_util
    from tfrecord import writer
    emb = np.arange(3 * 2 * 6, dtype=np.float32).reshape(3, 2, 6) / 7
    nuis = np.linspace(-1, 1, 3 * 2 * 3, dtype=np.float32).reshape(3, 2, 3)
    half = emb.astype(np.float16)
    shard = tmp_path / "shards" / "a2o-00000-of-00001"
    shard.parent.mkdir()
    w = writer.TFRecordWriter(str(shard))
    for name, t0, e in [("20201126T200000+0800_Great-Western-Woodlands-Wet-A_433266.flac", 60.0, emb),
                        ("20210105T043000Z_Tarcutta-Dry-B_12.flac", 0.0, half)]:
        w.write({
            "filename": (name.encode(), "byte"),
            "timestamp_s": (t0, "float"),
            "embedding": (tensor_util.make_tensor_proto(e).SerializeToString(), "byte"),
            "embedding_shape": (list(e.shape), "int"),
            "nuisances": (tensor_util.make_tensor_proto(nuis).SerializeToString(), "byte"),
        })
    w.close()
    out = tmp_path / "out"
    run(EMB, "import", shard.parent, "--out", out)
    t = pq.read_table(out / "embeddings.parquet").to_pandas()
    assert len(t) == 2 * 3 * 2
    first = t.iloc[:6]
    np.testing.assert_array_equal(np.stack(first.embedding.to_numpy()), emb.reshape(6, 6))
    np.testing.assert_array_equal(np.stack(t.iloc[6:].embedding.to_numpy()),
                                  half.astype(np.float32).reshape(6, 6))
    assert list(first.start_time) == [60, 60, 65, 65, 70, 70]
    assert list(first.channel) == [0, 1] * 3
    assert first.node.iloc[0] == "Great-Western-Woodlands" and first.recorder.iloc[0] == "Wet-A"
    np.testing.assert_array_equal(first.nuisance_speech.to_numpy(), nuis[:, :, 1].reshape(6))
    assert str(first.abs_start.iloc[0]) == "2020-11-26 12:01:00+00:00"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_projector_log_dir_is_served_by_tensorboard(unit, tmp_path):
    run(EMB, "projector", unit, "--out", tmp_path, "--pca", "3")
    port = free_port()
    tb = subprocess.Popen([str(ROOT / ".venv" / "bin" / "tensorboard"), "--logdir", str(tmp_path),
                           "--host", "127.0.0.1", "--port", str(port)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/data/plugin/projector"
    try:
        for _ in range(120):
            try:
                runs = urllib.request.urlopen(base + "/runs", timeout=2).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("TensorBoard did not answer")
        import json
        assert json.loads(runs) == ["."]
        info = json.loads(urllib.request.urlopen(base + "/info?run=.").read())
        e = info["embeddings"][0]
        rows = sum(1 for _ in open(tmp_path / "tensors.tsv"))
        assert e["tensorShape"] == [rows, 3]
        assert e["sprite"]["singleImageDim"] == [64, 64]
        served = np.frombuffer(urllib.request.urlopen(base + "/tensor?run=.&name=embeddings").read(), "<f4")
        want = np.loadtxt(tmp_path / "tensors.tsv", dtype=np.float32, ndmin=2)
        np.testing.assert_array_equal(served.reshape(want.shape), want)
        meta = urllib.request.urlopen(base + "/metadata?run=.&name=embeddings").read().decode().splitlines()
        assert meta[0].split("\t")[:2] == ["id", "node"] and len(meta) == rows + 1
        png = urllib.request.urlopen(base + "/sprite_image?run=.&name=embeddings").read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        side = int.from_bytes(png[16:20], "big")
        assert side == 64 * int(np.ceil(np.sqrt(rows)))
    finally:
        tb.terminate()
        tb.wait(timeout=30)
    report = json.loads((tmp_path / "projector_report.json").read_text())
    assert report["thumbnails"] == rows and report["blank_tiles"] == {}


def test_search_hits_read_by_duckdb(unit, tmp_path):
    import duckdb
    # Row 4 is the first window at 3 kHz; row 6 the other (the test model's bands).
    run(EMB, "search", "--embeddings", unit, "--query-row", "4", "--top", "3", "--out", tmp_path)
    path = tmp_path / "hits.parquet"
    hits = duckdb.sql(f"""select rank, row, similarity, id, "window" from '{path}' order by rank""").fetchall()
    assert [h[:2] for h in hits[:2]] == [(1, 4), (2, 6)]
    assert abs(hits[0][2] - 1.0) < 1e-6 and abs(hits[1][2] - 1.0) < 1e-3
    assert hits[1][3:] == ("R1_20240501_060000", 3)
    # Each hit's clip is its window of the recording (the channels' mean, as 16-bit WAV), and
    # its thumbnail a 128 px PNG.
    clip, thumb = duckdb.sql(f"select clip, thumbnail from '{path}' where rank = 2").fetchall()[0]
    got, rate = sf.read(tmp_path / clip)
    audio, sr = sf.read(unit.parent / "in" / "R1_20240501_060000.flac")
    assert rate == sr == 16000
    np.testing.assert_allclose(got, audio[3 * sr:4 * sr].mean(axis=1), atol=2 / 32768)
    png = (tmp_path / thumb).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 128


def test_search_by_an_audio_clip(unit, tmp_path):
    import duckdb
    # A 3 kHz clip through the tables' model: the two 3 kHz windows come first.
    t = np.arange(16000 * 2) / 16000
    clip = tmp_path / "clip.wav"
    sf.write(clip, 0.2 * np.cos(2 * np.pi * 3000 * t), 16000, subtype="PCM_16")
    out = tmp_path / "hits"
    run(EMB, "search", "--embeddings", unit, "--query-audio", clip, "--model", "test-linear",
        "--models-dir", unit.parent / "models", "--top", "2", "--out", out)
    path = out / "hits.parquet"
    hits = duckdb.sql(f"select row, similarity from '{path}' order by rank").fetchall()
    assert [h[0] for h in hits] == [4, 6] and min(h[1] for h in hits) > 0.999
