"""The Kubernetes manifests of deploy/ are valid for the Kubernetes API in strict mode (unknown
fields refused), and the Secret template holds no values."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted((ROOT / "deploy").glob("*.yaml"))


def validate(paths):
    exe = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run([str(exe), "--strict", *map(str, paths)], capture_output=True, text=True)


def test_deploy_manifests_pass_strict_validation():
    assert {p.name for p in MANIFESTS} >= {"namespace.yaml", "pvc.yaml", "rbac.yaml", "secrets.template.yaml", "limits.yaml"}
    r = validate(MANIFESTS)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_misspelt_field_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "deploy" / "pvc.yaml").read_text().replace("accessModes", "accesModes"))
    assert validate([bad]).returncode != 0


def test_the_secret_template_has_no_values():
    for doc in yaml.safe_load_all((ROOT / "deploy" / "secrets.template.yaml").read_text()):
        assert doc["kind"] == "Secret"
        assert all(v == "" for v in doc["stringData"].values()), doc["metadata"]["name"]


def test_the_workflow_uses_what_deploy_creates():
    t = yaml.safe_load((ROOT / "argo" / "workflowtemplate.yaml").read_text())
    pvc = yaml.safe_load((ROOT / "deploy" / "pvc.yaml").read_text())
    sa = next(yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()))
    assert t["metadata"]["namespace"] == pvc["metadata"]["namespace"] == sa["metadata"]["namespace"]
    assert t["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert t["spec"]["serviceAccountName"] == sa["metadata"]["name"]
    secrets = {d["metadata"]["name"]: d["stringData"] for d in yaml.safe_load_all((ROOT / "deploy" / "secrets.template.yaml").read_text())}
    for tmpl in t["spec"]["templates"]:
        for env in tmpl.get("container", {}).get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in secrets[ref["name"]], ref


def test_every_semaphore_of_the_workflow_has_its_count():
    t = yaml.safe_load((ROOT / "argo" / "workflowtemplate.yaml").read_text())
    limits = yaml.safe_load((ROOT / "deploy" / "limits.yaml").read_text())
    refs = [s["configMapKeyRef"] for tmpl in t["spec"]["templates"]
            for s in tmpl.get("synchronization", {}).get("semaphores", [])]
    assert refs, "no semaphore in the template"
    for ref in refs:
        assert ref["name"] == limits["metadata"]["name"]
        assert int(limits["data"][ref["key"]]) > 0, ref
    assert limits["metadata"]["namespace"] == t["metadata"]["namespace"]


def test_the_capture_service_fits_the_workflow_and_its_own_flags():
    docs = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "deploy" / "capture-stream.yaml").read_text())}
    assert set(docs) == {"ConfigMap", "Deployment", "Service"}
    t = yaml.safe_load((ROOT / "argo" / "workflowtemplate.yaml").read_text())
    dep = docs["Deployment"]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    images = {tmpl["container"]["image"] for tmpl in t["spec"]["templates"] if "container" in tmpl}
    assert c["image"] in images
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {t["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]}
    args = dict(a[2:].split("=", 1) for a in c["args"])
    port = int(args["http"].rsplit(":", 1)[1])
    assert c["ports"][0]["containerPort"] == port
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health"
    # The grace the capture takes (the sources', then at least 5 s for the uploads and 5 s for
    # the index pieces) stays within the pod's.
    assert float(args["grace"]) + 10 < pod["terminationGracePeriodSeconds"]
    # Object storage is optional: the URL from the ConfigMap, the credentials from the Secret.
    secrets = {d["metadata"]["name"]: d["stringData"] for d in yaml.safe_load_all((ROOT / "deploy" / "secrets.template.yaml").read_text())}
    env = {e["name"]: e.get("valueFrom", {}) for e in c["env"]}
    store = env["SOUNDSCAPE_CAPTURE_STORE"]["configMapKeyRef"]
    assert store["name"] == docs["ConfigMap"]["metadata"]["name"] and store["optional"]
    for name, ref in env.items():
        if "secretKeyRef" in ref:
            assert ref["secretKeyRef"]["optional"] and ref["secretKeyRef"]["key"] in secrets[ref["secretKeyRef"]["name"]], name
    # The mounted sources file is the one the arguments name, and a valid one.
    mount = next(m for m in c["volumeMounts"] if m["name"] == "sources")["mountPath"]
    assert args["config"] == mount + "/sources.json"
    sources = json.loads(docs["ConfigMap"]["data"]["sources.json"])["sources"]
    assert sources and all({"name", "url"} <= set(s) <= {"name", "url", "permanent", "channels"} for s in sources)
    assert docs["Service"]["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]


def test_the_capture_config_in_deploy_is_accepted_by_capture_stream(tmp_path):
    doc = next(d for d in yaml.safe_load_all((ROOT / "deploy" / "capture-stream.yaml").read_text()) if d["kind"] == "ConfigMap")
    config = tmp_path / "sources.json"
    config.write_text(doc["data"]["sources.json"])
    exe = ROOT / "target" / "debug" / "capture-stream"
    r = subprocess.run([str(exe), "--config", str(config), "--out", str(tmp_path / "out"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 sources" in r.stdout
