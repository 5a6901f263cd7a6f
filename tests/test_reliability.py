"""Fault injection at smoke scale, with tiny random models saved as local folders (a stage takes seconds): a run directory
never mixes, duplicates or loses results, whatever is changed, torn or run twice, and bad input fails fast in one line."""
import json, re, shutil, subprocess, sys, time
from pathlib import Path

import pytest

from retraction_nb.models import tiny_model
from retraction_nb.pipeline import main

CLI = str(Path(sys.executable).parent/"retraction_nb")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    "Two tiny models with the same config and tokenizer but other weights, saved as local folders."
    root = tmp_path_factory.mktemp("models")
    for seed in (0, 1):
        model, tok = tiny_model(seed=seed)
        model.save_pretrained(root/f"tiny{seed}"); tok.save_pretrained(root/f"tiny{seed}")
    return root/"tiny0", root/"tiny1"

def run_testbed(run_dir, model, *extra, timeout=600) -> subprocess.CompletedProcess:
    "`retraction_nb testbed` at smoke scale on one family."
    cmd = [CLI, "testbed", "--scale", "smoke", "--families", "capital", "--model", str(model), "--run-dir", str(run_dir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

def error_line(proc) -> str:
    "The command's last line on stderr, checked to be a one-line refusal with no colour codes."
    assert proc.returncode != 0, proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("retraction_nb: ") and not ANSI.search(last), proc.stderr[-2000:]
    return last

def keys(path:Path) -> list[str]: return [json.loads(l)["key"] for l in path.read_text().splitlines() if l.strip()]

@pytest.fixture(scope="module")
def done_run(models, tmp_path_factory) -> Path:
    "A run directory whose testbed stage finished with tiny0."
    run = tmp_path_factory.mktemp("run")
    proc = run_testbed(run, models[0])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run

def copy_of(run:Path, tmp_path:Path) -> Path:
    shutil.copytree(run, tmp_path/"run"); return tmp_path/"run"

def test_other_model_refused(done_run, models, tmp_path):
    "Another model (or families, or seed) in a run directory is refused before anything runs; its files are untouched."
    run = copy_of(done_run, tmp_path)
    before = {p: p.read_bytes() for p in run.rglob("*.jsonl")}
    t0 = time.time()
    line = error_line(run_testbed(run, models[1]))
    assert "holds results of another run (model: " in line and str(models[1]) in line
    assert time.time() - t0 < 60
    assert {p: p.read_bytes() for p in run.rglob("*.jsonl")} == before
    assert "families: ['capital'] there, ['number_between'] now" in error_line(subprocess.run(
        [CLI, "testbed", "--scale", "smoke", "--families", "number_between", "--model", str(models[0]), "--run-dir", str(run)],
        capture_output=True, text=True, timeout=300))
    manifest = json.loads((run/"smoke"/"manifest.json").read_text())
    assert manifest["config"]["model"] == str(models[0]) and manifest["config"]["families"] == ["capital"]

def test_new_weights_in_same_folder_not_reused(done_run, models, tmp_path):
    "Same model path, new weights: the stage is not reused, and the testbed built with the old weights is refused by name."
    run, model = copy_of(done_run, tmp_path), tmp_path/"model"
    shutil.copytree(models[0], model)
    manifest = json.loads((run/"smoke"/"manifest.json").read_text())
    manifest["config"]["model"] = str(model); manifest["stages"]["testbed"]["config"]["model"] = str(model)
    (run/"smoke"/"manifest.json").write_text(json.dumps(manifest))
    for cfg in (run/"smoke"/"testbeds").glob("*/config.json"):
        cfg.write_text(cfg.read_text().replace(str(models[0]), str(model)))
    time.sleep(1.1); shutil.copy(models[1]/"model.safetensors", model/"model.safetensors")   # retrained in place
    line = error_line(run_testbed(run, model))
    assert "holds a testbed built with another config (model_fingerprint: " in line, line

def test_second_writer_refused(models, tmp_path):
    "Two runs on one directory: the second is refused at once, naming the first; the first finishes with no record twice."
    run = tmp_path/"run"
    first = subprocess.Popen([CLI, "testbed", "--scale", "smoke", "--families", "capital", "--model", str(models[0]),
                              "--run-dir", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock, t0 = run/"smoke"/".lock", time.time()
    while not (lock.exists() and lock.read_text().strip()):
        assert first.poll() is None and time.time() - t0 < 120, "the first run never took the lock"
        time.sleep(0.1)
    second = run_testbed(run, models[0], timeout=120)
    assert f"is being written by pid {first.pid}" in error_line(second)
    assert first.wait(timeout=600) == 0, first.stderr.read()[-3000:]
    samples = run/"smoke"/"testbeds"/"capital"/"samples.jsonl"
    assert len(keys(samples)) == len(set(keys(samples))) == 3 * 3

def test_torn_files(done_run, models, tmp_path):
    "Files a kill or a full disk leaves torn: the manifest and a config are reported by path; a cut cache line and a torn time are repaired."
    run = copy_of(done_run, tmp_path)
    out = run/"smoke"/"testbeds"/"capital"
    lines = (out/"samples.jsonl").read_text().splitlines(keepends=True)
    (out/"samples.jsonl").write_text("".join(lines[:-1]) + lines[-1][:15])   # the last record cut mid-write
    (out/"samples.seconds").write_text("")
    proc = run_testbed(run, models[0], "--force")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(keys(out/"samples.jsonl")) == sorted(json.loads(l)["key"] for l in lines)   # nothing lost or doubled
    assert float((out/"samples.seconds").read_text()) >= 0
    (out/"config.json").write_text('{"family": "cap')
    line = error_line(run_testbed(run, models[0], "--force"))
    assert "config.json is damaged" in line and str(out) in line
    entry = json.loads((run/"smoke"/"manifest.json").read_text())["stages"]["testbed"]
    assert entry["status"] == "failed" and "config.json is damaged" in entry["error"] and not ANSI.search(entry["error"])
    (run/"smoke"/"manifest.json").write_text("")
    assert "manifest.json is damaged (it is empty)" in error_line(run_testbed(run, models[0]))

def refusal(*argv) -> tuple[str, float]:
    "The message and seconds of the command refusing `argv` (run in this process)."
    t0 = time.time()
    with pytest.raises(SystemExit) as e: main(list(argv))
    message = str(e.value.code)
    assert "\n" not in message and not ANSI.search(message)
    return message, time.time() - t0

def test_bad_input_fails_fast(tmp_path):
    "Each bad input is refused in one line, before a model loads."
    (tmp_path/"afile").write_text("")
    cases = {("testbed", "--model", "nosuch-org/nosuch-model"): "not in the local Hugging Face cache",
             ("testbed", "--model", str(tmp_path/"dir"/"model")): "no such folder",
             ("testbed", "--run-dir", str(tmp_path/"afile")): "a file, not a folder",
             ("testbed", "--families", "capitals"): "unknown capitals"}
    import torch
    if not torch.cuda.is_available(): cases[("testbed", "--device", "cuda")] = "0 CUDA devices"
    pools = tmp_path/"data"/"celebrity"; pools.mkdir(parents=True)
    (pools/"celebrity_train_free.jsonl").write_text('{"question": "Name a child of A.", "answers": ["B"]}\n')
    (pools/"celebrity_test_free.jsonl").write_text("")
    cases[("testbed", "--data", str(tmp_path/"data"))] = "celebrity_test_free.jsonl is empty"
    for argv, expected in cases.items():
        message, seconds = refusal(*argv, *([] if "--run-dir" in argv else ["--run-dir", str(tmp_path/"run")]))
        assert expected in message and seconds < 30, (argv, message, seconds)
    (pools/"celebrity_test_free.jsonl").write_bytes(b'{"question": "Name a child of Jos\xe9.", "answers": ["B"]}\n')
    message, _ = refusal("testbed", "--data", str(tmp_path/"data"), "--run-dir", str(tmp_path/"run"))
    assert "celebrity_test_free.jsonl, line 1: not UTF-8 text" in message
    assert not (tmp_path/"run").exists()   # nothing was written for a refused run
