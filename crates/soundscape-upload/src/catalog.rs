//! The products waiting in a results folder: every unit folder (one with a `unit.json` from
//! dirstruct, or a `soundscape_metadata.json` from `compute-soundscapes --out`) and the
//! product files in it, recognised by [`soundscape_core::products`] and
//! filtered by kind. The remote folder of a unit is its `<cumulus>/<node>/<recorder>/<deployment>`
//! path, as the original's `relativePath`.

use std::path::{Path, PathBuf};

use soundscape_core::products::{classify, ProductFile, ProductKind};
use soundscape_core::units::{SOUNDSCAPE_METADATA_FILE, UNIT_FILE};
use soundscape_core::{Unit, UnitPath};

/// A unit folder and its products.
#[derive(Debug, Clone)]
pub struct UnitProducts {
    pub dir: PathBuf,
    pub unit: UnitPath,
    /// Products in name order.
    pub products: Vec<ProductFile>,
    /// What was assumed about the unit (a folder without `unit.json`), for the report.
    pub notes: Vec<String>,
}

impl UnitProducts {
    /// `<cumulus>/<node>/<recorder>/<deployment>`: the folder below the upload root.
    pub fn remote_folder(&self) -> String {
        self.unit.relative()
    }
}

impl UnitProducts {
    /// Every product as (remote path below the root, local content).
    pub fn contents(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        self.products
            .iter()
            .map(|p| {
                let path = self.dir.join(&p.name);
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                Ok((format!("{}/{}", self.remote_folder(), p.name), bytes))
            })
            .collect()
    }
}

/// The unit folders below `root` (or `root` itself), sorted by unit path.
pub fn unit_dirs(root: &Path) -> Result<Vec<PathBuf>, String> {
    if !root.is_dir() {
        return Err(format!("{}: not a folder", root.display()));
    }
    let mut dirs = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| format!("{}: {e}", root.display()))?;
        let name = entry.file_name();
        if entry.file_type().is_file() && (name == UNIT_FILE || name == SOUNDSCAPE_METADATA_FILE) {
            if let Some(dir) = entry.path().parent() {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    dirs.sort();
    dirs.dedup(); // a dirstruct folder holds both files
    if dirs.is_empty() {
        return Err(format!(
            "{}: no unit folders below it (none holds a {UNIT_FILE} from dirstruct or a {SOUNDSCAPE_METADATA_FILE} from compute-soundscapes)",
            root.display()
        ));
    }
    Ok(dirs)
}

/// The products of one unit folder whose kind is in `kinds`.
pub fn unit_products(dir: &Path, kinds: &[ProductKind]) -> Result<UnitProducts, String> {
    let (path, notes) = Unit::keys_of_folder(dir)?;
    path.check()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut products = Vec::new();
    let listing = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in listing {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if let Some(p) = classify(&name).filter(|p| kinds.contains(&p.kind)) {
            products.push(p);
        }
    }
    products.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(UnitProducts {
        dir: dir.to_path_buf(),
        unit: path,
        products,
        notes,
    })
}

/// The units to upload: every unit folder below `results_dir`, or only the given folders.
/// A folder that cannot be read fails the run with an error naming it.
pub fn select(
    results_dir: Option<&Path>,
    only: &[PathBuf],
    kinds: &[ProductKind],
) -> Result<Vec<UnitProducts>, String> {
    let dirs = match (results_dir, only) {
        (_, dirs) if !dirs.is_empty() => dirs.to_vec(),
        (Some(root), _) => unit_dirs(root)?,
        (None, _) => return Err("give --results-dir or --unit-dir".into()),
    };
    dirs.iter().map(|d| unit_products(d, kinds)).collect()
}

/// Parses a comma-separated list of product kinds (`all` for every kind).
pub fn parse_kinds(list: &str) -> Result<Vec<ProductKind>, String> {
    let mut kinds = Vec::new();
    for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if k == "all" {
            kinds.extend(ProductKind::ALL);
        } else {
            kinds.push(ProductKind::parse(k)?);
        }
    }
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        return Err("no product kinds given".into());
    }
    Ok(kinds)
}
