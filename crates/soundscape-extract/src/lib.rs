//! Class-triggered sample extraction, after Tidzam's recorder: clips of the classes chosen by
//! rules, cut from the recordings around their detections, for people to label
//! (docs/extract.md).
//!
//! Data flows one way: [`rules`] say which detections count, [`detections`] reads the table
//! and keeps those, [`extract`] decodes each recording once and decides every detection in
//! clip order with [`draw`] (seeded draws, the `auto` rate) and [`filter`] (the object
//! filter), writing clips, sidecars and the [`ledger`].

pub mod detections;
pub mod draw;
pub mod extract;
pub mod filter;
pub mod ledger;
pub mod rules;

pub use extract::{run, Job, Recordings, Report};
pub use rules::Rules;
