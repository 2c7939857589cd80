//! Tables in and out of the soundscape engine.
//!
//! - [`input`]: the recordings to process, from a CSV manifest or a folder of files whose names
//!   carry the start time; every unusable row is kept as an error, never dropped.
//! - [`soundscape`]: `hashed_soundscape.parquet` with the columns, order and pandas metadata of
//!   the original (docs/files.md#compute-soundscapes), readable by pyarrow/pandas, polars and DuckDB.
//! - [`embeddings`]: the one schema of `embeddings.parquet` and its streaming writer.
//! - [`metadata`]: `soundscape_metadata.json` (docs/method.md#metadata).

pub mod embeddings;
pub mod input;
pub mod metadata;
pub mod soundscape;
