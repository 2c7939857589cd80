"""The vendored Vorbis references are what libsndfile decodes (see vorbis_reference.py)."""
import numpy as np
import soundfile as sf

from vorbis_reference import FILES, decode, reference_path


def test_references_are_libsndfiles_decoding():
    assert sf.__libsndfile_version__
    for name in FILES:
        vendored = np.fromfile(reference_path(name), dtype="<f4")
        assert np.array_equal(vendored, decode(name)), name
