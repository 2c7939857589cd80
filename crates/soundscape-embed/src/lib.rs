//! Embeddings and species detections of recordings (docs/embeddings.md).
//!
//! A model is a folder with a manifest ([`manifest`]); [`model::Model`] loads it, its
//! [`frontend`] turns windows of audio into the network's input, [`network`] runs the ONNX
//! graph with tract, [`analyze`] takes one recording through it in one streaming pass
//! (decode, [`resample`], windows, batches), and [`tables`] writes `embeddings.parquet`,
//! `detections.parquet` and the review tables. [`stage`] is the compute-embeddings stage:
//! recordings in parallel, every one done, skipped or failed in `embeddings_report.json`.

pub mod analyze;
pub mod frontend;
pub mod manifest;
pub mod model;
pub mod network;
pub mod resample;
pub mod stage;
pub mod tables;
pub mod testmodel;
