//! Product metadata JSON (docs/method.md#metadata), written beside every product.
//!
//! Keys in the original's order: `product_parent`, `product_name`, `product_configs` (the FEED,
//! with the index names in the metadata order), `product_path`, `product_spectrum`,
//! `CumulusName`, `NodeCategoryIntegrity`, `NomenclatureNode`, `SerialNumber`,
//! `DateDeployment`. Unlike the later original pipelines, the product's own `product_id`
//! (md5 of its path) is kept, so that plots can name their soundscape as parent.

use serde_json::{json, Map, Value};
use soundscape_core::UnitKey;
use soundscape_engine::{EngineConfig, IndexName};

/// The FEED as the original wrote it into `product_configs`.
pub fn product_configs(cfg: &EngineConfig, npartitions: usize) -> Value {
    let s = &cfg.slice;
    let h = &cfg.hasher;
    let names: Vec<&str> = IndexName::METADATA_ORDER
        .iter()
        .filter(|i| cfg.indices.contains(i))
        .map(|i| i.as_str())
        .collect();
    json!({
        "slice_config": {
            "time_unit": s.time_unit,
            "frequency_bins": s.frequency_bins,
            "frequency_limits": [s.frequency_limits.0, s.frequency_limits.1],
            "feature_type": "spectrogram",
            "feature_config": {"n_fft": s.n_fft, "hop_length": s.hop_length, "window_function": "hann"},
            "frequency_hop": s.frequency_hop,
            "time_hop": s.time_hop
        },
        "indices": names,
        "hash_name": h.hash_name,
        "cycle_config": {
            "aware_start": null,
            "start_format": h.start_format,
            "start_time": h.start_time,
            "start_tzone": h.start_tzone,
            "time_module": h.time_module,
            "time_unit": h.time_unit,
            "time_utc_column": "abs_start_time"
        },
        "npartitions": npartitions
    })
}

/// Common fields of every product of a unit.
#[derive(Clone)]
pub struct ProductInfo<'a> {
    pub product_id: String,
    pub product_parent: Option<String>,
    pub product_name: &'a str,
    pub product_path: String,
    pub spectrum: &'a str,
    pub cumulus: Option<&'a str>,
    pub unit: &'a UnitKey,
}

/// Metadata object of a product; `configs` is included when given.
pub fn product_metadata(p: &ProductInfo<'_>, configs: Option<Value>) -> Result<Value, String> {
    let mut m = Map::new();
    m.insert("product_id".into(), json!(p.product_id));
    m.insert(
        "product_parent".into(),
        json!(p.product_parent.clone().unwrap_or_else(|| "Null".into())),
    );
    m.insert("product_name".into(), json!(p.product_name));
    if let Some(c) = configs {
        m.insert("product_configs".into(), c);
    }
    m.insert("product_path".into(), json!(p.product_path));
    m.insert("product_spectrum".into(), json!(p.spectrum));
    let cumulus = match p.cumulus {
        Some(c) => c
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(c)),
        None => Value::Null,
    };
    m.insert("CumulusName".into(), cumulus);
    m.insert(
        "NodeCategoryIntegrity".into(),
        json!(p.unit.node_integrity()?),
    );
    m.insert("NomenclatureNode".into(), json!(p.unit.node));
    m.insert("SerialNumber".into(), json!(p.unit.recorder));
    m.insert("DateDeployment".into(), json!(p.unit.deployment));
    Ok(Value::Object(m))
}
