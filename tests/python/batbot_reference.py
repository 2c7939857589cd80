"""batbot 0.2.1's own results for some bat recordings, as JSON lines (run in .venv-batbot).

    python batbot_reference.py OUT_DIR FILE...

For every recording, one line {"file", "jpeg": {label: score}, "lossless": {label: score},
"picture": "OUT_DIR/<stem>.npy"} (and "classify_wav" for short recordings):

- "jpeg": batbot's pipeline: its spectrogram picture (batbot's own functions), saved as
  JPEG tiles of 50,000 columns, read back, resized, windowed and classified by batbot's
  Classifier on ONNX Runtime;
- "lossless": the same with the tiles saved losslessly (PNG), which is what our pipeline does
  in memory;
- "classify_wav": `Classifier.classify_wav`, batbot's whole pipeline from the file (slow: it
  also segments every call), for recordings shorter than 5,000 columns (0.32 s);
- "picture": the 8-bit picture, before JPEG.

    python batbot_reference.py --windows PGM

prints the windows batbot's classifier cuts from a picture's 50,000-column tiles (cv2.resize,
Lanczos-4), as raw grey bytes on stdout, to compare with ours byte for byte.
"""
import json
import sys
from pathlib import Path

import cv2
import numpy as np


def windows(pgm):
    from batbot.classifier.dataloader import _prepare_image

    grey = cv2.imread(str(pgm), cv2.IMREAD_GRAYSCALE)
    for x in range(0, grey.shape[1], 50_000):  # batbot's tiles
        bgr = cv2.cvtColor(np.ascontiguousarray(grey[:, x:x + 50_000]), cv2.COLOR_GRAY2BGR)
        w = _prepare_image(bgr)
        assert (w[..., 0] == w[..., 1]).all() and (w[..., 1] == w[..., 2]).all()
        sys.stdout.buffer.write(np.ascontiguousarray(w[..., 0]).tobytes())


def picture(path):
    """The 8-bit picture batbot draws of a recording: the steps of
    batbot.spectrogram.compute_wrapper that make its uncompressed spectrogram, which is what
    classify_wav classifies (the call segmentation after them only makes other pictures)."""
    import batbot.spectrogram as spec

    stft_db, _, _, _, _, _, _, _, max_band_idx = spec.load_stft(path, fast_mode=True)
    stft_db = spec.gain_stft(stft_db, max_band_idx=max_band_idx)
    stft_db = spec.normalize_stft(stft_db, None, np.uint16)
    stft_db = np.ascontiguousarray(stft_db[::-1, :])
    data = stft_db.astype(np.float32)
    data -= data.min()
    data /= data.max()
    return np.clip(np.around(data * 255.0), 0, 255).astype(np.uint8)


def classify(runner, tiles_dir, stem, pic, encode):
    """batbot's classifier on the picture cut into its 50,000-column tiles, each written with
    `encode` and read back from disk; the tiles' scores weighted by their window counts, as
    classify_wav does."""
    paths = []
    for i, x in enumerate(range(0, pic.shape[1], 50_000)):
        p = tiles_dir / f"{stem}.{i:02d}.{encode}"
        params = [cv2.IMWRITE_JPEG_QUALITY, 80] if encode == "jpg" else []
        ok, data = cv2.imencode("." + encode, pic[:, x:x + 50_000], params)
        assert ok
        p.write_bytes(data.tobytes())
        paths.append(p)
    results = runner.classify(paths, progress=False)
    weights = np.array([r["window_count"] for r in results], dtype=np.float64)
    labels = list(results[0]["scores"])
    values = np.array([[r["scores"][k] for k in labels] for r in results])
    return dict(zip(labels, map(float, np.average(values, axis=0, weights=weights))))


def main():
    if sys.argv[1] == "--windows":
        windows(sys.argv[2])
        return
    from batbot.classifier import Classifier

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    runner = Classifier(top_k=35)
    for path in sys.argv[2:]:
        stem = Path(path).stem
        pic = picture(path)
        line = {"file": path,
                "jpeg": classify(runner, out, stem, pic, "jpg"),
                "lossless": classify(runner, out, stem, pic, "png")}
        if "--full" in sys.argv[2:3] or len(pic[0]) < 5_000:
            # Short recordings: batbot's whole pipeline too, to show the steps above are it.
            line["classify_wav"] = runner.classify_wav(path, progress=False)["scores"]
        np.save(out / f"{stem}.npy", pic)
        line["picture"] = str(out / f"{stem}.npy")
        print(json.dumps(line))


if __name__ == "__main__":
    main()
