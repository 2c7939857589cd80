//! Command-line options shared by `upload-alfresco` and `upload-model`: which unit folders,
//! which products, the Alfresco root node, concurrency and the report file.

use std::path::{Path, PathBuf};

use soundscape_core::products::ProductKind;

use crate::catalog::{parse_kinds, select, UnitProducts};

#[derive(Debug, Clone, clap::Args)]
pub struct SelectionArgs {
    /// Results folder: every unit folder below it (those with a unit.json) is uploaded.
    #[arg(long, required_unless_present = "unit_dir")]
    pub results_dir: Option<PathBuf>,
    /// One unit folder (repeat for several) instead of a whole results folder.
    #[arg(long)]
    pub unit_dir: Vec<PathBuf>,
    /// Alfresco node the unit folders go under (the site's documentLibrary), with
    /// ALFRESCO_URL, ALFRESCO_USER and ALFRESCO_PASSWORD from the environment.
    #[arg(long, env = "ALFRESCO_NODE_ID")]
    pub root_node: Option<String>,
    /// Products to handle, comma-separated: soundscape, plots, spectrograms, videos,
    /// compressed, embeddings, metadata, or all.
    #[arg(long, default_value = "all", value_parser = parse_kinds_arg)]
    pub products: KindList,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Report file (default: in the results folder, or the first unit folder).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// A parsed `--products` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindList(pub Vec<ProductKind>);

fn parse_kinds_arg(s: &str) -> Result<KindList, String> {
    parse_kinds(s).map(KindList)
}

impl SelectionArgs {
    /// The chosen product kinds.
    pub fn kinds(&self) -> Vec<ProductKind> {
        self.products.0.clone()
    }

    pub fn units(&self) -> Result<Vec<UnitProducts>, String> {
        select(self.results_dir.as_deref(), &self.unit_dir, &self.kinds())
    }

    /// Where the report goes.
    pub fn report_path(&self, file: &str) -> PathBuf {
        if let Some(p) = &self.report {
            return p.clone();
        }
        let dir: &Path = self
            .results_dir
            .as_deref()
            .or(self.unit_dir.first().map(PathBuf::as_path))
            .unwrap_or(Path::new("."));
        dir.join(file)
    }
}
