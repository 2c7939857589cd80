//! The rendered Argo manifests: valid against the vendored schema and CRDs in strict mode, a
//! broken manifest is refused, and the committed `argo/` files equal a fresh render.

use serde_json::{json, Value};
use soundscape_workflow::{argo, soundscape, validate, Settings};

#[test]
fn rendered_manifests_pass_the_argo_schema_and_crds() {
    let p = soundscape(&Settings::default());
    let t = argo::workflow_template(&p);
    assert_eq!(validate::problems(&t), Vec::<String>::new());
    let w = argo::workflow(&p, None, None, &[("cumulus".into(), "92".into())]);
    assert_eq!(validate::problems(&w), Vec::<String>::new());
    let rerun = argo::workflow(
        &p,
        Some("compute-soundscapes"),
        Some("92/1_95_1_1350/248C7D075B1F7CDB/2021-08-04"),
        &[],
    );
    assert_eq!(validate::problems(&rerun), Vec::<String>::new());
    // The fan-out over batches, the batch and unit DAGs, credentials by reference and retries
    // are there.
    let templates = t["spec"]["templates"].as_array().unwrap();
    let main = &templates[0]["dag"]["tasks"];
    let task = |name: &str| {
        main.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    let batches = task("batches");
    assert_eq!(
        batches["withParam"],
        "{{tasks.get-audio-df.outputs.parameters.batches}}"
    );
    assert_eq!(batches["template"], "batch");
    assert_eq!(batches["depends"], "dirstruct");
    assert!(task("collect")["depends"]
        .as_str()
        .unwrap()
        .contains("batches.Failed"));
    let by_name = |name: &str| {
        templates
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no template {name}"))
    };
    let b = by_name("compute-soundscapes-batch");
    assert_eq!(b["container"]["command"][0], "soundscape");
    let args: Vec<&str> = b["container"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "batch");
    assert!(
        args.contains(&"--unit-dir={{workflow.parameters.results-dir}}/{unit}"),
        "{args:?}"
    );
    let sv = by_name("spec-n-specvid-batch");
    assert!(sv["container"]["args"]
        .as_array()
        .unwrap()
        .contains(&json!("--after=compute-soundscapes")));
    assert_eq!(
        by_name("compute-soundscapes")["inputs"]["parameters"][0]["name"],
        "unit"
    );
    let upload = by_name("upload-alfresco-batch");
    let env = upload["container"]["env"].as_array().unwrap();
    let pw = env
        .iter()
        .find(|e| e["name"] == "ALFRESCO_PASSWORD")
        .unwrap();
    assert_eq!(
        pw["valueFrom"]["secretKeyRef"]["name"],
        "soundscape-alfresco"
    );
    assert!(upload["retryStrategy"]["expression"]
        .as_str()
        .unwrap()
        .contains("exitCode"));
    let text = serde_json::to_string(&t).unwrap();
    assert!(
        !text.to_lowercase().contains("password\":\""),
        "a secret value in the template"
    );
}

/// Argo's housekeeping: pod GC, TTL, a deadline on every leaf template, the Alfresco
/// semaphore, and scheduling settings, all valid against the schema and CRDs.
#[test]
fn housekeeping_is_rendered_and_valid() {
    let mut s = Settings::default();
    s.node_selector.insert("pool".into(), "audio".into());
    s.tolerations = vec![
        "dedicated=audio:NoSchedule".parse().unwrap(),
        "spot".parse().unwrap(),
    ];
    s.priority_class = Some("batch-low".into());
    let t = argo::workflow_template(&soundscape(&s));
    assert_eq!(validate::problems(&t), Vec::<String>::new());
    let spec = &t["spec"];
    assert_eq!(spec["podGC"]["strategy"], "OnPodSuccess");
    assert_eq!(spec["ttlStrategy"]["secondsAfterSuccess"], 7 * 24 * 3600);
    assert_eq!(spec["ttlStrategy"]["secondsAfterFailure"], 30 * 24 * 3600);
    assert_eq!(spec["nodeSelector"]["pool"], "audio");
    assert_eq!(
        spec["tolerations"],
        json!([
            {"key": "dedicated", "operator": "Equal", "value": "audio", "effect": "NoSchedule"},
            {"key": "spot", "operator": "Exists"},
        ])
    );
    assert_eq!(spec["podPriorityClassName"], "batch-low");
    for tpl in spec["templates"].as_array().unwrap() {
        let name = tpl["name"].as_str().unwrap();
        if tpl.get("container").is_some() {
            let d = tpl["activeDeadlineSeconds"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no deadline"));
            assert!(
                d.parse::<u64>().is_ok() || d.starts_with("{{=asInt(inputs.parameters.hours) * "),
                "{name}: {d}"
            );
        } else {
            assert!(
                tpl.get("activeDeadlineSeconds").is_none(),
                "{name}: a DAG has no deadline"
            );
        }
        let alfresco = name.starts_with("upload-");
        assert_eq!(
            tpl.get("synchronization").is_some(),
            alfresco,
            "{name}: the semaphore is on the Alfresco uploads only"
        );
        if alfresco {
            assert_eq!(
                tpl["synchronization"]["semaphores"][0]["configMapKeyRef"],
                json!({"name": "soundscape-limits", "key": "alfresco-uploads"})
            );
        }
    }
    for bad in ["", "=x", "k:NoWhere"] {
        assert!(
            bad.parse::<soundscape_workflow::spec::Toleration>()
                .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn broken_manifests_are_refused() {
    let p = soundscape(&Settings::default());
    for sample in [
        validate::sample("Workflow"),
        validate::sample("WorkflowTemplate"),
    ] {
        assert_eq!(validate::problems(&sample), Vec::<String>::new());
    }
    let mut t = argo::workflow_template(&p);
    t["spec"]["templates"][2]["container"]["imagePullPolicyy"] = json!("Always");
    let found = validate::problems(&t).join("\n");
    assert!(found.contains("imagePullPolicyy"), "{found}");
    let mut t = argo::workflow_template(&p);
    t["spec"]["templates"][2]["retryStrategy"]["backoff"]["factor"] = json!({"x": 1});
    assert!(!validate::problems(&t).is_empty());
    let mut w = argo::workflow(&p, None, None, &[]);
    w["spec"]["workflowTemplateRef"] = json!("soundscape");
    assert!(!validate::problems(&w).is_empty());
    let fixture: Value =
        serde_norway::from_str(include_str!("fixtures/unknown-field.yaml")).unwrap();
    assert!(
        !validate::problems(&fixture).is_empty(),
        "the negative fixture passed"
    );
}

#[test]
fn committed_argo_files_equal_a_fresh_render() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../argo");
    for (name, yaml) in argo::files(&soundscape(&Settings::default())).unwrap() {
        let committed = std::fs::read_to_string(root.join(name)).unwrap_or_default();
        assert!(
            committed == yaml,
            "argo/{name} is not a fresh render: run `just render`"
        );
    }
}

/// The CronWorkflow over the stream chunks: valid, runs the template over the day before the
/// schedule with the chunk folders' layout, never two at once; the extraction step is in the
/// template, taken only when a model and a rules file are named; a broken one is refused.
#[test]
fn the_streams_cron_workflow_is_valid_and_runs_the_day_before() {
    let s = Settings {
        schedule: "15 1 * * *".into(),
        timezone: "America/Mexico_City".into(),
        ..Default::default()
    };
    let p = soundscape(&s);
    let c = argo::cron_workflow(
        &p,
        &[
            ("model".into(), "birdnet-v2.4".into()),
            ("extract-rules".into(), "/shared_volume/rules.json".into()),
        ],
    );
    assert_eq!(validate::problems(&c), Vec::<String>::new());
    let spec = &c["spec"];
    assert_eq!(spec["schedules"], json!(["15 1 * * *"]));
    assert_eq!(spec["timezone"], "America/Mexico_City");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    assert_eq!(
        spec["workflowSpec"]["workflowTemplateRef"]["name"],
        "soundscape"
    );
    let params: std::collections::BTreeMap<String, String> = spec["workflowSpec"]["arguments"]
        ["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(params["source"], "/shared_volume/streams");
    assert_eq!(params["layout"], argo::STREAMS_LAYOUT);
    assert_eq!(params["from"], argo::DAY_BEFORE_SCHEDULE);
    assert_eq!(params["to"], argo::DAY_BEFORE_SCHEDULE);
    assert!(params["work-dir"].ends_with(argo::DAY_BEFORE_SCHEDULE));
    assert_eq!(params["model"], "birdnet-v2.4");
    // Every parameter it sets is one of the template's.
    for k in params.keys() {
        assert!(p.param(k).is_some(), "{k} is not a template parameter");
    }
    let t = argo::workflow_template(&p);
    let templates = t["spec"]["templates"].as_array().unwrap();
    let ex = templates
        .iter()
        .find(|t| t["name"] == "extract-samples")
        .expect("the extraction step");
    let args: Vec<&str> = ex["container"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(
        &"--detections={{workflow.parameters.results-dir}}/{{inputs.parameters.unit}}/detections.parquet"
    ), "{args:?}");
    let unit_dag = templates.iter().find(|t| t["name"] == "unit").unwrap();
    let task = unit_dag["dag"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "extract-samples")
        .unwrap();
    assert_eq!(
        task["when"],
        "('{{workflow.parameters.model}}' != '') && ('{{workflow.parameters.extract-rules}}' != '')"
    );
    assert!(task["depends"]
        .as_str()
        .unwrap()
        .contains("compute-embeddings"));
    let mut bad = c.clone();
    bad["spec"]["schedules"] = json!(["every day"]);
    assert!(!validate::problems(&bad).is_empty());
    let mut bad = c;
    bad["spec"]["concurrencyPolicy"] = json!("Never");
    assert!(!validate::problems(&bad).is_empty());
}
