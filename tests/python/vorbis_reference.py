"""libsndfile's decoding of the Vorbis fixtures, the reference our Vorbis decoding is held to.

    .venv/bin/python tests/python/vorbis_reference.py          # rewrite the references
    (tests/python/test_vorbis_reference.py checks that they are what libsndfile gives)

The original pipeline read Vorbis through librosa and libsndfile (libvorbis); each reference is
the file decoded by pysoundfile to float32 mono, raw little-endian, beside the fixture.
"""
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "formats"
FILES = ["TONE_vorbis.ogg"]


def decode(name):
    x, _ = sf.read(FIXTURES / name, dtype="float32", always_2d=True)
    return x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]


def reference_path(name):
    return FIXTURES / (Path(name).stem + ".libsndfile.f32")


if __name__ == "__main__":
    for name in FILES:
        decode(name).astype("<f4").tofile(reference_path(name))
        print("wrote", reference_path(name), file=sys.stderr)
