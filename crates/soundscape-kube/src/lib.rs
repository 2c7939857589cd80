//! The soundscape workflow on Kubernetes, through kube-rs: the `WorkflowTemplate` applied
//! (server-side apply, so a rerun updates it), `Workflow`s created and followed to the end
//! (a watch on the one object, restarted from a fresh read when the API answers 410 Gone),
//! failed steps named with their pod and a log command, and the logs of a run's pods.
//!
//! Argo's objects are handled as `DynamicObject`s of `argoproj.io/v1alpha1`; no Argo client
//! library is needed. Argo Workflows runs the steps; nothing here schedules anything.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::core::GroupVersionKind;
use kube::Client;
use serde_json::Value;

/// Label Argo puts on a workflow's pods.
pub const WORKFLOW_LABEL: &str = "workflows.argoproj.io/workflow";
/// Annotation Argo puts on a pod: the id of its node in the workflow status.
pub const NODE_ANNOTATION: &str = "workflows.argoproj.io/node-id";
/// Field manager of server-side apply.
pub const MANAGER: &str = "soundscape";

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("{0}")]
    Other(String),
}

/// One node (step) of a workflow's status.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub display_name: String,
    pub template: String,
    /// Pod, DAG, Retry, Skipped, ...
    pub kind: String,
    pub phase: String,
    pub message: String,
    /// Output parameters (name, value).
    pub outputs: Vec<(String, String)>,
}

/// What a workflow's status says.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub name: String,
    /// Pending, Running, Succeeded, Failed, Error (empty before the controller saw it).
    pub phase: String,
    pub message: String,
    /// `done/total` steps as Argo counts them.
    pub progress: String,
    pub nodes: Vec<Node>,
}

impl Progress {
    pub fn from_object(o: &DynamicObject) -> Progress {
        let s = &o.data["status"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut nodes: Vec<Node> = s["nodes"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(id, n)| Node {
                        id: id.clone(),
                        display_name: text(&n["displayName"]),
                        template: text(&n["templateName"]),
                        kind: text(&n["type"]),
                        phase: text(&n["phase"]),
                        message: text(&n["message"]),
                        outputs: n["outputs"]["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|p| (text(&p["name"]), text(&p["value"])))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Progress {
            name: o.metadata.name.clone().unwrap_or_default(),
            phase: text(&s["phase"]),
            message: text(&s["message"]),
            progress: text(&s["progress"]),
            nodes,
        }
    }

    /// Whether the workflow has ended.
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed" | "Error")
    }

    /// The value of output parameter `name` of a pod of `template` (the last one that has it).
    pub fn output(&self, template: &str, name: &str) -> Option<&str> {
        self.nodes
            .iter()
            .filter(|n| n.kind == "Pod" && n.template == template)
            .flat_map(|n| n.outputs.iter())
            .rfind(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Pod steps that failed or errored.
    pub fn failed_steps(&self) -> Vec<&Node> {
        self.nodes
            .iter()
            .filter(|n| n.kind == "Pod" && matches!(n.phase.as_str(), "Failed" | "Error"))
            .collect()
    }
}

/// A failed step with the pod that ran it and how to read its log.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub step: String,
    pub message: String,
    pub pod: Option<String>,
    pub hint: String,
}

/// A namespace of a cluster with Argo Workflows.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    pub namespace: String,
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind),
        plural,
    )
}

fn object(v: &Value) -> Result<DynamicObject, KubeError> {
    serde_json::from_value(v.clone())
        .map_err(|e| KubeError::Other(format!("not a Kubernetes object: {e}")))
}

impl Cluster {
    pub fn new(client: Client, namespace: &str) -> Cluster {
        Cluster {
            client,
            namespace: namespace.into(),
        }
    }

    fn workflows(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &resource("Workflow", "workflows"),
        )
    }

    fn templates(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &resource("WorkflowTemplate", "workflowtemplates"),
        )
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Creates or updates the WorkflowTemplate (server-side apply).
    pub async fn apply_template(&self, template: &Value) -> Result<(), KubeError> {
        let name = template["metadata"]["name"]
            .as_str()
            .ok_or_else(|| KubeError::Other("template without metadata.name".into()))?;
        let params = PatchParams::apply(MANAGER).force();
        self.templates()
            .patch(name, &params, &Patch::Apply(template))
            .await?;
        Ok(())
    }

    /// Creates a Workflow; returns its name. A name clash (409) of a generated name is tried
    /// once more, as the API server asks.
    pub async fn create_workflow(&self, workflow: &Value) -> Result<String, KubeError> {
        let obj = object(workflow)?;
        let api = self.workflows();
        let created = match api.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(s)) if s.code == 409 && obj.metadata.generate_name.is_some() => {
                tracing::warn!("generated workflow name taken: trying again");
                api.create(&PostParams::default(), &obj).await?
            }
            other => other?,
        };
        created
            .metadata
            .name
            .ok_or_else(|| KubeError::Other("created workflow has no name".into()))
    }

    pub async fn progress(&self, name: &str) -> Result<Progress, KubeError> {
        Ok(Progress::from_object(&self.workflows().get(name).await?))
    }

    /// Follows a workflow until it ends; `each` sees every change. A watch that the API ends
    /// or answers with 410 Gone (its resourceVersion too old) starts again from a fresh read.
    pub async fn follow(
        &self,
        name: &str,
        each: &mut (dyn FnMut(&Progress) + Send),
    ) -> Result<Progress, KubeError> {
        let api = self.workflows();
        loop {
            let current = api.get(name).await?;
            let progress = Progress::from_object(&current);
            each(&progress);
            if progress.finished() {
                return Ok(progress);
            }
            let rv = current
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            let params = WatchParams::default()
                .fields(&format!("metadata.name={name}"))
                .timeout(290);
            let mut events = api.watch(&params, &rv).await?.boxed();
            loop {
                match events.try_next().await {
                    Ok(Some(WatchEvent::Added(o) | WatchEvent::Modified(o))) => {
                        let p = Progress::from_object(&o);
                        each(&p);
                        if p.finished() {
                            return Ok(p);
                        }
                    }
                    Ok(Some(WatchEvent::Deleted(_))) => {
                        return Err(KubeError::Other(format!("workflow {name} was deleted")))
                    }
                    Ok(Some(WatchEvent::Bookmark(_))) => {}
                    Ok(Some(WatchEvent::Error(s))) if s.code == 410 => {
                        tracing::info!("watch expired (410 Gone): reading the workflow again");
                        break;
                    }
                    Ok(Some(WatchEvent::Error(s))) => {
                        return Err(KubeError::Api(kube::Error::Api(s)))
                    }
                    Ok(None) => break,
                    Err(kube::Error::Api(s)) if s.code == 410 => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// The pods of a workflow, with the node id each one ran.
    async fn pods_by_node(&self, workflow: &str) -> Result<Vec<(String, String)>, KubeError> {
        let lp = ListParams::default().labels(&format!("{WORKFLOW_LABEL}={workflow}"));
        let pods = self.pods().list(&lp).await?;
        Ok(pods
            .items
            .into_iter()
            .filter_map(|p| {
                let node = p
                    .metadata
                    .annotations
                    .as_ref()?
                    .get(NODE_ANNOTATION)?
                    .clone();
                Some((node, p.metadata.name?))
            })
            .collect())
    }

    /// The failed steps of a workflow with their pods and a log command.
    pub async fn failures(&self, p: &Progress) -> Result<Vec<Failure>, KubeError> {
        let failed = p.failed_steps();
        if failed.is_empty() {
            return Ok(vec![]);
        }
        let pods = self.pods_by_node(&p.name).await?;
        Ok(failed
            .into_iter()
            .map(|n| {
                let pod = pods
                    .iter()
                    .find(|(id, _)| *id == n.id)
                    .map(|(_, pod)| pod.clone());
                let hint = match &pod {
                    Some(pod) => format!("kubectl logs -n {} {pod} -c main", self.namespace),
                    None => format!("soundscape logs {} --step {}", p.name, n.template),
                };
                Failure {
                    step: n.display_name.clone(),
                    message: n.message.clone(),
                    pod,
                    hint,
                }
            })
            .collect())
    }

    /// The logs (container `main`) of a workflow's pods, optionally only those whose step
    /// name contains `filter`; (pod, step, text) in pod name order.
    pub async fn logs(
        &self,
        workflow: &str,
        filter: Option<&str>,
    ) -> Result<Vec<(String, String, String)>, KubeError> {
        let progress = self.progress(workflow).await?;
        let mut out = Vec::new();
        let mut pods = self.pods_by_node(workflow).await?;
        pods.sort_by(|a, b| a.1.cmp(&b.1));
        let lp = LogParams {
            container: Some("main".into()),
            ..Default::default()
        };
        for (node, pod) in pods {
            let step = progress
                .nodes
                .iter()
                .find(|n| n.id == node)
                .map(|n| n.display_name.clone())
                .unwrap_or_default();
            if filter.is_some_and(|f| !step.contains(f)) {
                continue;
            }
            let text = self.pods().logs(&pod, &lp).await?;
            out.push((pod, step, text));
        }
        Ok(out)
    }
}
