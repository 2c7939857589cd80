//! Shared domain types of the soundscape pipeline.
//!
//! Every stage speaks about the same things: a [`Recording`] (one audio file with its start
//! time and unit keys), the processing [`UnitKey`] it belongs to, the [`RunReport`] that says
//! what became of every recording, product ids, and files written atomically. They live here so
//! that stage crates share one definition.

pub mod batches;
pub mod fsutil;
pub mod ids;
pub mod isolate;
pub mod layout;
pub mod products;
pub mod recording;
pub mod report;
pub mod resources;
pub mod timefmt;
pub mod units;

pub use layout::UnitPath;
pub use recording::{Recording, UnitKey};
pub use report::{Outcome, RunReport, Status, UnitOutcome};
pub use units::{Unit, UnitsManifest};
