//! Live detections (docs/streams.md#live-detections): every window of every captured channel
//! through a model of the embeddings stage, or through Tidzam's cascade of a selector model and
//! expert models, in real time. [`config`] reads the detection settings and loads the models,
//! [`cascade`] combines their scores and applies Tidzam's decision rule, [`detector`] keeps each
//! channel's resampled window and runs the models on its own thread, and [`events`] writes
//! every detection to `detections.jsonl` and hands it to the `/events` subscribers; [`clips`]
//! cuts the clips that extraction rules ask for from each channel's recent audio.

pub mod cascade;
pub mod clips;
pub mod config;
pub mod detector;
pub mod events;

pub use detector::{Detector, LiveMsg, LiveTap};
pub use events::Detection;
/// The rules of live extraction (those of extract-samples).
pub use soundscape_extract::rules::Rules as ExtractRules;
