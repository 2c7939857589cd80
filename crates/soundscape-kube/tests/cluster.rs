//! The kube-rs code against kube's tower-test mock answering with recorded API responses
//! (`fixtures/`): apply and submit, a watch to completion, a failed node named with its pod,
//! a 409 on create, a watch that ends in 410 Gone, and the run summary of a finished run.

use http::{Method, Request, Response};
use kube::client::Body;
use kube::Client;
use serde_json::json;
use soundscape_kube::Cluster;
use tower_test::mock;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// One expected call: method, path, a piece of the query that must be there, the answer.
struct Call {
    method: Method,
    path: &'static str,
    query: &'static str,
    status: u16,
    body: Vec<u8>,
}

fn call(method: Method, path: &'static str, query: &'static str, status: u16, body: &str) -> Call {
    Call {
        method,
        path,
        query,
        status,
        body: fixture(body),
    }
}

const WORKFLOWS: &str = "/apis/argoproj.io/v1alpha1/namespaces/soundscape/workflows";
const ONE: &str = "/apis/argoproj.io/v1alpha1/namespaces/soundscape/workflows/soundscape-x7k2p";

/// A client whose API server answers `calls` in order, checking each request.
fn cluster(calls: Vec<Call>) -> (Cluster, tokio::task::JoinHandle<()>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = std::pin::pin!(handle);
        for (i, c) in calls.into_iter().enumerate() {
            let (req, send) = handle
                .next_request()
                .await
                .unwrap_or_else(|| panic!("call {i} never came"));
            assert_eq!(req.method(), c.method, "call {i}: {}", req.uri());
            assert_eq!(req.uri().path(), c.path, "call {i}");
            let q = req.uri().query().unwrap_or_default().to_string();
            assert!(
                q.contains(c.query),
                "call {i}: query {q:?} lacks {:?}",
                c.query
            );
            send.send_response(
                Response::builder()
                    .status(c.status)
                    .body(Body::from(c.body))
                    .unwrap(),
            );
        }
    });
    (
        Cluster::new(Client::new(service, "soundscape"), "soundscape"),
        server,
    )
}

fn workflow() -> serde_json::Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": "soundscape-", "namespace": "soundscape"},
        "spec": {"workflowTemplateRef": {"name": "soundscape"}},
    })
}

#[tokio::test]
async fn submit_and_follow_to_success() {
    let (c, server) = cluster(vec![
        call(
            Method::PATCH,
            "/apis/argoproj.io/v1alpha1/namespaces/soundscape/workflowtemplates/soundscape",
            "fieldManager=soundscape",
            200,
            "workflowtemplate-applied.json",
        ),
        call(Method::POST, WORKFLOWS, "", 201, "workflow-created.json"),
        call(Method::GET, ONE, "", 200, "workflow-running.json"),
        call(
            Method::GET,
            WORKFLOWS,
            "watch=true",
            200,
            "watch-to-success.jsonl",
        ),
    ]);
    let t = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowTemplate", "metadata": {"name": "soundscape"}, "spec": {}});
    c.apply_template(&t).await.unwrap();
    let name = c.create_workflow(&workflow()).await.unwrap();
    assert_eq!(name, "soundscape-x7k2p");
    let mut phases = Vec::new();
    let end = c
        .follow(&name, &mut |p| {
            phases.push((p.phase.clone(), p.progress.clone()))
        })
        .await
        .unwrap();
    assert_eq!(end.phase, "Succeeded");
    assert_eq!(
        phases,
        [
            ("Running".into(), "1/2".into()),
            ("Running".into(), "2/3".into()),
            ("Succeeded".into(), "3/3".into())
        ]
    );
    assert!(end.failed_steps().is_empty());
    server.await.unwrap();
}

#[tokio::test]
async fn a_failed_node_is_named_with_its_pod() {
    let (c, server) = cluster(vec![
        call(Method::GET, ONE, "", 200, "workflow-failed.json"),
        call(
            Method::GET,
            "/api/v1/namespaces/soundscape/pods",
            "labelSelector=workflows.argoproj.io%2Fworkflow%3Dsoundscape-x7k2p",
            200,
            "pods.json",
        ),
    ]);
    let end = c.follow("soundscape-x7k2p", &mut |_| {}).await.unwrap();
    assert_eq!(end.phase, "Failed");
    let failures = c.failures(&end).await.unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let f = &failures[0];
    assert!(f.step.starts_with("compute-soundscapes(0:92/"), "{f:?}");
    assert_eq!(f.message, "Error (exit code 1)");
    assert_eq!(
        f.pod.as_deref(),
        Some("soundscape-x7k2p-compute-soundscapes-3051263479")
    );
    assert_eq!(
        f.hint,
        "kubectl logs -n soundscape soundscape-x7k2p-compute-soundscapes-3051263479 -c main"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_name_clash_on_create_is_tried_again() {
    let (c, server) = cluster(vec![
        call(Method::POST, WORKFLOWS, "", 409, "status-409.json"),
        call(Method::POST, WORKFLOWS, "", 201, "workflow-created.json"),
    ]);
    assert_eq!(
        c.create_workflow(&workflow()).await.unwrap(),
        "soundscape-x7k2p"
    );
    server.await.unwrap();
    // A fixed name that exists is an error, not a retry.
    let (c, server) = cluster(vec![call(
        Method::POST,
        WORKFLOWS,
        "",
        409,
        "status-409.json",
    )]);
    let mut named = workflow();
    named["metadata"] = json!({"name": "soundscape-x7k2p", "namespace": "soundscape"});
    let e = c.create_workflow(&named).await.unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_watch_gone_410_starts_again_from_a_fresh_read() {
    let (c, server) = cluster(vec![
        call(Method::GET, ONE, "", 200, "workflow-running.json"),
        call(
            Method::GET,
            WORKFLOWS,
            "resourceVersion=1002",
            200,
            "watch-gone.jsonl",
        ),
        call(Method::GET, ONE, "", 200, "workflow-succeeded.json"),
    ]);
    let mut seen = 0;
    let end = c
        .follow("soundscape-x7k2p", &mut |_| seen += 1)
        .await
        .unwrap();
    assert_eq!((end.phase.as_str(), seen), ("Succeeded", 2));
    server.await.unwrap();
}

#[tokio::test]
async fn a_finished_run_carries_its_summary_in_the_collect_output() {
    let (c, server) = cluster(vec![call(
        Method::GET,
        ONE,
        "",
        200,
        "workflow-succeeded.json",
    )]);
    let p = c.progress("soundscape-x7k2p").await.unwrap();
    assert!(p.finished());
    // The batches of the fan-out come from get-audio-df's pod (under its Retry node).
    assert_eq!(
        p.output("get-audio-df", "batches"),
        Some(r#"[{"batch":0,"hours":0.833}]"#)
    );
    let summary: serde_json::Value =
        serde_json::from_str(p.output("collect", "summary").expect("collect's summary")).unwrap();
    assert_eq!(summary["status"], "partial");
    assert_eq!(summary["failed"][0]["stage"], "compute-soundscapes");
    // Only pods count as steps: the Retry, TaskGroup, DAG and Skipped nodes do not.
    let pods: Vec<&str> = p
        .nodes
        .iter()
        .filter(|n| n.kind == "Pod")
        .map(|n| n.template.as_str())
        .collect();
    assert_eq!(pods.len(), 5, "{pods:?}");
    assert!(p.failed_steps().is_empty());
    assert_eq!(p.output("collect", "missing"), None);
    server.await.unwrap();
}
