//! The results layout in docs/files.md: one folder per processing unit,
//! `<cumulus>/<node>/<recorder>/<deployment>`, the products inside it and their ids.
//!
//! Unit keys come from metadata (Alfresco properties, manifests, folder names), so they are
//! checked before they become path components: empty keys, `.`/`..`, `/`, `\`, NUL and other
//! control characters are rejected with an error that names the key.

use crate::ids::product_id;
use crate::recording::UnitKey;
use serde::{Deserialize, Serialize};

/// Cumulus used when the input names none.
pub const PLACEHOLDER_CUMULUS: &str = "0";

/// Checks that a unit key can be one path component.
pub fn check_key(what: &str, value: &str) -> Result<(), String> {
    let bad = if value.is_empty() {
        Some("is empty")
    } else if value == "." || value.contains("..") {
        Some("contains '..' or is '.'")
    } else if value.contains('/') || value.contains('\\') {
        Some("contains a path separator")
    } else if value.chars().any(|c| c == '\0' || c.is_control()) {
        Some("contains NUL or a control character")
    } else if value.trim() != value {
        Some("starts or ends with white space")
    } else {
        None
    };
    match bad {
        Some(why) => Err(format!("{what} {value:?} {why}; it cannot name a folder")),
        None => Ok(()),
    }
}

/// A processing unit's place: its cumulus and its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnitPath {
    pub cumulus: String,
    pub node: String,
    pub recorder: String,
    pub deployment: String,
}

impl UnitPath {
    pub fn new(cumulus: &str, key: &UnitKey) -> UnitPath {
        UnitPath {
            cumulus: cumulus.into(),
            node: key.node.clone(),
            recorder: key.recorder.clone(),
            deployment: key.deployment.clone(),
        }
    }

    pub fn key(&self) -> UnitKey {
        UnitKey {
            node: self.node.clone(),
            recorder: self.recorder.clone(),
            deployment: self.deployment.clone(),
        }
    }

    /// Checks every component (see [`check_key`]).
    pub fn check(&self) -> Result<(), String> {
        check_key("cumulus", &self.cumulus)?;
        check_key("node", &self.node)?;
        check_key("recorder", &self.recorder)?;
        check_key("deployment", &self.deployment)
    }

    /// `<cumulus>/<node>/<recorder>/<deployment>`, the unit's id in manifests and the Argo
    /// fan-out. Only meaningful after [`UnitPath::check`].
    pub fn relative(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.cumulus, self.node, self.recorder, self.deployment
        )
    }

    /// Parses a relative path written by [`UnitPath::relative`].
    pub fn parse(rel: &str) -> Result<UnitPath, String> {
        let parts: Vec<&str> = rel.trim_matches('/').split('/').collect();
        let [cumulus, node, recorder, deployment] = parts[..] else {
            return Err(format!(
                "unit {rel:?} is not <cumulus>/<node>/<recorder>/<deployment>"
            ));
        };
        let unit = UnitPath {
            cumulus: cumulus.into(),
            node: node.into(),
            recorder: recorder.into(),
            deployment: deployment.into(),
        };
        unit.check()?;
        Ok(unit)
    }

    /// The unit folder as the ids see it: `<root>/<relative>` without a trailing slash.
    pub fn dir_under(&self, root: &str) -> String {
        format!("{}/{}", root.trim_end_matches('/'), self.relative())
    }
}

/// The products of a unit folder (docs/method.md#metadata, with the original's metadata paths fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// Short name used on the command line and in manifests.
    pub kind: &'static str,
    pub file: &'static str,
    pub metadata: &'static str,
    /// `product_name` of the metadata.
    pub name: &'static str,
    /// Whether `product_parent` is the unit id (plots) or "Null" (the soundscape itself).
    pub has_parent: bool,
}

pub const SOUNDSCAPE: Product = Product {
    kind: "soundscape",
    file: "hashed_soundscape.parquet",
    metadata: "soundscape_metadata.json",
    name: "Soundscape",
    has_parent: false,
};
pub const SEQUENCE: Product = Product {
    kind: "sequence",
    file: "sequence.png",
    metadata: "soundscape_seq_metadata.json",
    name: "Soundscape sequential plot",
    has_parent: true,
};
pub const MEAN: Product = Product {
    kind: "mean",
    file: "mean_soundscape.png",
    metadata: "mean_soundscape_metadata.json",
    name: "Soundscape mean plot",
    has_parent: true,
};
pub const STD: Product = Product {
    kind: "std",
    file: "std_soundscape.png",
    metadata: "std_soundscape_metadata.json",
    name: "Soundscape standard deviation plot",
    has_parent: true,
};

/// The per-unit products made by compute-soundscapes.
pub const UNIT_PRODUCTS: [Product; 4] = [SOUNDSCAPE, SEQUENCE, MEAN, STD];

/// Ids of one product (docs/method.md#product-ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductIds {
    pub kind: String,
    pub file: String,
    pub metadata: String,
    pub product_id: String,
    /// `"Null"` for the soundscape, the unit id for the plots.
    pub product_parent: String,
}

/// Product ids of a unit folder: the soundscape's id is the unit id (md5 of the unit path),
/// a plot's id is the md5 of its file path and its parent the unit id.
pub fn unit_product_ids(unit_dir: &str) -> Vec<ProductIds> {
    let unit_id = product_id(unit_dir);
    UNIT_PRODUCTS
        .iter()
        .map(|p| ProductIds {
            kind: p.kind.into(),
            file: p.file.into(),
            metadata: p.metadata.into(),
            product_id: if p.has_parent {
                product_id(&format!("{}/{}", unit_dir.trim_end_matches('/'), p.file))
            } else {
                unit_id.clone()
            },
            product_parent: if p.has_parent {
                unit_id.clone()
            } else {
                "Null".into()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> UnitPath {
        UnitPath {
            cumulus: "92".into(),
            node: "1_95_1_1350".into(),
            recorder: "248C7D075B1F7CDB".into(),
            deployment: "2021-08-04".into(),
        }
    }

    #[test]
    fn relative_path_and_parse_round_trip() {
        let u = unit();
        assert_eq!(u.relative(), "92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04");
        assert_eq!(UnitPath::parse(&u.relative()).unwrap(), u);
        assert!(UnitPath::parse("92/a/b").is_err());
        assert!(UnitPath::parse("92/a/../c").is_err());
    }

    #[test]
    fn bad_keys_are_rejected() {
        for bad in [
            "", ".", "..", "a/b", "a\\b", "x..y", "a\0b", "a\nb", "a\u{7f}", " a",
        ] {
            assert!(check_key("node", bad).is_err(), "{bad:?} accepted");
        }
        let e = check_key("recorder", "../etc").unwrap_err();
        assert!(e.contains("recorder") && e.contains("../etc"), "{e}");
        for good in ["1_95_1_1350", "248C7D075B1F7CDB", "2021-08-04", "Nodo 3"] {
            check_key("node", good).unwrap();
        }
    }

    #[test]
    fn product_ids_match_the_original_examples() {
        let dir = unit().dir_under("/shared_volume/audio/soundscapes/");
        let ids = unit_product_ids(&dir);
        assert_eq!(ids[0].kind, "soundscape");
        assert_eq!(ids[0].product_id, "c58892f5d93ec1adf0b17325c6c17f4a");
        assert_eq!(ids[0].product_parent, "Null");
        assert_eq!(ids[1].file, "sequence.png");
        assert_eq!(ids[1].product_id, "9f80823bc2f694e48c659be973fa9a0e");
        assert_eq!(ids[1].product_parent, "c58892f5d93ec1adf0b17325c6c17f4a");
        assert!(ids[2..]
            .iter()
            .all(|p| p.product_parent == ids[0].product_id));
    }
}
