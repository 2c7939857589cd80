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
    // The fan-out, the per-unit DAG, credentials by reference and retries are there.
    let templates = t["spec"]["templates"].as_array().unwrap();
    let main = &templates[0]["dag"]["tasks"];
    let units = main
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "units")
        .unwrap();
    assert_eq!(
        units["withParam"],
        "{{tasks.get-audio-df.outputs.parameters.units}}"
    );
    assert_eq!(units["depends"], "dirstruct");
    let upload = templates
        .iter()
        .find(|t| t["name"] == "upload-alfresco")
        .unwrap();
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
