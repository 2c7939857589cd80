# Recipes of the soundscape pipeline. `just` lists them.
set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := env_var("HOME") + "/.cargo/bin:" + env_var("PATH")

demo_unit := "demo-out/results/92/0_00_1_0000/HARNESS/2021-08-04"

default:
    @just --list

# Install build tools, Rust, just and the Python test packages (Debian 12).
setup:
    bash scripts/setup.sh

# Release build of every binary.
build:
    cargo build --release --workspace

# Run the whole pipeline on the bundled demo recordings with `soundscape run` (list, layout,
# soundscape and plots, spectrograms and videos, upload to a local object store folder) and
# show what came out.
demo: setup
    cargo build --release --workspace --bins
    ./target/release/soundscape run --input demo/manifest.csv --out demo-out --set "s3-url=file://$PWD/demo-out/store"
    .venv/bin/python demo/show.py {{demo_unit}}

# Every test: formatting and lints, Rust unit and integration tests, then the parquet readers
# (pyarrow, pandas, polars, DuckDB).
test: lint
    cargo build --workspace --bins
    cargo test --workspace
    .venv/bin/python -m pytest -q tests/python

# Benchmark: seconds per audio hour on one core, peak memory of a one-hour file, scaling with cores.
bench *ARGS:
    cargo build --release -p compute-soundscapes -p soundscape-bench
    ./target/release/soundscape-bench {{ARGS}}

# Benchmark: listing 100,000 files with get-audio-df (names only, and with headers read).
bench-listing *ARGS:
    cargo build --release -p get-audio-df -p soundscape-bench
    ./target/release/listing-bench {{ARGS}}

# Benchmark: spectrogram video rendering speed on one core (60 s recording, 500x800, 60 fps).
bench-video *ARGS:
    cargo build --release -p soundscape-bench --bin video-bench
    ./target/release/video-bench {{ARGS}}

# Render the Argo WorkflowTemplate and Workflow into argo/ (a test checks they are fresh).
render:
    cargo run -q -p soundscape -- render --out argo

# Lints.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
