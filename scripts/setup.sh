#!/usr/bin/env bash
# Installs what building, the demo and the tests need, on Debian 12 (and reruns as a no-op):
# C toolchain, pkg-config, FFmpeg development libraries, libclang and the ffmpeg tools (apt), Rust (rustup, only if cargo is missing), `just` and the
# s3s-fs S3 test server (cargo), and the Python packages the tests read parquet with, in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
# FFmpeg libraries (H.264/AAC video of spec-n-specvid, through ffmpeg-next), libclang for its
# bindings, and the ffmpeg/ffprobe tools the tests check the videos with.
if ! pkg-config --exists libavcodec libavformat libavutil 2>/dev/null; then
  need_apt+=(libavcodec-dev libavformat-dev libavutil-dev)
fi
if ! compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && ! compgen -G '/usr/lib/x86_64-linux-gnu/libclang*.so*' >/dev/null; then
  need_apt+=(libclang-dev clang)
fi
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
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

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pyarrow, pandas, polars, duckdb, pytest, kubernetes_validate' >/dev/null 2>&1; then
  echo "setup: Python test packages into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi
echo "setup: ready (cargo $(cargo --version | cut -d' ' -f2), just $(just --version | cut -d' ' -f2))"
