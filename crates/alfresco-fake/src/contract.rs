//! The vendored Alfresco Swagger definitions (contract/, converted to JSON) as JSON Schema
//! validators: the fake checks every request it gets and every answer it gives.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use jsonschema::Validator;
use serde_json::{json, Value};

/// One of the vendored API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    Search,
    Core,
    Auth,
}

impl Api {
    fn document(self) -> &'static Value {
        static DOCS: OnceLock<[Value; 3]> = OnceLock::new();
        let docs = DOCS.get_or_init(|| {
            [
                include_str!("../contract/alfresco-search.json"),
                include_str!("../contract/alfresco-core.json"),
                include_str!("../contract/alfresco-auth.json"),
            ]
            .map(|d| serde_json::from_str(d).expect("vendored contract is JSON"))
        });
        &docs[self as usize]
    }
}

fn validator(api: Api, name: &str) -> Validator {
    let schema = json!({
        "$ref": format!("#/definitions/{name}"),
        "definitions": api.document()["definitions"].clone(),
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
        .unwrap_or_else(|e| panic!("contract definition {name}: {e}"))
}

/// Checks `value` against a definition of one API; returns the violations.
pub fn check(api: Api, name: &'static str, value: &Value) -> Vec<String> {
    type Cache = Mutex<HashMap<(Api, &'static str), &'static Validator>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let v = *CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry((api, name))
        .or_insert_with(|| Box::leak(Box::new(validator(api, name))));
    v.iter_errors(value)
        .map(|e| format!("{name}: {} at {}", e, e.instance_path()))
        .collect()
}

/// The values an `include` query parameter of the Core API accepts, read from the bullet list
/// in the parameter's description.
pub fn include_values(parameter: &str) -> Vec<String> {
    Api::Core.document()["parameters"][parameter]["description"]
        .as_str()
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("* "))
        .map(|s| s.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_values_come_from_the_contract() {
        let v = include_values("nodeMinimalEntryIncludeParam");
        assert!(
            v.contains(&"properties".to_string()) && v.contains(&"aspectNames".to_string()),
            "{v:?}"
        );
        assert!(include_values("nodeEntryIncludeParam").contains(&"path".to_string()));
        let bad = check(
            Api::Core,
            "NodeBodyUpdate",
            &json!({"properties": {"x:n": 3}}),
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(check(
            Api::Auth,
            "TicketBody",
            &json!({"userId": "a", "password": "b"})
        )
        .is_empty());
    }
}
