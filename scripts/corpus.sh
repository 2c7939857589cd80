#!/usr/bin/env bash
# Fetches real recordings that registry packages ship into tests/corpus/ (git-ignored), checks
# their sha256, and writes a few variants with ffmpeg:
#   birds/  opensoundscape 0.13.2 (PyPI, MIT): sample_data/birds_10s.wav, a 10 s dawn chorus
#           at 32 kHz; and the same as 44.1 kHz FLAC
#   bats/   batdetect2 1.3.1 (PyPI sdist): the bat recordings of its tests (AudioMoth,
#           Echometer and others, 250-500 kHz)
#   reference/  VGGish's mel_features.py (torchvggish 0.2 sdist)
#   perch/  perch-hoplite 1.0.2 (PyPI, Apache-2.0): the TFRecord shard of Perch embeddings its
#           tests read (written by TensorFlow), with its config.json
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=tests/corpus
cache=$corpus/.cache
mkdir -p "$cache" "$corpus/birds" "$corpus/bats"
py=${PYTHON:-python3}

check() {
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { echo "corpus: $1: sha256 $got, expected $2" >&2; exit 1; }
}

fetch() { # fetch NAME==VERSION FILE HASH [--no-binary]
    local f="$cache/$2"
    if [ ! -f "$f" ]; then
        echo "corpus: downloading $1 from PyPI"
        "$py" -m pip download -q --no-deps ${4:-} "$1" -d "$cache"
    fi
    check "$f" "$3"
}

if [ ! -f "$corpus/birds/birds_10s.wav" ]; then
    fetch opensoundscape==0.13.2 opensoundscape-0.13.2-py3-none-any.whl f50b3ee4aa32538cdc8cde8aba934689663dde7f94769338219fcc43828cb24c
    "$py" - "$cache/opensoundscape-0.13.2-py3-none-any.whl" "$corpus/birds" <<'PY'
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1]) as z:
    pathlib.Path(sys.argv[2], "birds_10s.wav").write_bytes(z.read("opensoundscape/sample_data/birds_10s.wav"))
PY
fi
check "$corpus/birds/birds_10s.wav" 90e70f9ceb33392a948c10465db50fbf4bf252ae412c2e9f18d0bf9a1e7f31a7
[ -f "$corpus/birds/birds_10s_44k.flac" ] ||
    ffmpeg -loglevel error -y -i "$corpus/birds/birds_10s.wav" -ar 44100 -sample_fmt s16 "$corpus/birds/birds_10s_44k.flac"

if [ -z "$(ls "$corpus/bats" 2>/dev/null)" ]; then
    fetch batdetect2==1.3.1 batdetect2-1.3.1.tar.gz 8424b24624e3e8a20dcf63a2e0b2d8ba43556b9b1899a1800c626e19e2292e03 "--no-binary=:all:"
    "$py" - "$cache/batdetect2-1.3.1.tar.gz" "$corpus/bats" <<'PY'
import sys, tarfile, pathlib
out = pathlib.Path(sys.argv[2])
with tarfile.open(sys.argv[1]) as t:
    for m in t.getmembers():
        if "/tests/data/" in m.name and m.name.lower().endswith(".wav"):
            (out / pathlib.Path(m.name).name).write_bytes(t.extractfile(m).read())
PY
fi
# Reference code: VGGish's log-mel front end (mel_features.py of the VGGish release, as the
# torchvggish 0.2 sdist ships it; Apache-2.0), for tests/python/test_embeddings_readers.py.
mkdir -p "$corpus/reference"
if [ ! -f "$corpus/reference/mel_features.py" ]; then
    fetch torchvggish==0.2 torchvggish-0.2.tar.gz fc4d7cc17db557867bf793625f8897f0fc0c6877be737df26ee7d9df6e4ce35f "--no-binary=:all:"
    "$py" - "$cache/torchvggish-0.2.tar.gz" "$corpus/reference" <<'PY'
import sys, tarfile, pathlib
with tarfile.open(sys.argv[1]) as t:
    pathlib.Path(sys.argv[2], "mel_features.py").write_bytes(t.extractfile("torchvggish-0.2/torchvggish/mel_features.py").read())
PY
fi

# A TFRecord shard written by TensorFlow: six 60 s recordings, 128-d embeddings per 5 s window.
mkdir -p "$corpus/perch"
shard=embeddings-1730850444-00000-of-00001
if [ ! -f "$corpus/perch/$shard" ]; then
    fetch perch-hoplite==1.0.2 perch_hoplite-1.0.2-py3-none-any.whl c95e71b878c8e6d1986e42854fb22c9b902e313c2618f54391a245f387c0d80e
    "$py" - "$cache/perch_hoplite-1.0.2-py3-none-any.whl" "$corpus/perch" "$shard" <<'PY'
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in (sys.argv[3], "config.json"):
        pathlib.Path(sys.argv[2], name).write_bytes(z.read("perch_hoplite/agile/tests/testdata/" + name))
PY
fi
check "$corpus/perch/$shard" 2d8ae095bf18b80cb2f36070494567b6820a2364831122f466062537277876b2

echo "corpus: ready in $corpus ($(ls "$corpus/birds" | wc -l) bird, $(ls "$corpus/bats" | wc -l) bat recordings)"
