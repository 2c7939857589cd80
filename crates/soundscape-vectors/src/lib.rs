//! Embedding tables that travel (docs/vectors.md): TFRecord shards of `tf.train.Example`
//! records as the A2O archive publishes its Perch embeddings, in and out of the
//! `embeddings.parquet` schema of the embeddings stage; the Embedding Projector's files; and
//! exact search by example. Data flows one way: shards → [`import`] → tables → [`table`] →
//! [`export`], [`projector`], [`search`].
//!
//! - [`tfrecord`]: the record framing (length, masked CRC32C, data, masked CRC32C), read and
//!   written streaming, plain or gzip, a corrupt record reported with its byte offset;
//! - [`a2o`]: the A2O archive's recording names (time, offset, site, subsite);
//! - [`example`]: `tf.train.Example` and the TensorProto of a serialized tensor, as prost
//!   messages;
//! - [`import`]: shards into `embeddings.parquet`, one row per window × channel;
//! - [`table`]: tables read a row group at a time, only the columns asked for;
//! - [`export`]: tables into shards in Perch's layout, with its `config.json`;
//! - [`search`]: the K most similar rows, streamed over threads; [`index`]: a table's unit
//!   vectors in a flat file beside it, which search reads at disk speed;
//! - [`projector`]: tensors, metadata and a sprite for the Embedding Projector and TensorBoard;
//! - [`media`]: the audio behind rows: where it is, spectrogram tiles and clips of windows.

pub mod a2o;
pub mod example;
pub mod export;
pub mod import;
pub mod index;
pub mod media;
pub mod projector;
pub mod search;
pub mod table;
pub mod tfrecord;

/// A temporary file in `dir` (renamed into place when complete), readable by everyone who can
/// reach the folder once it is (a temporary file would otherwise keep its private mode).
pub(crate) fn temp_in(dir: &std::path::Path) -> Result<tempfile::NamedTempFile, String> {
    let mut b = tempfile::Builder::new();
    b.prefix(".partial-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o644));
    }
    b.tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
}
