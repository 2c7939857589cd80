//! The vendored Alfresco Swagger definitions (contract/, converted to JSON) as JSON Schema
//! validators: the fake checks every request it gets and every answer it gives.

use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{json, Value};

const SEARCH: &str = include_str!("../contract/alfresco-search.json");

fn definitions(doc: &str) -> Value {
    let v: Value = serde_json::from_str(doc).expect("vendored contract is JSON");
    v["definitions"].clone()
}

fn validator(doc: &str, name: &str) -> Validator {
    let schema = json!({"$ref": format!("#/definitions/{name}"), "definitions": definitions(doc)});
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap_or_else(|e| panic!("contract definition {name}: {e}"))
}

/// Checks `value` against a definition of the Search API; returns the violations.
pub fn check_search(name: &'static str, value: &Value) -> Vec<String> {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(&'static str, &'static Validator)>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let v = {
        let mut c = cache.lock().unwrap();
        match c.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => *v,
            None => {
                let v: &'static Validator = Box::leak(Box::new(validator(SEARCH, name)));
                c.push((name, v));
                v
            }
        }
    };
    v.iter_errors(value)
        .map(|e| format!("{name}: {} at {}", e, e.instance_path()))
        .collect()
}
