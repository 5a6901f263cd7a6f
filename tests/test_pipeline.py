"The command: a stage killed halfway resumes when run again, with no record lost or written twice, then is reused."
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

CLI = str(Path(sys.executable).parent/"retraction_nb")

def wait_for(path:Path, proc, timeout:float=600):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, f"the stage ended before {path.name} was written"
        assert time.time() - t0 < timeout, f"no {path} after {timeout} s"
        time.sleep(0.2)

def keys(path:Path) -> list[str]: return [json.loads(line)["key"] for line in path.read_text().splitlines()]

def test_stage_resumes_after_kill(tmp_path):
    cmd = [CLI, "testbed", "--scale", "smoke", "--families", "capital", "--run-dir", str(tmp_path)]
    out, manifest = tmp_path/"smoke"/"testbeds"/"capital", tmp_path/"smoke"/"manifest.json"
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try: wait_for(out/"samples.jsonl", proc)
    finally: os.killpg(proc.pid, signal.SIGKILL); proc.wait()   # the command and its notebook kernel
    assert json.loads(manifest.read_text())["stages"]["testbed"]["status"] == "running"
    status = subprocess.run([*cmd[:1], "status", *cmd[2:]], capture_output=True, text=True, timeout=120).stdout
    assert re.search(r"testbed\s+interrupted", status), status    # the dead run is not shown as running
    assert not (out/"funnel.json").exists(), "killed too late: the stage had finished"
    sampled = (out/"samples.jsonl").read_text()

    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    state = json.loads(manifest.read_text())
    assert state["stages"]["testbed"]["status"] == "done" and state["config"]["families"] == ["capital"]
    assert (out/"samples.jsonl").read_text().startswith(sampled)       # the first run's samples were kept
    assert len(keys(out/"samples.jsonl")) == len(set(keys(out/"samples.jsonl"))) == 3 * 3   # smoke: 3 questions x 3 samples
    funnel = json.loads((out/"funnel.json").read_text())
    assert funnel["sampled"] == 9
    assert (tmp_path/"smoke"/"reports"/"testbed.ipynb").exists()

    again = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    assert "reused" in again.stdout
