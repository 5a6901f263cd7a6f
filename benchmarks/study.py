"""Time the whole study at smoke scale through the command, and count what each stage processed: examples/s per stage.

    .venv/bin/python benchmarks/study.py                  # -> benchmarks/study_smoke.json
    .venv/bin/python benchmarks/study.py --scale full     # the same from an empty run directory at full scale (99 min here)

Each stage's seconds come from the run's manifest; the examples are counted from the files the stage wrote: model
calls for generation stages (one per cached record), statements for the probe, training examples plus evaluated
prompts for SFT.
"""
import argparse, json, os, platform, subprocess, sys, tempfile, time
from pathlib import Path
from safetensors import safe_open
from retraction_nb.models import Study

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent/"retraction_nb")

def lines(paths) -> int:
    "Records in the files, leaving out caches set aside for another model or setting (see retraction_nb.store)."
    return sum(sum(1 for l in open(p) if l.strip()) for p in paths if "set-aside" not in p.parts)

def generations(folder:Path) -> int:
    "Records in a stage's generation caches (verdict files are counted by `verdicts`)."
    return lines(p for p in folder.rglob("*.jsonl") if "verdicts" not in p.name and p.name not in
                 ("answers.jsonl", "testbed.jsonl", "continuations.jsonl"))

def verdicts(folder:Path) -> int: return lines(p for p in folder.rglob("*.jsonl") if "verdict" in p.name or "lexical" in p.name or "llm" in p.name)

def statements(folder:Path) -> int:
    "Statements whose activations the probe stage extracted (the second dimension of each stored array)."
    n = 0
    for f in folder.glob("*.safetensors"):
        if f.name.startswith("directions"): continue
        with safe_open(f, "pt") as st: n += st.get_slice(next(iter(st.keys()))).get_shape()[1]
    return n

def counts(study:Study, scale:str) -> dict:
    "What each stage processed, read from its files."
    sft = json.loads((study.sft_adapter(scale)/"training.json").read_text())
    return {"testbed": ("generations (samples, verifications, continuations)", generations(study.dir("testbed", scale))),
            "judge": ("judged items", verdicts(study.dir("judge", scale))),
            "probe": ("statements and answers read", statements(study.dir("probe", scale))),
            "steer": ("steered continuations", generations(study.dir("steer", scale))),
            "patch": ("patched continuations", generations(study.dir("patch", scale))),
            "sft": ("training examples x epochs", sft["examples"] * sft["epochs"])}

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", default="smoke", choices=["smoke", "full"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as run:
        t0 = time.time()
        subprocess.run([CLI, "run", "--scale", args.scale, "--run-dir", run], check=True)
        wall = time.time() - t0
        study = Study(run=Path(run))
        stages = json.loads(study.manifest_file(args.scale).read_text())["stages"]
        rows = [{"stage": s, "seconds": stages[s]["seconds"], "what": what, "examples": n,
                 "examples/s": round(n / stages[s]["seconds"], 2)} for s, (what, n) in counts(study, args.scale).items()]
    out = {"scale": args.scale, "when": time.strftime("%Y-%m-%d %H:%M"), "wall seconds": round(wall, 1),
           "machine": {"cpu cores": os.cpu_count(), "platform": platform.platform()}, "stages": rows}
    path = ROOT/"benchmarks"/f"study_{args.scale}.json"
    path.write_text(json.dumps(out, indent=1))
    for r in rows: print(r)
    print(f"whole study ({args.scale}): {wall:.0f} s; wrote {path}")

if __name__ == "__main__":
    main()
