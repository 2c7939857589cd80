//! Embedding tables that travel (docs/vectors.md): TFRecord shards of `tf.train.Example`
//! records as the A2O archive publishes its Perch embeddings, in and out of the
//! `embeddings.parquet` schema of the embeddings stage.
//!
//! - [`tfrecord`]: the record framing (length, masked CRC32C, data, masked CRC32C), read and
//!   written streaming, plain or gzip, a corrupt record reported with its byte offset;
//! - [`a2o`]: the A2O archive's recording names (time, offset, site, subsite);
//! - [`example`]: `tf.train.Example` and the TensorProto of a serialized tensor, as prost
//!   messages;
//! - [`import`]: shards into `embeddings.parquet`, one row per window × channel.

pub mod a2o;
pub mod example;
pub mod import;
pub mod tfrecord;
