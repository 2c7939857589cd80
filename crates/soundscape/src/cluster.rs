//! The cluster commands: `submit`, `rerun`, `status` and `logs`, over
//! [`soundscape_kube::Cluster`] with the client of the current kubeconfig (or the pod's
//! service account).

use std::collections::HashMap;

use anyhow::Context;
use soundscape_kube::{Cluster, Progress};
use soundscape_workflow::{argo, soundscape, Pipeline, Settings};

/// Options of the commands that start a workflow.
#[derive(Debug, Clone, clap::Args)]
pub struct SubmitArgs {
    /// Workflow parameter as NAME=VALUE (repeat), e.g. source=/shared_volume/audio/92, cumulus=92.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = crate::parse_kv)]
    pub set: Vec<(String, String)>,
    /// Container image of the stage binaries.
    #[arg(long)]
    pub image: Option<String>,
    /// Container image with the FFmpeg libraries, for spec-n-specvid.
    #[arg(long)]
    pub video_image: Option<String>,
    /// Do not wait for the workflow to end.
    #[arg(long)]
    pub no_follow: bool,
}

/// The namespace option of every cluster command.
#[derive(Debug, Clone, clap::Args)]
pub struct Namespace {
    /// Kubernetes namespace of the workflows.
    #[arg(long, default_value = "soundscape", env = "SOUNDSCAPE_NAMESPACE")]
    pub namespace: String,
}

fn pipeline(ns: &Namespace, a: &SubmitArgs) -> Pipeline {
    let mut s = Settings {
        namespace: ns.namespace.clone(),
        ..Settings::default()
    };
    if let Some(i) = &a.image {
        s.image = i.clone();
    }
    if let Some(i) = &a.video_image {
        s.video_image = i.clone();
    }
    soundscape(&s)
}

async fn connect(ns: &Namespace) -> anyhow::Result<Cluster> {
    let client = kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("no Kubernetes cluster: set KUBECONFIG or run inside a pod ({e})")
    })?;
    Ok(Cluster::new(client, &ns.namespace))
}

/// Prints what changed since the last look.
fn printer() -> impl FnMut(&Progress) + Send {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut phase = String::new();
    move |p: &Progress| {
        if p.phase != phase {
            phase = p.phase.clone();
            println!("{}: {} {}", p.name, or_pending(&p.phase), p.progress);
        }
        for n in p.nodes.iter().filter(|n| n.kind == "Pod") {
            if seen.get(&n.id) != Some(&n.phase) {
                seen.insert(n.id.clone(), n.phase.clone());
                let msg = if n.message.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", n.message)
                };
                println!("  {:<10} {}{msg}", n.phase, n.display_name);
            }
        }
    }
}

fn or_pending(phase: &str) -> &str {
    if phase.is_empty() {
        "Pending"
    } else {
        phase
    }
}

/// The final step whose output is the run summary.
const COLLECT_STEP: &str = "collect";

async fn report_end(c: &Cluster, p: &Progress) -> anyhow::Result<u8> {
    let failures = c.failures(p).await?;
    let (lines, code) = end_report(p, &failures);
    for line in lines {
        println!("{line}");
    }
    Ok(code)
}

/// What is printed when a workflow has ended, and the exit code: 0 when it succeeded and its
/// run summary (the output of the final `collect` step, when it ran) says done, else 3.
fn end_report(p: &Progress, failures: &[soundscape_kube::Failure]) -> (Vec<String>, u8) {
    let mut out = vec![format!(
        "{}: {}{}",
        p.name,
        p.phase,
        if p.message.is_empty() {
            String::new()
        } else {
            format!(": {}", p.message)
        }
    )];
    for f in failures {
        out.push(format!("  failed: {}: {}", f.step, f.message));
        out.push(format!("    pod: {}", f.pod.as_deref().unwrap_or("(gone)")));
        out.push(format!("    logs: {}", f.hint));
    }
    let summary = run_summary(p);
    if let Some(s) = &summary {
        out.extend(s.lines());
    }
    let clean = summary.as_ref().is_none_or(|s| s.status == "done");
    let code = if p.phase == "Succeeded" && clean {
        0
    } else {
        3
    };
    (out, code)
}

/// The run summary of the final step's output parameter, once it ran.
fn run_summary(p: &Progress) -> Option<soundscape_collect::RunSummary> {
    let text = p.output(COLLECT_STEP, "summary")?;
    serde_json::from_str(text).ok()
}

async fn start(
    ns: &Namespace,
    a: &SubmitArgs,
    entrypoint: Option<&str>,
    unit: Option<&str>,
) -> anyhow::Result<u8> {
    let p = pipeline(ns, a);
    p.check_params(&a.set).map_err(anyhow::Error::msg)?;
    let c = connect(ns).await?;
    c.apply_template(&argo::workflow_template(&p))
        .await
        .context("applying the WorkflowTemplate")?;
    let wf = argo::workflow(&p, entrypoint, unit, &a.set);
    let name = c
        .create_workflow(&wf)
        .await
        .context("creating the Workflow")?;
    println!("submitted {name} in namespace {}", ns.namespace);
    if a.no_follow {
        println!("follow it with: soundscape status {name}");
        return Ok(0);
    }
    let mut print = printer();
    let end = c.follow(&name, &mut print).await?;
    report_end(&c, &end).await
}

pub async fn submit(ns: &Namespace, a: &SubmitArgs) -> anyhow::Result<u8> {
    start(ns, a, None, None).await
}

/// One stage for one unit (or a run-wide stage alone) as a Workflow from the template.
pub async fn rerun(
    ns: &Namespace,
    a: &SubmitArgs,
    stage: &str,
    unit: Option<&str>,
) -> anyhow::Result<u8> {
    let p = pipeline(ns, a);
    let step = p.step(stage).with_context(|| {
        let names: Vec<&str> = p.steps.iter().map(|s| s.name).collect();
        format!("unknown stage {stage:?}; one of {}", names.join(", "))
    })?;
    if step.per_unit() && unit.is_none() {
        anyhow::bail!(
            "{stage} runs per unit: give --unit <cumulus>/<node>/<recorder>/<deployment>"
        );
    }
    if !step.per_unit() && unit.is_some() {
        anyhow::bail!("{stage} runs once for the whole run: leave out --unit");
    }
    start(ns, a, Some(stage), unit).await
}

pub async fn status(ns: &Namespace, name: &str) -> anyhow::Result<u8> {
    let c = connect(ns).await?;
    let p = c.progress(name).await?;
    println!("{}: {} {}", p.name, or_pending(&p.phase), p.progress);
    for n in p.nodes.iter().filter(|n| n.kind == "Pod") {
        println!("  {:<10} {}", n.phase, n.display_name);
    }
    if p.finished() {
        // report_end prints the run summary of the final step.
        report_end(&c, &p).await
    } else {
        Ok(0)
    }
}

pub async fn logs(ns: &Namespace, name: &str, step: Option<&str>) -> anyhow::Result<u8> {
    let c = connect(ns).await?;
    let logs = c.logs(name, step).await?;
    if logs.is_empty() {
        println!(
            "no pods of {name}{}",
            step.map(|s| format!(" for step {s}")).unwrap_or_default()
        );
    }
    for (pod, step, text) in logs {
        println!("==> {pod} ({step}) <==");
        print!("{text}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Workflow object as the API server sent it (the kube client's recorded answers).
    fn recorded(name: &str) -> Progress {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../soundscape-kube/tests/fixtures")
            .join(name);
        let o: kube::api::DynamicObject =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        Progress::from_object(&o)
    }

    #[test]
    fn the_end_of_a_run_prints_its_summary_and_exits_3_when_partial() {
        let p = recorded("workflow-succeeded.json");
        let (lines, code) = end_report(&p, &[]);
        assert_eq!(lines[0], "soundscape-x7k2p: Succeeded");
        assert!(
            lines[1].starts_with("run partial: 1 units, 6 recordings, 0.8 audio hours"),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("  compute-soundscapes")
                && l.contains("units: 0 done, 1 partial")
                && l.contains("peak 41 MB")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l
                == "  failed: compute-soundscapes 92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04 b3e1f0c2: decoding: truncated file: ended after 12.4 s of 600 s"),
            "{lines:#?}"
        );
        // The workflow succeeded, but a recording failed: partial.
        assert_eq!(code, 3);
    }

    #[test]
    fn a_failed_run_without_a_summary_names_its_failed_pod() {
        let p = recorded("workflow-failed.json");
        let f = soundscape_kube::Failure {
            step: "compute-soundscapes".into(),
            message: "Error (exit code 1)".into(),
            pod: None,
            hint: "kubectl logs ...".into(),
        };
        let (lines, code) = end_report(&p, &[f]);
        assert!(
            lines[0].starts_with("soundscape-x7k2p: Failed"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "  failed: compute-soundscapes: Error (exit code 1)"
        );
        assert_eq!(lines[2], "    pod: (gone)");
        assert_eq!(lines.len(), 4, "no summary: collect never ran");
        assert_eq!(code, 3);
    }
}
