//! The spec-n-specvid products (docs/method.md#choice-of-recordings): which recordings represent each hour of a unit
//! ([`select`]), and for each a spectrogram picture ([`spectrogram`]), a scrolling spectrogram
//! video ([`video`]) and a compressed spectrogram of its active parts ([`compressed`]); [`unit`] runs the
//! stage on a unit folder. Product metadata names the unit's soundscape as parent (the
//! original wrote "Null").

pub mod compressed;
pub mod levels;
pub mod select;
pub mod spectrogram;
pub mod unit;
pub mod video;
