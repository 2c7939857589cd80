//! Rendering to Argo Workflows: a `WorkflowTemplate` with one container template per stage, a
//! `unit` DAG of the per-unit stages, and the `main` DAG that fans that out over the unit ids
//! get-audio-df writes (`withParam`, so the Workflow object holds the ids only, far below the
//! Kubernetes object size limit); and `Workflow`s that run the template, whole or one stage for
//! one unit.

use serde_json::{json, Map, Value};

use crate::spec::{Condition, EnvValue, Pipeline, Step, Text};

pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// Name of the shared volume in the pod specs.
pub const VOLUME: &str = "shared";
/// The input parameter of per-unit templates.
pub const UNIT_INPUT: &str = "unit";

fn text(t: &Text) -> String {
    match t {
        Text::Lit(s) => s.clone(),
        Text::Param(p) => format!("{{{{workflow.parameters.{p}}}}}"),
        Text::Unit => format!("{{{{inputs.parameters.{UNIT_INPUT}}}}}"),
        Text::Join(parts) => parts.iter().map(text).collect(),
    }
}

fn condition(c: &Condition) -> String {
    match c {
        Condition::Set(p) => format!("'{{{{workflow.parameters.{p}}}}}' != ''"),
        Condition::Any(cs) => cs.iter().map(condition).collect::<Vec<_>>().join(" || "),
    }
}

fn labels(p: &Pipeline) -> Value {
    json!({
        "app.kubernetes.io/name": p.settings.name,
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        "app.kubernetes.io/managed-by": "soundscape",
    })
}

fn container_template(p: &Pipeline, s: &Step) -> Value {
    let env: Vec<Value> = s
        .env
        .iter()
        .map(|e| match &e.value {
            EnvValue::Text(t) => json!({"name": e.name, "value": text(t)}),
            EnvValue::Secret { secret, key } => json!({
                "name": e.name,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": true}},
            }),
        })
        .collect();
    let image = if s.video {
        &p.settings.video_image
    } else {
        &p.settings.image
    };
    let mut container = json!({
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [s.binary],
        "args": s.args.iter().map(text).collect::<Vec<_>>(),
        "resources": {
            "requests": {"cpu": s.resources.cpu, "memory": s.resources.memory},
            "limits": {"memory": s.resources.memory_limit},
        },
        "volumeMounts": [{"name": VOLUME, "mountPath": p.settings.mount}],
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": false},
    });
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
    let mut t = json!({"name": s.name, "container": container});
    if s.per_unit {
        t["inputs"] = json!({"parameters": [{"name": UNIT_INPUT}]});
    }
    if let Some(o) = &s.output {
        t["outputs"] =
            json!({"parameters": [{"name": o.name, "valueFrom": {"path": text(&o.path)}}]});
    }
    if let Some(r) = &s.retry {
        // IntOrString fields: as strings, which both the JSON schema and the CRD accept.
        let mut rs = json!({
            "limit": r.limit.to_string(),
            "backoff": {"duration": r.backoff, "factor": "2", "maxDuration": r.max_duration},
        });
        match r.expression {
            Some(e) => rs["expression"] = json!(e),
            None => rs["retryPolicy"] = json!("OnError"),
        }
        t["retryStrategy"] = rs;
    }
    t
}

fn task(s: &Step, depends: &[&str]) -> Value {
    let mut t = json!({"name": s.name, "template": s.name});
    if !depends.is_empty() {
        t["depends"] = json!(depends.join(" && "));
    }
    if s.per_unit {
        t["arguments"] = json!({"parameters": [{"name": UNIT_INPUT, "value": format!("{{{{inputs.parameters.{UNIT_INPUT}}}}}")}]});
    }
    if let Some(c) = &s.when {
        t["when"] = json!(condition(c));
    }
    t
}

/// The `WorkflowTemplate`.
pub fn workflow_template(p: &Pipeline) -> Value {
    let run: Vec<&Step> = p.run_steps().collect();
    let mut main_tasks: Vec<Value> = run.iter().map(|s| task(s, &s.depends)).collect();
    // The fan-out waits for every run-wide step (the unit folders must exist).
    let leaves: Vec<&str> = run
        .iter()
        .filter(|s| !run.iter().any(|t| t.depends.contains(&s.name)))
        .map(|s| s.name)
        .collect();
    main_tasks.push(json!({
        "name": "units",
        "template": "unit",
        "depends": leaves.join(" && "),
        "arguments": {"parameters": [{"name": UNIT_INPUT, "value": "{{item}}"}]},
        "withParam": format!("{{{{tasks.{}.outputs.parameters.{}}}}}", p.fan_out.0, p.fan_out.1),
    }));
    let unit_tasks: Vec<Value> = p.unit_steps().map(|s| task(s, &s.depends)).collect();
    let mut templates = vec![
        json!({"name": "main", "parallelism": p.settings.parallelism, "dag": {"tasks": main_tasks}}),
        json!({
            "name": "unit",
            "inputs": {"parameters": [{"name": UNIT_INPUT}]},
            "dag": {"tasks": unit_tasks},
        }),
    ];
    templates.extend(p.steps.iter().map(|s| container_template(p, s)));
    let params: Vec<Value> = p
        .params
        .iter()
        .map(|q| json!({"name": q.name, "value": q.default, "description": q.description}))
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {"name": p.settings.name, "namespace": p.settings.namespace, "labels": labels(p)},
        "spec": {
            "entrypoint": "main",
            "serviceAccountName": p.settings.service_account,
            "arguments": {"parameters": params},
            "volumes": [{"name": VOLUME, "persistentVolumeClaim": {"claimName": p.settings.claim}}],
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
            "templates": templates,
        },
    })
}

/// A `Workflow` that runs the template: the whole pipeline, or with `entrypoint` one stage
/// (`unit` for a per-unit stage). `params` set workflow parameters.
pub fn workflow(
    p: &Pipeline,
    entrypoint: Option<&str>,
    unit: Option<&str>,
    params: &[(String, String)],
) -> Value {
    let mut args: Vec<Value> = params
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    if let Some(u) = unit {
        args.push(json!({"name": UNIT_INPUT, "value": u}));
    }
    let mut spec = Map::new();
    spec.insert(
        "workflowTemplateRef".into(),
        json!({"name": p.settings.name}),
    );
    if let Some(e) = entrypoint {
        spec.insert("entrypoint".into(), json!(e));
    }
    if !args.is_empty() {
        spec.insert("arguments".into(), json!({"parameters": args}));
    }
    let prefix = match entrypoint {
        Some(e) => format!("{}-{e}-", p.settings.name),
        None => format!("{}-", p.settings.name),
    };
    json!({
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": prefix, "namespace": p.settings.namespace, "labels": labels(p)},
        "spec": Value::Object(spec),
    })
}

/// Drops `null` members (used for optional fields left unset).
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(prune);
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

/// A manifest as YAML, with a header saying where it comes from.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let mut v = v.clone();
    prune(&mut v);
    let body = serde_norway::to_string(&v).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Generated by `soundscape render` from the pipeline spec (crates/soundscape-workflow).\n# Do not edit: change the spec and render again.\n{body}"
    ))
}

/// The files `soundscape render` writes into `argo/`: the template and a Workflow that runs it
/// with its default parameters.
pub fn files(p: &Pipeline) -> Result<Vec<(&'static str, String)>, String> {
    let problems = crate::check::problems(p);
    if !problems.is_empty() {
        return Err(format!(
            "the pipeline spec is broken:\n{}",
            problems.join("\n")
        ));
    }
    let manifests = [
        ("workflowtemplate.yaml", workflow_template(p)),
        ("workflow.yaml", workflow(p, None, None, &[])),
    ];
    let mut out = Vec::new();
    for (name, m) in manifests {
        let invalid = crate::validate::problems(&m);
        if !invalid.is_empty() {
            return Err(format!(
                "{name} breaks the Argo schema:\n{}",
                invalid.join("\n")
            ));
        }
        out.push((name, to_yaml(&m)?));
    }
    Ok(out)
}
