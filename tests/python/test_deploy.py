"""The Kubernetes manifests of deploy/ are valid for the Kubernetes API in strict mode (unknown
fields refused), and the Secret template holds no values."""
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
