//! What a run costs Argo, before it is submitted: the size of the fan-out parameter, the
//! nodes of the Workflow's status and the size of the Workflow object.
//!
//! The nodes are counted from the rendered template as Argo's controller makes them: one
//! node for each DAG template entered, a `TaskGroup` for each expanded `withParam` task, a
//! `Retry` node above the pods of a template with a retry strategy, and a `Pod` per attempt.
//! Every condition is taken to hold (the largest run). The object is estimated by writing a
//! Workflow with a status of that many nodes, each with the fields Argo fills in for a
//! finished node (names as long as Argo's, inputs, outputs, times, resources, children), the
//! stored template spec, and the task-result flags of every pod; its length is measured before
//! Argo's compression.

use serde_json::{json, Map, Value};
use soundscape_core::batches::BatchPlan;

use crate::argo::workflow_template;
use crate::spec::Pipeline;

/// Kubernetes' object size limit (etcd's request limit).
pub const OBJECT_LIMIT: usize = 1024 * 1024;
/// What the fan-out parameter may take: Argo keeps outputs in a 256 KB pod annotation, and a
/// bounded plan keeps far below it.
pub const FAN_OUT_LIMIT: usize = 16 * 1024;

/// The estimate for one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    pub batches: usize,
    pub fan_out_bytes: usize,
    /// Every node of the status: DAGs, task groups, retries, pods.
    pub nodes: usize,
    pub pods: usize,
    pub object_bytes: usize,
}

struct Walk<'a> {
    templates: Map<String, Value>,
    plan: &'a BatchPlan,
    /// Share of pods that fail once and are retried.
    retry_share: f64,
    nodes: Map<String, Value>,
    pods: usize,
    /// Templates with a retry strategy entered so far.
    retried: usize,
    wf: String,
}

const HOST: &str = "gke-soundscape-pool-1-0123abcd-x9k2";

impl Walk<'_> {
    fn id(&self) -> String {
        // Argo's node ids: the workflow name and a 10-digit hash.
        format!(
            "{}-{:010}",
            self.wf,
            1_000_000_000 + self.nodes.len() * 7919
        )
    }

    fn node(
        &mut self,
        name: &str,
        display: &str,
        kind: &str,
        template: &str,
        inputs: &Value,
    ) -> String {
        let id = self.id();
        let mut n = json!({
            "id": id, "name": name, "displayName": display, "type": kind,
            "templateName": template, "templateScope": "local/", "phase": "Succeeded",
            "boundaryID": format!("{}-{:010}", self.wf, 1_234_567_890u64),
            "startedAt": "2026-12-02T01:02:03Z", "finishedAt": "2026-12-02T01:32:03Z",
            "progress": "1/1", "resourcesDuration": {"cpu": 3600, "memory": 1800},
            "children": [],
        });
        if inputs.is_object() {
            n["inputs"] = inputs.clone();
        }
        if kind == "Pod" {
            n["hostNodeName"] = json!(HOST);
            n["outputs"] = json!({"exitCode": "0"});
        }
        self.nodes.insert(id.clone(), n);
        id
    }

    fn child(&mut self, parent: &str, child: String) {
        if let Some(c) = self.nodes[parent]["children"].as_array_mut() {
            c.push(Value::String(child));
        }
    }

    /// Enters `template` as node `name`; returns its id.
    fn enter(&mut self, template: &str, name: &str, display: &str, inputs: &Value) -> String {
        let t = self.templates[template].clone();
        if let Some(tasks) = t["dag"]["tasks"].as_array() {
            let me = self.node(name, display, "DAG", template, inputs);
            for task in tasks {
                let tname = task["name"].as_str().unwrap_or_default();
                let target = task["template"].as_str().unwrap_or_default();
                if task.get("withParam").is_some() {
                    let group = self.node(
                        &format!("{name}.{tname}"),
                        tname,
                        "TaskGroup",
                        "",
                        &Value::Null,
                    );
                    self.child(&me, group.clone());
                    for item in self.plan.fanout() {
                        let disp = format!(
                            "{tname}({}:batch:{},hours:{})",
                            item.batch, item.batch, item.hours
                        );
                        let args = json!({"parameters": [
                            {"name": "batch", "value": item.batch.to_string()},
                            {"name": "hours", "value": item.hours.to_string()},
                        ]});
                        let c = self.enter(target, &format!("{name}.{disp}"), &disp, &args);
                        self.child(&group, c);
                    }
                } else {
                    let c = self.enter(target, &format!("{name}.{tname}"), tname, inputs);
                    self.child(&me, c);
                }
            }
            return me;
        }
        let mut outputs = Value::Null;
        if let Some(o) = t["outputs"]["parameters"].as_array() {
            // The value of an output parameter is kept in the status.
            let value = if o.iter().any(|p| p["name"] == "batches") {
                serde_json::to_string(&self.plan.fanout()).unwrap_or_default()
            } else {
                "x".repeat(16 * 1024)
            };
            outputs =
                json!({"parameters": [{"name": o[0]["name"], "value": value}], "exitCode": "0"});
        }
        let retried = t.get("retryStrategy").is_some();
        let parent = if retried {
            Some(self.node(name, display, "Retry", template, inputs))
        } else {
            None
        };
        // The first attempt, and a second for `retry_share` of the retried templates.
        let mut attempts = 1;
        if retried {
            self.retried += 1;
            let k = self.retried as f64;
            if (k * self.retry_share).floor() > ((k - 1.0) * self.retry_share).floor() {
                attempts = 2;
            }
        }
        let mut last = String::new();
        for a in 0..attempts {
            let (n, d) = match parent {
                Some(_) => (format!("{name}({a})"), format!("{display}({a})")),
                None => (name.to_string(), display.to_string()),
            };
            last = self.node(&n, &d, "Pod", template, inputs);
            if outputs.is_object() {
                self.nodes[&last]["outputs"] = outputs.clone();
            }
            if let Some(p) = &parent {
                self.child(p, last.clone());
            }
        }
        self.pods += attempts;
        parent.unwrap_or(last)
    }
}

/// The estimate for `plan` run through `p`, `retry_share` of the retried pods retried once.
pub fn estimate(p: &Pipeline, plan: &BatchPlan, retry_share: f64) -> Estimate {
    let wt = workflow_template(p);
    let templates: Map<String, Value> = wt["spec"]["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["name"].as_str().unwrap_or_default().to_string(),
                t.clone(),
            )
        })
        .collect();
    let wf = format!("{}-x7k2p", p.settings.name);
    let mut w = Walk {
        templates,
        plan,
        retry_share,
        nodes: Map::new(),
        pods: 0,
        retried: 0,
        wf: wf.clone(),
    };
    w.enter("main", &wf, &wf, &Value::Null);
    let task_results: Map<String, Value> = w
        .nodes
        .iter()
        .filter(|(_, n)| n["type"] == "Pod")
        .map(|(id, _)| (id.clone(), json!(true)))
        .collect();
    let object = json!({
        "apiVersion": crate::argo::API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "name": wf, "namespace": p.settings.namespace, "uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "resourceVersion": "123456789", "generation": 4321, "creationTimestamp": "2026-12-02T01:00:00Z",
            "labels": wt["metadata"]["labels"].clone(),
            "annotations": {"workflows.argoproj.io/pod-name-format": "v2"},
        },
        "spec": {"workflowTemplateRef": {"name": p.settings.name}, "arguments": wt["spec"]["arguments"].clone()},
        "status": {
            "phase": "Succeeded", "startedAt": "2026-12-02T01:00:00Z", "finishedAt": "2026-12-02T09:00:00Z",
            "progress": format!("{}/{}", w.pods, w.pods),
            "nodes": Value::Object(w.nodes.clone()),
            "storedWorkflowTemplateSpec": wt["spec"].clone(),
            "taskResultsCompletionStatus": task_results,
            "conditions": [{"type": "PodRunning", "status": "False"}, {"type": "Completed", "status": "True"}],
            "resourcesDuration": {"cpu": 36_000_000, "memory": 18_000_000},
            "artifactRepositoryRef": {"default": true, "artifactRepository": {}},
        },
    });
    Estimate {
        batches: plan.batches.len(),
        fan_out_bytes: serde_json::to_vec(&plan.fanout()).map_or(0, |v| v.len()),
        nodes: w.nodes.len(),
        pods: w.pods,
        object_bytes: serde_json::to_vec(&object).map_or(0, |v| v.len()),
    }
}
