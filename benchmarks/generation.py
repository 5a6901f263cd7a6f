"""Generation against the machine's forward-pass limit, in one run: prefill and single-step decoding rates, then the
study's continuation workload (testbed records, greedy, up to 64 new tokens, stop at the newline) through
`model.generate` batch by batch (the old path), through the refilling decode loop, and through the loop with the
prompts' shared prefix run once (`share_prefix=True`), unsteered and steered, with the texts of every path compared
with the old one; then the probe's activation extraction (statements per second) with whole prompts and all logits
(the old path) and with the shared prefix and the last position's logits only. Writes benchmarks/generation.json.

    .venv/bin/python benchmarks/generation.py            # about 10 minutes on 2 CPU cores
    .venv/bin/python benchmarks/generation.py --quick    # fewer prompts (about 3 minutes)
"""
import argparse, json, os, platform, time
from pathlib import Path

import torch
from transformers import DynamicCache

from retraction_nb.hooks import add_vectors
from retraction_nb.testbed import testbed_records
from retraction_nb.models import Study, chat, generate_ids, load_model, render_chat
from retraction_nb.probe import builtin_statements, last_token_states, load_directions, statement_prompts
from retraction_nb.hooks import capture
from retraction_nb.steering import steering_vectors
from retraction_nb.testbed import PAPER_SYSTEM, capital, city_in_country

OUT = Path(__file__).resolve().parent/"generation.json"

def workload_prompts(tok, n:int) -> tuple[list[str], str]:
    "Continuation prompts of the study's testbed (the full run's, if there is one here), else built-in stand-ins."
    run = Study().testbeds("full")
    try: records = testbed_records(run)
    except (FileNotFoundError, ValueError): records = []
    if records:
        return [render_chat(tok, r["messages"]) for r in records][:n], f"testbed records of {run}"
    qs = [q["question"] for q in city_in_country(n).questions + capital(n).questions][:n]
    return [render_chat(tok, chat(q, "Paris", system=PAPER_SYSTEM)) for q in qs], "built-in questions with the answer 'Paris'"

def machine() -> dict:
    "What every benchmark's JSON records of the machine and the libraries it ran on."
    return {"cpu cores": os.cpu_count(), "torch threads": torch.get_num_threads(), "platform": platform.platform(),
            "torch": torch.__version__, "transformers": __import__("transformers").__version__}

def timed(fn) -> tuple:
    "(what `fn()` returned, the seconds it took)."
    t0 = time.perf_counter(); out = fn(); return out, time.perf_counter() - t0

def prefill_rate(model, tok, prompts, batch:int=32) -> float:
    "Prompt tokens per second of a forward over whole prompts (logits of the last position only)."
    enc = tok(prompts[:batch], return_tensors="pt", padding=True, add_special_tokens=False)
    seconds = []
    with torch.inference_mode():
        model(**enc, logits_to_keep=1)                      # warm up
        for _ in range(3):                                  # the best of three: one slow pass (the machine busy) is not the rate
            t0 = time.perf_counter(); model(**enc, logits_to_keep=1); seconds.append(time.perf_counter() - t0)
    return int(enc.attention_mask.sum()) / min(seconds)

def decode_rate(model, tok, prompt, batch:int, steps:int=8) -> float:
    "New tokens per second of single-token decoding steps over a filled cache, `batch` rows."
    enc = tok([prompt] * batch, return_tensors="pt", add_special_tokens=False)
    cache = DynamicCache(config=model.config)
    with torch.inference_mode():
        out = model(**enc, cache=cache, use_cache=True, logits_to_keep=1)
        nxt, t0 = out.logits[:, -1].argmax(-1, keepdim=True), time.perf_counter()
        for _ in range(steps): nxt = model(input_ids=nxt, cache=cache, use_cache=True, logits_to_keep=1).logits[:, -1].argmax(-1, keepdim=True)
    return batch * steps / (time.perf_counter() - t0)

def useful(ids, tok) -> int:
    "Generated tokens that are kept: up to the end of sequence, newline included."
    return sum(len(r) for r in ids)

def workload(model, tok, prompts, label, **kwargs) -> tuple[dict, list]:
    t0 = time.perf_counter()
    ids = generate_ids(model, tok, prompts, max_new_tokens=64, stop=("\n",), progress=False, **kwargs)
    seconds = time.perf_counter() - t0
    return {"path": label, "seconds": round(seconds, 1), "useful tok/s": round(useful(ids, tok) / seconds, 1),
            "prompts/s": round(len(prompts) / seconds, 2)}, ids

def old_last_token_states(model, tok, prompts, batch_size=32):
    "The probe's extraction before: whole prompts, left-padded, and the logits of every position computed."
    order, chunks = sorted(range(len(prompts)), key=lambda i: -len(prompts[i])), []
    for b in range(0, len(order), batch_size):
        enc = tok([prompts[i] for i in order[b:b + batch_size]], return_tensors="pt", padding=True, add_special_tokens=False)
        with capture(model, positions=-1) as cap, torch.inference_mode(): model(**enc)
        chunks.append(cap.stack()[:, :, 0])
    return torch.cat(chunks, dim=1)[:, torch.argsort(torch.tensor(order))]

def extraction(model, tok, n:int) -> list[dict]:
    "Statements per second of the probe's last-token extraction, before and after, and the largest difference of the states."
    prompts = statement_prompts(tok, builtin_statements()[:n])
    rows, states = [], {}
    for label, fn in [("whole prompts, every position's logits (before)", lambda: old_last_token_states(model, tok, prompts)),
                      ("shared prefix run once, last position's logits only", lambda: last_token_states(model, tok, prompts, progress=False))]:
        t0 = time.perf_counter(); states[label] = fn(); seconds = time.perf_counter() - t0
        rows.append({"path": label, "statements": len(prompts), "seconds": round(seconds, 1), "statements/s": round(len(prompts) / seconds, 1)})
        print(rows[-1], flush=True)
    a, b = states.values()
    rows[-1]["largest difference of the states / their scale"] = float((a - b).abs().max() / a.abs().max())
    return rows

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="64 prompts instead of 170")
    args = ap.parse_args()
    model, tok = load_model()
    prompts, source = workload_prompts(tok, 64 if args.quick else 170)
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "prompts": len(prompts), "source": source}
    r["prefill tok/s (batch 32)"] = round(prefill_rate(model, tok, prompts), 1)
    r["decode tok/s"] = {b: round(decode_rate(model, tok, prompts[0], b), 1) for b in (1, 32, 128)}
    directions = load_directions(Study().directions_file(at="full"))["directions"]
    vectors = steering_vectors(directions, range(8, 14), alpha=4.0, sign=-1)   # a setting of the study's sweep
    rows, texts = [], {}
    for steer in (False, True):
        for label, kw in [("model.generate, batch 16 (before)", dict(engine="hf", batch_size=16)),
                          ("model.generate, batch 64", dict(engine="hf", batch_size=64)),
                          ("refilling loop, batch 32", dict(batch_size=32)), ("refilling loop, batch 64", dict(batch_size=64)),
                          ("refilling loop, batch 64, shared prefix", dict(batch_size=64, share_prefix=True)),
                          ("refilling loop, batch 128, shared prefix", dict(batch_size=128, share_prefix=True))]:
            if steer:
                with add_vectors(model, vectors, positions=-1): row, ids = workload(model, tok, prompts, label, **kw)
            else: row, ids = workload(model, tok, prompts, label, **kw)
            row["steered"] = steer
            row["/ prefill rate"] = round(row["useful tok/s"] / r["prefill tok/s (batch 32)"], 3)
            texts[(steer, label)] = [tok.decode(i, skip_special_tokens=True) for i in ids]
            rows.append(row); print(row, flush=True)
    for row in rows:
        before = texts[(row["steered"], "model.generate, batch 16 (before)")]
        row["same text as before"] = f"{sum(a == b for a, b in zip(texts[(row['steered'], row['path'])], before))}/{len(before)}"
    r["workload"] = rows
    r["probe extraction"] = extraction(model, tok, 320 if args.quick else 960)
    OUT.write_text(json.dumps(r, indent=1))
    print(json.dumps({k: v for k, v in r.items() if k != "workload"}, indent=1))
    for row in rows: print(row)
    print(f"wrote {OUT}")

if __name__ == "__main__":
    main()
