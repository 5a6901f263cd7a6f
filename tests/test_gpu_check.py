"benchmarks/gpu_check.py --tiny: the GPU check's every part runs on tiny random models on the CPU, and its JSON holds real values."
import json, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHS = ("llama-3.1-8b", "olmo-2-7b", "qwen2.5-7b")
STAGES = ("build", "generation", "capture", "steering", "patching", "hooks after exception", "probe", "lora")

@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")/"tiny.json"
    proc = subprocess.run([sys.executable, str(ROOT/"benchmarks"/"gpu_check.py"), "--tiny", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())

def test_every_check_ran_and_passed(report):
    checks = report["checks"]
    expected = [f"tiny {a} | {c}" for a in ARCHS for c in ("bf16 vs fp32", "device_map")] + \
               [f"{a} (tiny) | {s}" for a in ARCHS for s in STAGES]
    assert sorted(checks) == sorted(expected)
    bad = {k: v for k, v in checks.items() if v["status"] != "passed"}
    assert not bad, json.dumps(bad, indent=1)[:4000]
    assert report["all passed"] and report["counts"] == {"passed": len(expected), "failed": 0, "error": 0, "skipped": 0}

def test_measurements_are_real(report):
    checks = report["checks"]
    for arch in ARCHS:
        name = f"{arch} (tiny)"
        build, gen, cap = checks[f"{name} | build"], checks[f"{name} | generation"], checks[f"{name} | capture"]
        batches = [k for k in gen if k.startswith("batch ")]
        assert batches and all(gen[b]["generated tokens"] > 0 and gen[b]["generate tok/s (with prefill)"] > 0
                                and gen[b]["prefill tok/s"] > 0 and gen[b]["decode tok/s"] > 0 for b in batches)
        assert cap["shape"] == [build["layers"], 32, 1, build["hidden"]] and cap["capture / plain time"] > 0
        steer = checks[f"{name} | steering"]
        assert steer["zero steering: logits identical"] is True and steer["zero steering: same greedy text"] is True
        assert steer["steered: last-position logit change (relative)"] > 1e-3
        cleanup = checks[f"{name} | hooks after exception"]
        assert len(cleanup["errors raised"]) == 2 and cleanup["hooks before/after"][0] == cleanup["hooks before/after"][1]
        assert cleanup["attention implementation restored"] and cleanup["logits unchanged"]
        patch = checks[f"{name} | patching"]
        assert all(e < patch["tolerance"] for e in patch["relative error"].values())
        lora = checks[f"{name} | lora"]
        assert lora["steps"] >= 2 and 0 < lora["share trainable"] < 0.5
    for arch in ARCHS:
        bf16 = checks[f"tiny {arch} | bf16 vs fp32"]
        assert bf16["compared"] == "bfloat16 on cpu against float32 on cpu"
        assert bf16["max relative logit error"] < bf16["tolerance"] and bf16["rows with a clear top-2 margin"] > 0
        placed = checks[f"tiny {arch} | device_map"]
        assert all(e < placed["tolerance"] for e in placed["max relative error (vs plain model)"].values())

def test_estimate_states_its_formula(report):
    est = report["estimate"]
    assert "seconds = N * R * c_B" in est["formula"] and est["parameters"]["N"] == 2400
    assert est["minutes"] and all(m > 0 for m in est["minutes"].values())
