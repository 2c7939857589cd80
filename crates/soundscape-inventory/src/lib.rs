//! The audio inventory: which recordings exist, what their headers say, and which processing
//! units they form (the get-audio-df stage, docs/files.md#get-audio-df).
//!
//! Sources list recordings ([`folder`], [`objstore`], [`alfresco`], or a manifest read by
//! `soundscape_table::input`); [`assemble`] checks, filters, sorts and groups them into units;
//! [`table`] writes the audio table. Every listed recording ends in the run report as done,
//! skipped (filtered out, with the filter) or failed (with the reason).

pub mod alfresco;
pub mod assemble;
pub mod clues;
pub mod fetch;
pub mod folder;
pub mod header;
pub mod objstore;
pub mod table;

use soundscape_core::Recording;
use soundscape_table::input::RowError;

pub use assemble::{assemble, Filters, Inventory};
pub use clues::StartSource;
pub use header::HeaderInfo;

/// A recording as a source lists it, before checks, filters and grouping.
#[derive(Debug, Clone)]
pub struct Listed {
    pub recording: Recording,
    /// File size in bytes, when known.
    pub size: Option<u64>,
    /// What the file header says, when it was read.
    pub header: Option<HeaderInfo>,
    pub start_source: StartSource,
    /// The source's own record of the file (the Alfresco search entry).
    pub metadata: Option<serde_json::Value>,
    /// Channels and bits per sample declared by metadata, used when no header was read.
    pub declared_format: Option<(u16, u32)>,
    pub warnings: Vec<String>,
}

impl Listed {
    /// A recording from a manifest row (no header read yet).
    pub fn from_manifest(recording: Recording) -> Listed {
        Listed {
            recording,
            size: None,
            header: None,
            start_source: StartSource::Manifest,
            metadata: None,
            declared_format: None,
            warnings: Vec::new(),
        }
    }
}

/// A listed recording, or why a row could not become one.
pub type ListedRow = Result<Listed, RowError>;
