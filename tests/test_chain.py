"""The smoke run is the real chain: `retraction_nb run --scale smoke` into an empty run directory executes the six stage
notebooks in order (their test cells included), each reading what the stage before it wrote at smoke scale, as the
manifest's record of what every stage read shows; and nothing outside the run directory changes."""
import json, subprocess, sys
from pathlib import Path

import nbformat

from retraction_nb.models import Study
from retraction_nb.pipeline import STUDY

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent/"retraction_nb")
SKIP = {".git", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints"}

def snapshot(root:Path) -> dict:
    "Size and modification time of every file of the checkout (runs/ included), outside the folders Python and git keep."
    out = {}
    for p in root.rglob("*"):
        if SKIP.isdisjoint(p.relative_to(root).parts) and p.is_file() and not p.name.endswith(".egg-info"):
            out[str(p.relative_to(root))] = (p.stat().st_size, p.stat().st_mtime_ns)
    return out

def failure(run:Path) -> str:
    "The error outputs of the stage reports, to show why the chain stopped."
    errors = []
    for report in sorted(run.rglob("reports/*.ipynb")):
        for cell in nbformat.read(report, as_version=4).cells:
            errors += [f"{report.name}: {o['ename']}: {o['evalue']}\n" + "\n".join(o["traceback"][-3:])
                       for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return "\n".join(errors)

def test_smoke_chain(tmp_path):
    run, before = tmp_path/"run", snapshot(ROOT)
    done = subprocess.run([CLI, "run", "--scale", "smoke", "--run-dir", str(run)], capture_output=True, text=True, timeout=2400)
    assert done.returncode == 0, f"{done.stderr[-2000:]}\n{failure(run)}"
    study = Study(run=run)
    manifest = json.loads(study.manifest_file("smoke").read_text())
    assert list(manifest["stages"]) == STUDY and all(e["status"] == "done" for e in manifest["stages"].values())
    read = {stage: {Path(p) for p in entry["read"]} for stage, entry in manifest["stages"].items()}
    run, smoke = run.resolve(), study.root("smoke").resolve()
    for stage, paths in read.items():   # nothing from a full-scale folder, or from another run directory such as the repository's runs/
        assert not [p for p in paths if p.is_relative_to(run) and not p.is_relative_to(smoke)], f"{stage} read full-scale files"
        assert not [p for p in paths if p.is_relative_to(ROOT/"runs")], f"{stage} read files of the repository's runs/"
    family = "city_in_country"   # the smoke testbed keeps pairs of this family (02_testbed asserts it)
    testbed = study.testbeds("smoke")/family
    choice, directions = study.judge_choice_file("smoke"), study.directions_file(at="smoke")
    chosen = json.loads(study.stage_findings("steer", "smoke").read_text())   # the settings steering chose on its selection half
    expected = {"judge": {testbed/"continuations.jsonl"},
                "probe": {testbed/"continuations.jsonl", testbed/"answers.jsonl", choice},
                "steer": {testbed/"continuations.jsonl", choice, directions, study.directions_file("shuffled", at="smoke")},
                "patch": {testbed/"continuations.jsonl", choice, directions, study.stage_findings("steer", "smoke"),
                          *(study.steering_run(c["band"], c["alpha"], c["sign"], at="smoke") for c in chosen)},
                "sft": {testbed/"continuations.jsonl", testbed/"answers.jsonl", choice, directions}}
    for stage, paths in expected.items():
        missing = {p.resolve() for p in paths} - read[stage]
        assert not missing, f"the {stage} stage did not read {sorted(map(str, missing))}"
    assert (study.sft_adapter("smoke")/"adapter_config.json").exists()
    findings = json.loads(study.findings_file("smoke").read_text())["findings"]   # run's last step: the stages' rows gathered
    assert [r["stage"] for r in findings] == sorted((r["stage"] for r in findings), key=STUDY.index)
    assert {r["stage"] for r in findings} == {"judge", "probe", "steer", "patch", "sft"}
    assert all(r["verdict"] and len(r["effect"]) == 3 for r in findings)
    table = study.findings_file("smoke").with_suffix(".md").read_text()
    assert sum(line.startswith("| ") for line in table.splitlines()) == len(findings) + 1 and "| Steering |" in table
    assert "| claim |" in done.stdout                                        # and printed
    after = snapshot(ROOT)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the smoke run changed files outside its run directory: {changed[:10]}"
