"""The front page and the manuals cannot drift from what works.

- README.md is a front page (at most 12 KB) that opens with the two commands, and those
  commands are the ones the justfile and .ci/run really run;
- the demo makes every product the README lists;
- every relative link of the docs resolves, anchors included, and nothing cites a document
  that is not in the repository.
"""
import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SOUNDSCAPE_BIN_DIR", ROOT / "target" / "debug"))
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "BENCHMARKS.md",
        ROOT / "tests" / "fixtures" / "golden" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def readme():
    return (ROOT / "README.md").read_text()


def quick_start():
    block = re.search(r"```sh\n(.*?)```", readme(), re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_is_a_front_page():
    assert len(readme().encode()) <= 12 * 1024
    assert quick_start() == ["bash scripts/setup.sh && just demo", "just test"]
    # The quick start comes first: nothing but the title and the introduction before it.
    before = readme().split("```sh")[0]
    assert "\n## " not in before


def recipe(name):
    text = (ROOT / "justfile").read_text()
    m = re.search(rf"^{name}( [^\n]*)?:[^\n]*\n((?:    [^\n]*\n)+)", text, re.M)
    assert m, f"the justfile has no recipe {name}"
    return m.group(0)


def test_the_commands_are_the_ones_that_run():
    assert re.search(r"^demo: setup$", recipe("demo"), re.M), "just demo runs setup first"
    assert "soundscape run --input demo/manifest.csv --out demo-out" in recipe("demo")
    assert "soundscape run --input demo/manifest.csv --out demo-out" in " ".join(readme().split())
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh" in ci and re.search(r"^just test$", ci, re.M)
    test = recipe("test")
    assert "cargo test --workspace" in test and "pytest" in test


def test_the_demo_builds_every_program_the_pipeline_runs():
    """`just demo` builds only the pipeline's programs (a release build of the whole workspace
    took most of an hour on two cores), so its package list must cover every stage binary."""
    packages = re.findall(r"-p ([\w-]+)", recipe("demo"))
    built = set()
    for package in packages:
        src = ROOT / "crates" / package / "src"
        if (src / "main.rs").is_file():
            built.add(package)
        built.update(p.stem for p in (src / "bin").glob("*.rs"))
    pipeline = (ROOT / "crates" / "soundscape-workflow" / "src" / "pipeline.rs").read_text()
    runs = set(re.findall(r'binary: "([\w-]+)"', pipeline))
    assert len(runs) >= 8, runs
    assert runs <= built, f"just demo does not build {sorted(runs - built)}"


def demo_products():
    text = readme()
    block = text.split("<!-- demo-products")[1].split("<!-- /demo-products")[0]
    names = re.findall(r"`([^`*]+\.(?:parquet|json|jsonl|png|mp4))`", block)
    unit = re.search(r"`(demo-out/results/[^`]+)/`", text).group(1)
    return unit, names


def test_the_demo_makes_every_listed_product(tmp_path):
    unit, names = demo_products()
    assert len(names) >= 12, names
    out = tmp_path / "demo-out"
    store = tmp_path / "store"
    done = subprocess.run(
        [str(BIN / "soundscape"), "run", "--input", "demo/manifest.csv", "--out", str(out),
         "--set", f"s3-url=file://{store}", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True)
    assert done.returncode in (0, 3), done.stderr
    folder = out / unit.removeprefix("demo-out/")
    missing = [n for n in names if not (folder / n).is_file()]
    assert not missing, f"the demo did not make {missing} in {folder}"
    assert any(store.rglob("hashed_soundscape.parquet")), "the demo uploads its table"


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_every_link_resolves():
    problems = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (doc.parent / file).resolve() if file else doc
            if not dest.exists():
                problems.append(f"{doc.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                problems.append(f"{doc.relative_to(ROOT)}: {target} (no such heading)")
    assert not problems, "\n".join(problems)


def test_code_cites_only_documents_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    bad = []
    cited = set()
    for f in files:
        p = ROOT / f
        if p.suffix not in {".rs", ".md", ".py", ".toml", ".sh", ".yaml"} or not p.is_file():
            continue
        if p == Path(__file__).resolve():
            continue
        text = p.read_text(errors="replace")
        if "SPEC §" in text or "OTHER_SYSTEMS.md" in text:
            bad.append(f)
        cited.update(re.findall(r"\b(docs/[a-z_-]+\.md)", text))
    assert not bad, f"cite documents that are not in the repository: {bad}"
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert not missing, f"cited but missing: {missing}"


def test_the_engine_map_matches_the_files():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("### The engine", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+\.rs)` \|", section, re.M))
    src = ROOT / "crates" / "soundscape-engine" / "src"
    files = {str(p.relative_to(src)) for p in src.rglob("*.rs")}
    assert listed == files, f"only in CONTRIBUTING.md: {sorted(listed - files)}; only in the code: {sorted(files - listed)}"


def test_cited_tests_exist():
    missing = []
    for doc in DOCS:
        for path, name in re.findall(r"`([a-z0-9_-]+/(?:src|tests)/[^`:\s]+\.rs)::([a-z0-9_]+)`",
                                     doc.read_text()):
            file = ROOT / "crates" / path
            if not file.is_file() or not re.search(rf"\bfn {name}\b", file.read_text()):
                missing.append(f"{doc.relative_to(ROOT)}: {path}::{name}")
    assert not missing, "\n".join(missing)
