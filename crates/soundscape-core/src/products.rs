//! The product files of a unit folder: their names, their kinds, and the metadata JSON that
//! describes each. The stages that write products name them here, and the upload stages
//! recognise them here, so that both agree on one scheme.
//!
//! A unit folder also holds files that are not products (`unit.json`, `selection.json`, run
//! reports, upload journals, `.<name>.*.tmp` temporaries); [`classify`] returns `None` for them.

use serde::{Deserialize, Serialize};

use crate::layout::UNIT_PRODUCTS;

/// What a product file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductKind {
    /// `hashed_soundscape.parquet`.
    Soundscape,
    /// `sequence.png`, `mean_soundscape.png`, `std_soundscape.png`.
    Plots,
    /// `<audio id>.png`.
    Spectrograms,
    /// `<audio id>.mp4`.
    Videos,
    /// `<audio id>_compressed.png` and its `<audio id>_compressed.json` (segments and metadata).
    Compressed,
    /// `embeddings.parquet` and `detections.parquet` (compute-embeddings).
    Embeddings,
    /// The `*_metadata.json` files beside the products.
    Metadata,
}

impl ProductKind {
    pub const ALL: [ProductKind; 7] = [
        ProductKind::Soundscape,
        ProductKind::Plots,
        ProductKind::Spectrograms,
        ProductKind::Videos,
        ProductKind::Compressed,
        ProductKind::Embeddings,
        ProductKind::Metadata,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProductKind::Soundscape => "soundscape",
            ProductKind::Plots => "plots",
            ProductKind::Spectrograms => "spectrograms",
            ProductKind::Videos => "videos",
            ProductKind::Compressed => "compressed",
            ProductKind::Embeddings => "embeddings",
            ProductKind::Metadata => "metadata",
        }
    }

    pub fn parse(s: &str) -> Result<ProductKind, String> {
        ProductKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ProductKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown product kind {s:?}; one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for ProductKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The spectrogram PNG of a recording.
pub fn spectrogram_file(audio_id: &str) -> String {
    format!("{audio_id}.png")
}
pub fn spectrogram_metadata_file(audio_id: &str) -> String {
    format!("{audio_id}_spectrogram_metadata.json")
}
/// The spectrogram video of a recording.
pub fn video_file(audio_id: &str) -> String {
    format!("{audio_id}.mp4")
}
pub fn video_metadata_file(audio_id: &str) -> String {
    format!("{audio_id}_spectrogram_video_metadata.json")
}
/// The compressed spectrogram of a recording.
pub fn compressed_file(audio_id: &str) -> String {
    format!("{audio_id}_compressed.png")
}
/// Segments and metadata of the compressed spectrogram.
pub fn compressed_json_file(audio_id: &str) -> String {
    format!("{audio_id}_compressed.json")
}

/// compute-soundscapes' table of a unit.
pub const SOUNDSCAPE_FILE: &str = "hashed_soundscape.parquet";

/// compute-embeddings' tables of a unit, and their metadata.
pub const EMBEDDINGS_FILE: &str = "embeddings.parquet";
pub const EMBEDDINGS_METADATA_FILE: &str = "embeddings_metadata.json";
pub const DETECTIONS_FILE: &str = "detections.parquet";
pub const DETECTIONS_METADATA_FILE: &str = "detections_metadata.json";

/// A product file recognised by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFile {
    pub name: String,
    pub kind: ProductKind,
    /// The JSON file (in the same folder) with this product's metadata, if it has one.
    pub metadata: Option<String>,
}

/// Recognises a product by its file name; `None` for files that are not products.
pub fn classify(name: &str) -> Option<ProductFile> {
    if name.starts_with('.') || name.ends_with(".tmp") {
        return None;
    }
    let product = |kind, metadata: Option<String>| {
        Some(ProductFile {
            name: name.to_string(),
            kind,
            metadata,
        })
    };
    if let Some(p) = UNIT_PRODUCTS.iter().find(|p| p.file == name) {
        let kind = if p.has_parent {
            ProductKind::Plots
        } else {
            ProductKind::Soundscape
        };
        return product(kind, Some(p.metadata.to_string()));
    }
    if name.ends_with("_metadata.json") {
        return product(ProductKind::Metadata, None);
    }
    if name == EMBEDDINGS_FILE {
        return product(
            ProductKind::Embeddings,
            Some(EMBEDDINGS_METADATA_FILE.into()),
        );
    }
    if name == DETECTIONS_FILE {
        return product(
            ProductKind::Embeddings,
            Some(DETECTIONS_METADATA_FILE.into()),
        );
    }
    if let Some(id) = name.strip_suffix("_compressed.png") {
        return product(ProductKind::Compressed, Some(compressed_json_file(id)));
    }
    if name.ends_with("_compressed.json") {
        return product(ProductKind::Compressed, Some(name.to_string()));
    }
    if let Some(id) = name.strip_suffix(".mp4") {
        return product(ProductKind::Videos, Some(video_metadata_file(id)));
    }
    if let Some(id) = name.strip_suffix(".png") {
        return product(
            ProductKind::Spectrograms,
            Some(spectrogram_metadata_file(id)),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_classify() {
        let id = "MINI_20210804_055000";
        let cases = [
            (
                spectrogram_file(id),
                ProductKind::Spectrograms,
                Some(spectrogram_metadata_file(id)),
            ),
            (
                video_file(id),
                ProductKind::Videos,
                Some(video_metadata_file(id)),
            ),
            (
                compressed_file(id),
                ProductKind::Compressed,
                Some(compressed_json_file(id)),
            ),
            (
                compressed_json_file(id),
                ProductKind::Compressed,
                Some(compressed_json_file(id)),
            ),
            (spectrogram_metadata_file(id), ProductKind::Metadata, None),
            (
                "hashed_soundscape.parquet".into(),
                ProductKind::Soundscape,
                Some("soundscape_metadata.json".into()),
            ),
            (
                EMBEDDINGS_FILE.into(),
                ProductKind::Embeddings,
                Some(EMBEDDINGS_METADATA_FILE.into()),
            ),
            (
                DETECTIONS_FILE.into(),
                ProductKind::Embeddings,
                Some(DETECTIONS_METADATA_FILE.into()),
            ),
            (DETECTIONS_METADATA_FILE.into(), ProductKind::Metadata, None),
            (
                "sequence.png".into(),
                ProductKind::Plots,
                Some("soundscape_seq_metadata.json".into()),
            ),
            (
                "std_soundscape.png".into(),
                ProductKind::Plots,
                Some("std_soundscape_metadata.json".into()),
            ),
        ];
        for (name, kind, meta) in cases {
            let p = classify(&name).unwrap_or_else(|| panic!("{name} not a product"));
            assert_eq!((p.kind, p.metadata), (kind, meta), "{name}");
        }
        for other in [
            "unit.json",
            "selection.json",
            "run_report.json",
            "spec_n_specvid_report.json",
            "embeddings_report.json",
            "upload_journal.jsonl",
            ".sequence.png.a1b2.tmp",
            "x.wav",
        ] {
            assert_eq!(classify(other), None, "{other}");
        }
        assert_eq!(ProductKind::parse("videos").unwrap(), ProductKind::Videos);
        assert!(ProductKind::parse("movies").unwrap_err().contains("videos"));
    }
}
