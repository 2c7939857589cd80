//! Rendering to Argo Workflows: a `WorkflowTemplate` with container templates per stage, the
//! `main` DAG (the run-wide steps, then the fan-out over batches, then the final steps), the
//! `batch` DAG (each per-unit stage once for the batch's units, run by `soundscape batch`) and
//! the `unit` DAG (the per-unit stages for one unit, for reruns); and `Workflow`s that run the
//! template, whole or one stage for one unit; and the `CronWorkflow` that runs it every day over
//! the chunks of live streams.
//!
//! The fan-out parameter holds one small item per batch (`{"batch": 7, "hours": 13}`), never
//! unit ids, so neither it nor the Workflow's status grows with the units beyond the batch
//! count ([`crate::scale`] estimates both). Housekeeping comes from the [`Settings`]: succeeded
//! pods are deleted (failed ones kept for their logs), finished Workflows expire, every leaf
//! template has a deadline sized from the audio hours it handles, uploads to Alfresco are
//! bounded by a semaphore, and pods get the node selector, tolerations and priority class.
//!
//! [`Settings`]: crate::spec::Settings

use serde_json::{json, Map, Value};

use crate::spec::{Condition, EnvValue, Level, Pipeline, Step, Text};

pub const API_VERSION: &str = "argoproj.io/v1alpha1";
/// Name of the shared volume in the pod specs.
pub const VOLUME: &str = "shared";
/// The input parameter of per-unit templates.
pub const UNIT_INPUT: &str = "unit";
/// The input parameter of batch templates.
pub const BATCH_INPUT: &str = "batch";
/// The input parameter both carry: audio hours, which size the deadlines.
pub const HOURS_INPUT: &str = "hours";
/// Audio hours a per-unit template assumes when it runs alone (a rerun).
pub const RERUN_HOURS: u64 = 24;
/// Name suffix of a per-unit stage's batch template.
pub const BATCH_SUFFIX: &str = "-batch";
/// Stands for the unit id in a batch template's stage command; `soundscape batch` replaces it.
pub const UNIT_PLACEHOLDER: &str = "{unit}";
/// The DAG task that fans out over the batches.
pub const FAN_OUT_TASK: &str = "batches";

/// How the unit id renders: an input parameter, or the batch runner's placeholder.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Plain,
    Unit,
    Batch,
}

fn param(p: &str) -> String {
    format!("{{{{workflow.parameters.{p}}}}}")
}

fn input(p: &str) -> String {
    format!("{{{{inputs.parameters.{p}}}}}")
}

fn text(t: &Text, form: Form) -> String {
    match t {
        Text::Lit(s) => s.clone(),
        Text::Param(p) => param(p),
        Text::Unit if form == Form::Batch => UNIT_PLACEHOLDER.into(),
        Text::Unit => input(UNIT_INPUT),
        Text::Join(parts) => parts.iter().map(|x| text(x, form)).collect(),
    }
}

fn condition(c: &Condition) -> String {
    match c {
        Condition::Set(p) => format!("'{}' != ''", param(p)),
        Condition::Any(cs) => cs.iter().map(condition).collect::<Vec<_>>().join(" || "),
        Condition::All(cs) => cs
            .iter()
            .map(|c| format!("({})", condition(c)))
            .collect::<Vec<_>>()
            .join(" && "),
    }
}

fn labels(p: &Pipeline) -> Value {
    json!({
        "app.kubernetes.io/name": p.settings.name,
        "app.kubernetes.io/version": env!("CARGO_PKG_VERSION"),
        "app.kubernetes.io/managed-by": "soundscape",
    })
}

/// The name of a step's template in `form`.
fn template_name(s: &Step, form: Form) -> String {
    match form {
        Form::Batch => format!("{}{BATCH_SUFFIX}", s.name),
        _ => s.name.to_string(),
    }
}

/// What the container runs: the stage binary, or for a batch `soundscape batch` around it.
fn command(p: &Pipeline, s: &Step, form: Form) -> (String, Vec<String>) {
    let stage: Vec<String> = s.args.iter().map(|a| text(a, form)).collect();
    if form != Form::Batch {
        return (s.binary.into(), stage);
    }
    let mut args = vec![
        "batch".to_string(),
        format!("--step={}", s.name),
        format!("--plan={}", text(&p.fan_out.plan, form)),
        format!("--batch={}", input(BATCH_INPUT)),
        format!("--reports={}", text(&p.fan_out.reports, form)),
    ];
    args.extend(s.depends.iter().map(|d| format!("--after={d}")));
    args.push("--".into());
    args.push(s.binary.into());
    args.extend(stage);
    ("soundscape".into(), args)
}

fn container_template(p: &Pipeline, s: &Step, form: Form) -> Value {
    let env: Vec<Value> = s
        .env
        .iter()
        .map(|e| match &e.value {
            EnvValue::Text(t) => json!({"name": e.name, "value": text(t, form)}),
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
    let (cmd, args) = command(p, s, form);
    let mut container = json!({
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [cmd],
        "args": args,
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
    let mut t = json!({"name": template_name(s, form), "container": container});
    let d = s.deadline;
    match form {
        // IntOrString, which the JSON schema types as a string.
        Form::Plain => t["activeDeadlineSeconds"] = json!(d.floor_s.to_string()),
        Form::Unit | Form::Batch => {
            let first = if form == Form::Unit {
                json!({"name": UNIT_INPUT})
            } else {
                json!({"name": BATCH_INPUT})
            };
            let mut hours = json!({"name": HOURS_INPUT});
            if form == Form::Unit {
                hours["default"] = json!(RERUN_HOURS.to_string());
            }
            t["inputs"] = json!({"parameters": [first, hours]});
            // IntOrString: an Argo expression evaluated when the pod is made.
            t["activeDeadlineSeconds"] = json!(format!(
                "{{{{=asInt(inputs.parameters.{HOURS_INPUT}) * {} + {}}}}}",
                d.per_hour_s, d.floor_s
            ));
        }
    }
    if let Some(o) = &s.output {
        t["outputs"] =
            json!({"parameters": [{"name": o.name, "valueFrom": {"path": text(&o.path, form)}}]});
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
    if let Some(key) = s.semaphore {
        t["synchronization"] = json!({"semaphores": [
            {"configMapKeyRef": {"name": p.settings.limits, "key": key}}
        ]});
    }
    t
}

fn task(s: &Step, form: Form) -> Value {
    let mut t = json!({"name": s.name, "template": template_name(s, form)});
    if !s.depends.is_empty() {
        t["depends"] = json!(s.depends.join(" && "));
    }
    match form {
        Form::Plain => {}
        Form::Unit => {
            t["arguments"] = json!({"parameters": [
                {"name": UNIT_INPUT, "value": input(UNIT_INPUT)},
                {"name": HOURS_INPUT, "value": input(HOURS_INPUT)},
            ]})
        }
        Form::Batch => {
            t["arguments"] = json!({"parameters": [
                {"name": BATCH_INPUT, "value": input(BATCH_INPUT)},
                {"name": HOURS_INPUT, "value": input(HOURS_INPUT)},
            ]})
        }
    }
    if let Some(c) = &s.when {
        t["when"] = json!(condition(c));
    }
    t
}

/// The run-wide steps that no other run-wide step waits for.
fn leaves<'a>(steps: &[&'a Step]) -> Vec<&'a str> {
    steps
        .iter()
        .filter(|s| !steps.iter().any(|t| t.depends.contains(&s.name)))
        .map(|s| s.name)
        .collect()
}

/// The `WorkflowTemplate`.
pub fn workflow_template(p: &Pipeline) -> Value {
    let run: Vec<&Step> = p.run_steps().collect();
    let mut main_tasks: Vec<Value> = run.iter().map(|s| task(s, Form::Plain)).collect();
    // The fan-out waits for every run-wide step (the unit folders must exist).
    main_tasks.push(json!({
        "name": FAN_OUT_TASK,
        "template": "batch",
        "depends": leaves(&run).join(" && "),
        "arguments": {"parameters": [
            {"name": BATCH_INPUT, "value": "{{item.batch}}"},
            {"name": HOURS_INPUT, "value": "{{item.hours}}"},
        ]},
        "withParam": format!("{{{{tasks.{}.outputs.parameters.{}}}}}", p.fan_out.step, p.fan_out.output),
    }));
    // The final steps run however the batches ended.
    for s in p.steps_of(Level::Final) {
        let mut t = task(s, Form::Plain);
        if s.depends.is_empty() {
            let b = FAN_OUT_TASK;
            t["depends"] = json!(format!("{b}.Succeeded || {b}.Failed || {b}.Errored"));
        }
        main_tasks.push(t);
    }
    let unit_steps: Vec<&Step> = p.unit_steps().collect();
    let mut templates = vec![
        json!({"name": "main", "parallelism": p.settings.parallelism, "dag": {"tasks": main_tasks}}),
        json!({
            "name": "batch",
            "inputs": {"parameters": [{"name": BATCH_INPUT}, {"name": HOURS_INPUT}]},
            "dag": {"tasks": unit_steps.iter().map(|s| task(s, Form::Batch)).collect::<Vec<_>>()},
        }),
        json!({
            "name": "unit",
            "inputs": {"parameters": [{"name": UNIT_INPUT}, {"name": HOURS_INPUT, "default": RERUN_HOURS.to_string()}]},
            "dag": {"tasks": unit_steps.iter().map(|s| task(s, Form::Unit)).collect::<Vec<_>>()},
        }),
    ];
    for s in &p.steps {
        if s.per_unit() {
            templates.push(container_template(p, s, Form::Batch));
            templates.push(container_template(p, s, Form::Unit));
        } else {
            templates.push(container_template(p, s, Form::Plain));
        }
    }
    let params: Vec<Value> = p
        .params
        .iter()
        .map(|q| json!({"name": q.name, "value": q.default, "description": q.description}))
        .collect();
    let st = &p.settings;
    let mut spec = json!({
        "entrypoint": "main",
        "serviceAccountName": st.service_account,
        "arguments": {"parameters": params},
        "volumes": [{"name": VOLUME, "persistentVolumeClaim": {"claimName": st.claim}}],
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
        // Succeeded pods go at once; failed ones stay for their logs until the Workflow expires.
        "podGC": {"strategy": "OnPodSuccess"},
        "ttlStrategy": {
            "secondsAfterSuccess": st.ttl_after_success_s,
            "secondsAfterFailure": st.ttl_after_failure_s,
        },
        "templates": templates,
    });
    if !st.node_selector.is_empty() {
        spec["nodeSelector"] = json!(st.node_selector);
    }
    if !st.tolerations.is_empty() {
        let ts: Vec<Value> = st
            .tolerations
            .iter()
            .map(|t| {
                let mut v = json!({"key": t.key});
                match &t.value {
                    Some(x) => {
                        v["operator"] = json!("Equal");
                        v["value"] = json!(x);
                    }
                    None => v["operator"] = json!("Exists"),
                }
                if let Some(e) = &t.effect {
                    v["effect"] = json!(e);
                }
                v
            })
            .collect();
        spec["tolerations"] = Value::Array(ts);
    }
    if let Some(pc) = &st.priority_class {
        spec["podPriorityClassName"] = json!(pc);
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "WorkflowTemplate",
        "metadata": {"name": st.name, "namespace": st.namespace, "labels": labels(p)},
        "spec": spec,
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

/// The day before the CronWorkflow's scheduled run, `YYYY-MM-DD` (an Argo expression over
/// `workflow.scheduledTime`, so a late or retried run still takes the day it was meant for).
pub const DAY_BEFORE_SCHEDULE: &str = "{{=sprig.date('2006-01-02', sprig.dateModify('-24h', sprig.toDate('2006-01-02T15:04:05Z07:00', workflow.scheduledTime)))}}";

/// The layout of capture-stream's chunk folders for get-audio-df: `<source>/<YYYY-MM-DD>/`.
pub const STREAMS_LAYOUT: &str = "{recorder}/{deployment}";

/// A `CronWorkflow` that runs the template every day over the chunks capture-stream wrote the
/// day before: source = the streams folder, its layout, `from` = `to` = that day, and a work
/// folder of its own per day. Runs never overlap; the extraction step runs when the template's
/// `model` and `extract-rules` parameters are set (`params` sets any parameter).
pub fn cron_workflow(p: &Pipeline, params: &[(String, String)]) -> Value {
    let st = &p.settings;
    let mut args: Vec<(String, String)> = vec![
        ("source".into(), st.streams_dir.clone()),
        ("layout".into(), STREAMS_LAYOUT.into()),
        ("from".into(), DAY_BEFORE_SCHEDULE.into()),
        ("to".into(), DAY_BEFORE_SCHEDULE.into()),
        (
            "work-dir".into(),
            format!("{}/soundscape/streams-work/{DAY_BEFORE_SCHEDULE}", st.mount),
        ),
    ];
    for (k, v) in params {
        match args.iter_mut().find(|(n, _)| n == k) {
            Some(slot) => slot.1.clone_from(v),
            None => args.push((k.clone(), v.clone())),
        }
    }
    let parameters: Vec<Value> = args
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "CronWorkflow",
        "metadata": {"name": format!("{}-streams", st.name), "namespace": st.namespace, "labels": labels(p)},
        "spec": {
            "schedules": [st.schedule],
            "timezone": st.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 7,
            "failedJobsHistoryLimit": 7,
            "workflowSpec": {
                "workflowTemplateRef": {"name": st.name},
                "arguments": {"parameters": parameters},
            },
        },
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

/// The files `soundscape render` writes into `argo/`: the template, a Workflow that runs it
/// with its default parameters, and the CronWorkflow over the stream chunks.
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
        ("cronworkflow.yaml", cron_workflow(p, &[])),
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
