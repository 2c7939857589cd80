//! Live stream capture: audio streams (Icecast and Shoutcast over HTTP, local files and FIFOs)
//! into fixed-length mono FLAC chunks that the batch pipeline lists like recordings.
//!
//! - [`config`]: the sources file.
//! - [`timeline`]: the sample clock of a source, chunk boundaries and names (pure arithmetic).
//! - [`flac`]: one FLAC chunk being written (FFmpeg's encoder).
//! - [`index`]: `chunks.jsonl`, the chunks and gaps of every source.
//! - [`capture`]: one source's reader and chunker threads, reconnection and stalls.
//! - [`metrics`]: per-source counters, `/health` and the Prometheus text.
//! - [`store`]: with `--store`, the chunks and the index into object storage.
//! - [`service`]: all sources, the HTTP endpoints, signals and the report.
//!
//! Data flows one way: config -> capture (reader -> chunker -> flac, index -> store) ->
//! metrics -> service.

pub mod capture;
pub mod config;
pub mod flac;
pub mod index;
pub mod metrics;
pub mod service;
pub mod store;
pub mod timeline;
