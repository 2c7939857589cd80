//! The Alfresco content model of the products (docs/method.md#metadata): type `soundscape:product` and the
//! `soundscape:*` properties, read from the metadata JSON beside each product and set with
//! `PUT nodes/{id}`. Each unit folder is listed page by page (the original read only the
//! first 100 entries); a product whose type and properties are already right is left alone,
//! so a rerun changes nothing. The spectrogram and video properties are set too (the
//! original's name test left them empty).
//!
//! Property values go as strings, as the API contract declares them; Alfresco converts them to
//! the model's `d:int` where needed. `product_path` is the Alfresco folder of the product, as
//! in the original.

use std::collections::HashMap;
use std::path::Path;

use futures::StreamExt;
use serde_json::{json, Map, Value};
use soundscape_alfresco::{NodeInfo, Session};
use soundscape_core::products::ProductKind;
use soundscape_core::Status;

use crate::catalog::UnitProducts;
use crate::report::{FileOutcome, UploadReport};

pub const MODEL_TYPE: &str = "soundscape:product";
pub const PREFIX: &str = "soundscape:";

/// A number as Python prints the original's values: integers without a fraction.
fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// The `soundscape:*` properties of a product, from its metadata JSON.
pub fn properties(
    meta: &Value,
    kind: ProductKind,
    file: &str,
    folder_path: &str,
) -> Map<String, Value> {
    let mut p = Map::new();
    let mut put = |k: &str, v: String| {
        p.insert(format!("{PREFIX}{k}"), Value::String(v));
    };
    let s = |k: &str| meta.get(k).map(num).unwrap_or_else(|| "None".into());
    for k in [
        "product_name",
        "product_parent",
        "product_spectrum",
        "CumulusName",
        "NodeCategoryIntegrity",
        "NomenclatureNode",
        "SerialNumber",
        "DateDeployment",
    ] {
        put(k, s(k));
    }
    put("product_path", folder_path.to_string());
    match kind {
        ProductKind::Soundscape | ProductKind::Plots => {
            let aggr = match file {
                "mean_soundscape.png" => "Mean",
                "std_soundscape.png" => "Standard deviation",
                _ => "None",
            };
            put("aggr", aggr.into());
            let c = &meta["product_configs"];
            let g = |ptr: &str| c.pointer(ptr).map(num).unwrap_or_else(|| "None".into());
            let cycle = &c["cycle_config"];
            put("cycle_config_aware_start", g("/cycle_config/aware_start"));
            put("cycle_config_start_format", g("/cycle_config/start_format"));
            // strftime("%Y-%m-%dT%H:%M:%S.%f%z") of the naive start, as the original.
            let start = match (cycle["start_time"].as_str(), cycle["start_format"].as_str()) {
                (Some(t), Some(f)) => chrono::NaiveDateTime::parse_from_str(t, f)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
                    .unwrap_or_else(|_| t.to_string()),
                _ => g("/cycle_config/start_time"),
            };
            put("cycle_config_start_time", start);
            put("cycle_config_start_tzone", g("/cycle_config/start_tzone"));
            put("cycle_config_time_module", g("/cycle_config/time_module"));
            put("cycle_config_time_unit", g("/cycle_config/time_unit"));
            put(
                "cycle_config_time_utc_column",
                g("/cycle_config/time_utc_column"),
            );
            put("frequency_bins", g("/slice_config/frequency_bins"));
            put("frequency_hop", g("/slice_config/frequency_hop"));
            let limits: Vec<String> = c
                .pointer("/slice_config/frequency_limits")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(num).collect())
                .unwrap_or_default();
            put("frequency_limits", format!("[{}]", limits.join(", ")));
            put("hash_name", g("/hash_name"));
            put("hop_length", g("/slice_config/feature_config/hop_length"));
            let indices: Vec<String> = c["indices"]
                .as_array()
                .map(|a| a.iter().map(num).collect())
                .unwrap_or_default();
            put("indices", indices.join(", "));
            put("n_fft", g("/slice_config/feature_config/n_fft"));
            put("npartitions", g("/npartitions"));
            put("slice_config_feature_type", g("/slice_config/feature_type"));
            put(
                "slice_config_frequency_bins",
                g("/slice_config/frequency_bins"),
            );
            put("slice_config_time_unit", g("/slice_config/time_unit"));
            put("time_hop", g("/slice_config/time_hop"));
            put(
                "window_function",
                g("/slice_config/feature_config/window_function"),
            );
        }
        _ => put("AudioID", s("AudioID")),
    }
    p
}

/// Whether a node already has the type and these properties (compared as text, since the
/// server may return numbers for `d:int` properties).
pub fn is_current(node: &NodeInfo, props: &Map<String, Value>) -> bool {
    node.node_type == MODEL_TYPE
        && props
            .iter()
            .all(|(k, v)| node.properties.get(k).map(num) == Some(num(v)))
}

fn read_metadata(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

async fn model_unit(
    session: &Session,
    root: &str,
    root_path: &str,
    unit: &UnitProducts,
    target: &str,
    page_size: usize,
) -> Vec<FileOutcome> {
    let folder = unit.remote_folder();
    let with_model: Vec<_> = unit
        .products
        .iter()
        .filter(|p| p.kind != ProductKind::Metadata)
        .collect();
    let outcome = |name: &str, kind| FileOutcome::new(&folder, name, kind, target);
    let remote: HashMap<String, NodeInfo> = match session.children(root, &folder, page_size).await {
        Ok(Some(list)) => list
            .into_iter()
            .filter(|n| n.is_file)
            .map(|n| (n.name.clone(), n))
            .collect(),
        Ok(None) => HashMap::new(),
        Err(e) => {
            return with_model
                .iter()
                .map(|p| outcome(&p.name, p.kind).failed(format!("listing {folder}: {e}")))
                .collect()
        }
    };
    let folder_path = format!("{}/{folder}", root_path.trim_end_matches('/'));
    let mut out = Vec::new();
    for p in with_model {
        let mut o = outcome(&p.name, p.kind);
        let Some(node) = remote.get(&p.name) else {
            out.push(o.failed(format!(
                "{folder}/{} is not in Alfresco: run upload-alfresco first",
                p.name
            )));
            continue;
        };
        o.remote = Some(node.id.clone());
        let Some(meta_file) = &p.metadata else {
            out.push(o.failed(format!("{}: no metadata file", p.name)));
            continue;
        };
        let meta = match read_metadata(&unit.dir.join(meta_file)) {
            Ok(m) => m,
            Err(e) => {
                out.push(o.failed(e));
                continue;
            }
        };
        let props = properties(&meta, p.kind, &p.name, &folder_path);
        if is_current(node, &props) {
            o.status = Status::Skipped;
            o.action = Some("unchanged".into());
            o.reason = Some("type and properties already set".into());
            out.push(o);
            continue;
        }
        let body = json!({"nodeType": MODEL_TYPE, "properties": props});
        match session.update_node(&node.id, &body).await {
            Ok(_) => {
                o.action = Some("updated".into());
                out.push(o);
            }
            Err(e) => out.push(o.failed(format!("{folder}/{}: {e}", p.name))),
        }
    }
    out
}

/// How to set the model.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Unit folders handled at once.
    pub jobs: usize,
    /// Entries per listing page.
    pub page_size: usize,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            jobs: 4,
            page_size: 1000,
        }
    }
}

/// Sets the model on the uploaded products of `units`.
pub async fn apply(
    session: &Session,
    root: &str,
    units: &[UnitProducts],
    opts: &ModelOptions,
    report: &mut UploadReport,
    each: impl Fn(&FileOutcome),
) {
    let target = crate::alfresco::target_id(session, root);
    report.targets = vec![target.clone()];
    let root_path = match session.node_path(root).await {
        Ok(p) => p,
        Err(e) => {
            report.errors.push(format!("root node {root}: {e}"));
            return;
        }
    };
    let target = &target;
    let root_path = &root_path;
    let stream = futures::stream::iter(units)
        .map(|u| model_unit(session, root, root_path, u, target, opts.page_size))
        .buffer_unordered(opts.jobs.max(1));
    report.gather(stream, each).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_properties_as_the_original_sends_them() {
        let meta = json!({
            "product_parent": "c58892f5d93ec1adf0b17325c6c17f4a",
            "product_name": "Soundscape mean plot",
            "product_configs": {
                "slice_config": {"time_unit": 30.0, "frequency_bins": 96, "frequency_limits": [0.0, 24000.0],
                    "feature_type": "spectrogram", "feature_config": {"n_fft": 1024, "hop_length": 512, "window_function": "hann"},
                    "frequency_hop": 1.0, "time_hop": 1.0},
                "indices": ["TOTAL", "CORE", "TAIL", "INFORMATION", "ICOMPLEXITY", "EXAG"],
                "hash_name": "crono_hash_30m",
                "cycle_config": {"aware_start": null, "start_format": "%Y-%m-%d %H:%M:%S", "start_time": "2018-01-01 00:00:00",
                    "start_tzone": "America/Mexico_City", "time_module": 48, "time_unit": 1800, "time_utc_column": "abs_start_time"},
                "npartitions": 2
            },
            "product_spectrum": "Audible", "CumulusName": 92, "NodeCategoryIntegrity": "Integro",
            "NomenclatureNode": "1_95_1_1350", "SerialNumber": "248C7D075B1F7CDB", "DateDeployment": "2021-08-04"
        });
        let p = properties(
            &meta,
            ProductKind::Plots,
            "mean_soundscape.png",
            "/Company Home/Sites/s/documentLibrary/92/x",
        );
        let get = |k: &str| p[&format!("soundscape:{k}")].as_str().unwrap().to_string();
        assert_eq!(get("aggr"), "Mean");
        assert_eq!(get("CumulusName"), "92");
        assert_eq!(get("cycle_config_aware_start"), "None");
        assert_eq!(get("cycle_config_start_time"), "2018-01-01T00:00:00.000000");
        assert_eq!(get("frequency_limits"), "[0, 24000]");
        assert_eq!(get("frequency_hop"), "1");
        assert_eq!(get("slice_config_time_unit"), "30");
        assert_eq!(
            get("indices"),
            "TOTAL, CORE, TAIL, INFORMATION, ICOMPLEXITY, EXAG"
        );
        assert_eq!(
            get("product_path"),
            "/Company Home/Sites/s/documentLibrary/92/x"
        );
        // The original property set: 9 unit and product fields, aggr, 7 cycle_config fields, 13 slice/feature fields.
        assert_eq!(p.len(), 9 + 1 + 7 + 13, "{p:?}");
        assert!(p.values().all(Value::is_string));
        let node = NodeInfo {
            id: "n".into(),
            name: "mean_soundscape.png".into(),
            is_file: true,
            node_type: MODEL_TYPE.into(),
            size: None,
            modified_at: String::new(),
            aspect_names: vec![],
            properties: p
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .unwrap()
                        .parse::<i64>()
                        .map(Value::from)
                        .unwrap_or(v.clone());
                    (k.clone(), v)
                })
                .collect(),
        };
        assert!(
            is_current(&node, &p),
            "numbers from the server compare equal to the strings sent"
        );
    }
}
