//! Validation of rendered manifests (Workflow, WorkflowTemplate, CronWorkflow) against the
//! vendored Argo Workflows v4.1.2 JSON schema and the CRDs' OpenAPI schemas (`schema/`), in strict mode: an object schema that lists its
//! properties rejects any other field (as `kubectl --validate=strict` does), except where the
//! CRD keeps unknown fields on purpose (`x-kubernetes-preserve-unknown-fields`).

use std::io::Read;
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{json, Value};

fn gunzip(bytes: &[u8]) -> Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("vendored schema is gzip");
    serde_json::from_str(&text).expect("vendored schema is JSON")
}

/// Adds `additionalProperties: false` to every object schema that lists properties and says
/// nothing about others.
fn strict(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let keeps_unknown = m
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if m.contains_key("properties")
                && !m.contains_key("additionalProperties")
                && !keeps_unknown
            {
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            m.values_mut().for_each(strict);
        }
        Value::Array(a) => a.iter_mut().for_each(strict),
        _ => {}
    }
}

fn build(schema: &Value) -> Validator {
    jsonschema::options()
        .should_validate_formats(false)
        .build(schema)
        .expect("vendored schema compiles")
}

struct Validators {
    workflow: Validator,
    template: Validator,
    crd_workflow: Validator,
    crd_template: Validator,
    cron: Validator,
    crd_cron: Validator,
}

/// A validator of one definition of the JSON schema.
fn definition(schema: &Value, name: &str) -> Validator {
    build(&json!({
        "$ref": format!("#/definitions/io.argoproj.workflow.v1alpha1.{name}"),
        "definitions": schema["definitions"],
    }))
}

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let mut schema = gunzip(include_bytes!("../schema/schema.json.gz"));
        strict(&mut schema);
        let mut crd_w = gunzip(include_bytes!("../schema/crd-workflows.json.gz"));
        strict(&mut crd_w);
        let mut crd_t = gunzip(include_bytes!("../schema/crd-workflowtemplates.json.gz"));
        strict(&mut crd_t);
        let mut crd_c = gunzip(include_bytes!("../schema/crd-cronworkflows.json.gz"));
        strict(&mut crd_c);
        Validators {
            workflow: definition(&schema, "Workflow"),
            template: definition(&schema, "WorkflowTemplate"),
            crd_workflow: build(&crd_w),
            crd_template: build(&crd_t),
            cron: definition(&schema, "CronWorkflow"),
            crd_cron: build(&crd_c),
        }
    })
}

/// Every way `manifest` breaks the schema and its kind's CRD; empty when it is valid.
pub fn problems(manifest: &Value) -> Vec<String> {
    let v = validators();
    let (schema, crd) = match manifest["kind"].as_str() {
        Some("Workflow") => (&v.workflow, &v.crd_workflow),
        Some("WorkflowTemplate") => (&v.template, &v.crd_template),
        Some("CronWorkflow") => (&v.cron, &v.crd_cron),
        other => {
            return vec![format!(
                "kind {other:?} is not Workflow, WorkflowTemplate or CronWorkflow"
            )]
        }
    };
    let say = |source: &str, e: jsonschema::ValidationError| {
        let msg: String = e.to_string().chars().take(240).collect();
        format!("{source}: at {:?}: {msg}", e.instance_path().to_string())
    };
    let mut out: Vec<String> = schema
        .iter_errors(manifest)
        .map(|e| say("schema.json", e))
        .collect();
    out.extend(crd.iter_errors(manifest).map(|e| say("CRD", e)));
    out
}

/// A minimal manifest of each kind (for tests of the validator itself).
pub fn sample(kind: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x"},
        "spec": {"entrypoint": "a", "templates": [{"name": "a", "container": {"image": "busybox"}}]},
    })
}
