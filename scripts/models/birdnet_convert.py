"""Turn BirdNET V2.4's TFLite model into what compute-embeddings runs.

The TFLite graph opens with an RFFT that neither tract nor tf2onnx can take, so the network is
converted from the tensor after the spectrogram front end (`model/concatenate/concat`) with
tf2onnx, and the front end's constants (the two periodic Hann windows and BirdNET's own mel
matrices) are written beside it as one little-endian float32 file; the Rust front end
computes the rest (docs/embeddings.md#birdnet). The constants' other values (frame lengths
and steps, exponents, scaling) are checked against what the manifest says.

usage: python birdnet_convert.py MODEL.tflite OUT_DIR MANIFEST.json
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


def main():
    tflite, out, manifest_path = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    manifest = json.loads(manifest_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    onnx = out / manifest["weights"]
    subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--opset", "17",
         "--inputs", "model/concatenate/concat",
         "--outputs", "Identity,model/GLOBAL_AVG_POOL/Mean", "--output", str(onnx)],
        check=True, stdout=subprocess.DEVNULL,
    )

    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=str(tflite), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    tensors = {t["name"]: t["index"] for t in it.get_tensor_details()}

    def const(name):
        return it.get_tensor(tensors[name])

    parts = []
    for ch, spec in zip((1, 2), manifest["front_end"]["channels"]):
        p = f"model/MEL_SPEC{ch}"
        length, step = int(const(f"{p}/stft/frame_length")), int(const(f"{p}/stft/frame_step"))
        exponent = float(const(f"{p}/truediv_1"))
        if (length, step) != (spec["frame_length"], spec["frame_step"]) or abs(exponent - spec["exponent"]) > 1e-7:
            sys.exit(f"channel {ch}: the model has frames {length}/{step}, exponent {exponent}; the manifest says {spec}")
        window = const(f"{p}/stft/hann_window/sub_2").astype("<f4")
        mel = const(f"{p}/Tensordot/MatMul").astype("<f4")
        if mel.shape != (spec["mel_bands"], length // 2 + 1):
            sys.exit(f"channel {ch}: mel matrix {mel.shape}, expected ({spec['mel_bands']}, {length // 2 + 1})")
        parts += [window.ravel(), mel.ravel()]
    for name, want in [("model/MEL_SPEC1/add/y", 1e-6), ("model/MEL_SPEC1/Sub_1/y", 0.5), ("model/MEL_SPEC1/Mul/y", 2.0)]:
        if abs(float(const(name)) - want) > 1e-12:
            sys.exit(f"{name} is {float(const(name))}, the Rust front end assumes {want}")
    np.concatenate(parts).astype("<f4").tofile(out / manifest["front_end"]["constants"])


if __name__ == "__main__":
    main()
