# Images of the soundscape stages (`just image`):
#   soundscape        every stage binary but spec-n-specvid (capture-stream and extract-samples among them) and the `soundscape` command, with the
#                     FFmpeg libraries the audio decoders link; no model weights (they reach the
#                     pods on the shared volume: docs/embeddings.md#models)
#   soundscape-video  the same plus spec-n-specvid
# Both run as the non-root user 10001 and carry the demo recordings under /opt/soundscape.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config clang libclang-dev \
      libavcodec-dev libavformat-dev libavutil-dev libswresample-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p get-audio-df -p dirstruct -p compute-soundscapes -p compute-embeddings -p embeddings -p spec-n-specvid -p upload-stages -p capture-stream -p extract-samples -p soundscape \
 && mkdir -p /out/bin \
 && cp target/release/get-audio-df target/release/dirstruct target/release/compute-soundscapes \
       target/release/compute-embeddings target/release/embeddings target/release/spec-n-specvid target/release/upload-alfresco target/release/upload-model \
       target/release/capture-stream target/release/extract-samples target/release/soundscape /out/bin/ \
 && mkdir -p /out/demo/tests/fixtures/golden \
 && cp -r demo /out/demo/demo \
 && cp -r tests/fixtures/golden/mini tests/fixtures/golden/edge /out/demo/tests/fixtures/golden/

FROM debian:bookworm-slim AS soundscape
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
      libavcodec59 libavformat59 libavutil57 libswresample4 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin soundscape
COPY --from=build /out/bin/get-audio-df /out/bin/dirstruct /out/bin/compute-soundscapes /out/bin/compute-embeddings /out/bin/embeddings \
     /out/bin/upload-alfresco /out/bin/upload-model /out/bin/capture-stream /out/bin/extract-samples /out/bin/soundscape /usr/local/bin/
COPY --from=build /out/demo /opt/soundscape
USER 10001:10001
WORKDIR /opt/soundscape
ENV SOUNDSCAPE_LOG_FORMAT=json
CMD ["soundscape", "--help"]

FROM soundscape AS soundscape-video
USER root
COPY --from=build /out/bin/spec-n-specvid /usr/local/bin/
USER 10001:10001
