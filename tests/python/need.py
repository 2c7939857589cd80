"""The one rule of the tests that need fetched things (models, recordings, reference venvs):
skip when they are missing, but fail under `just test`, which fetches them first and sets
SOUNDSCAPE_REQUIRE_MODELS=1."""
import os

import pytest


def need(path, what):
    if not path.exists():
        if os.environ.get("SOUNDSCAPE_REQUIRE_MODELS") == "1":
            pytest.fail(f"{what} missing: {path}")
        pytest.skip(f"{what} missing: {path}")
