"""Lever 5 of the performance issue, measured before it is used: bfloat16 against float32 on this CPU, in one run, for
smollm2-135m. Prefill and single-step decoding rates in each dtype, then the study's continuation workload (the
testbed's continuation prompts, greedy, up to 64 new tokens, stop at the newline, batch 128, shared prefix) in each
dtype, with how many continuations come out the same, and the probe's last-token states in each (largest difference
relative to their scale). Nothing in the study uses bf16 on a CPU: this measures whether it should. Writes
benchmarks/bf16.json.

    .venv/bin/python benchmarks/bf16.py      # about 5 minutes on 2 CPU cores
"""
import json, time
from pathlib import Path

import torch

from retraction_nb.judge import as_item, make_judge
from retraction_nb.models import Study, generate_ids, load_model, render_chat
from retraction_nb.probe import builtin_statements, last_token_states, statement_prompts
from retraction_nb.testbed import testbed_records
from generation import decode_rate, machine, prefill_rate   # the same measurements as benchmarks/generation.py (this folder is on the path)

OUT = Path(__file__).resolve().parent/"bf16.json"

def main():
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m"}
    texts, states, rows = {}, {}, []
    records = testbed_records(Study().testbeds("full"))
    for dtype in (torch.float32, torch.bfloat16):
        model, tok = load_model(dtype=dtype)
        prompts = [render_chat(tok, x["messages"]) for x in records]
        name = str(dtype).removeprefix("torch.")
        row = {"dtype": name, "prefill tok/s (batch 32)": round(prefill_rate(model, tok, prompts), 1),
               **{f"decode tok/s, batch {b}": round(decode_rate(model, tok, prompts[0], b), 1) for b in (1, 32, 128)}}
        t0 = time.perf_counter()
        ids = generate_ids(model, tok, prompts, max_new_tokens=64, stop=("\n",), batch_size=128, share_prefix=True, progress=False)
        seconds = time.perf_counter() - t0
        row.update({"continuations": len(prompts), "continuation seconds": round(seconds, 1),
                    "useful tok/s": round(sum(map(len, ids)) / seconds, 1)})
        texts[name] = [tok.decode(i, skip_special_tokens=True) for i in ids]
        t0 = time.perf_counter()
        states[name] = last_token_states(model, tok, statement_prompts(tok, builtin_statements()[:320]), progress=False).float()
        row["probe statements/s"] = round(320 / (time.perf_counter() - t0), 1)
        rows.append(row); print(row, flush=True)
    a, b = texts["float32"], texts["bfloat16"]
    r["by dtype"] = rows
    r["same continuation in bf16 as in fp32"] = f"{sum(x == y for x, y in zip(a, b))}/{len(a)}"
    r["largest difference of the probe states / their scale"] = float((states["float32"] - states["bfloat16"]).abs().max()
                                                                      / states["float32"].abs().max())
    judge = make_judge("rules")   # the study's default judge: does bf16 change the outcome, not only the words?
    verdicts = {k: [bool(v["retracted"]) for v in judge([{**as_item(x), "continuation": t} for x, t in zip(records, texts[k])])] for k in texts}
    r["same retraction verdict (rule judge)"] = f"{sum(x == y for x, y in zip(verdicts['float32'], verdicts['bfloat16']))}/{len(records)}"
    r["retractions of wrong answers, fp32 / bf16"] = [sum(v for v, x in zip(verdicts[k], records) if not x["result"]) for k in ("float32", "bfloat16")]
    r["examples of differing continuations"] = [{"fp32": x, "bf16": y} for x, y in zip(a, b) if x != y][:5]
    OUT.write_text(json.dumps(r, indent=1))
    print(json.dumps({k: v for k, v in r.items() if k != "by dtype"}, indent=1))
    print(f"wrote {OUT}")

if __name__ == "__main__":
    main()
