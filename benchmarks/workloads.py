"""The testbed's sampling and the steering sweep's continuations, before and after rows that share a prompt share its
prefill (`generate_ids(share_stems=True)`), in one run on this machine, beside the machine's prefill and decoding
rates:

- sampling: 5 answers per question for 80 built-in questions (temperature 0.7, top-p 0.95, top-k 50, up to 32 new
  tokens, stop at the newline) through `model.generate` in batches of 32, seeded per batch (before), against the
  refilling loop with shared stems, each answer drawn from its own seed (after). The draws differ by construction;
  the distribution is the same (notebook 00 tests it on the same logits), and the table shows two summaries of the
  answers side by side;
- steering: the testbed's continuation prompts under 9 settings (baseline and 8 steering settings), greedy, up to 64
  new tokens, one pass with per-row vectors, without (before) and with shared stems (after); token ids compared;
- patching (unchanged, for the ratio): the same prompts with every layer's value vectors at the answer's last token
  taken from a steered run (`patching.patch_values`), as the patching stage generates them.

Writes benchmarks/workloads.json.

    .venv/bin/python benchmarks/workloads.py     # about 6 minutes on 2 CPU cores
"""
import json, statistics, time
from collections import Counter
from pathlib import Path

import torch

from retraction_nb.hooks import add_vectors
from retraction_nb.models import Study, chat, generate_ids, load_model, render_chat
from retraction_nb.patching import patch_values
from retraction_nb.probe import load_directions
from retraction_nb.steering import steering_vectors
from retraction_nb.testbed import capital, city_in_country, testbed_records
from generation import decode_rate, machine, prefill_rate, timed   # the same measurements as benchmarks/generation.py

OUT = Path(__file__).resolve().parent/"workloads.json"

def row(label, ids, seconds, prefill, **extra) -> dict:
    tokens = sum(map(len, ids))
    r = {"path": label, "rows": len(ids), "seconds": round(seconds, 1), "useful tok/s": round(tokens / seconds, 1),
         "/ prefill rate": round(tokens / seconds / prefill, 3), **extra}
    print(r, flush=True)
    return r

def sampling(model, tok, prefill) -> list[dict]:
    families = [capital(40), city_in_country(40)]
    prompts = [render_chat(tok, chat(q["question"], system=f.system)) for f in families for q in f.questions for _ in range(5)]
    kw = dict(temperature=0.7, top_p=0.95, max_new_tokens=32, stop=("\n",), progress=False)
    rows = []
    for label, extra in [("model.generate, batch 32, seeded per batch (before)", dict(engine="hf", batch_size=32)),
                         ("refilling loop, batch 128, shared prefix and stems, a seed per row (after)",
                          dict(batch_size=128, share_prefix=True, share_stems=True))]:
        ids, seconds = timed(lambda: generate_ids(model, tok, prompts, seed=0, **kw, **extra))
        answers = [tok.decode(i, skip_special_tokens=True).split("\n")[0].strip() for i in ids]
        per_question = [answers[q:q + 5] for q in range(0, len(answers), 5)]
        rows.append(row(label, ids, seconds, prefill,
                        **{"mean tokens per answer": round(statistics.mean(map(len, ids)), 2),
                           "distinct answers per question (of 5)": round(statistics.mean(len(set(a)) for a in per_question), 2),
                           "share of answers equal to their question's most frequent": round(
                               statistics.mean(Counter(a).most_common(1)[0][1] / 5 for a in per_question), 3)}))
    return rows

def steering(model, tok, prefill) -> list[dict]:
    study = Study()
    records = testbed_records(study.testbeds("full"))
    directions = load_directions(study.directions_file(at="full"))["directions"]
    prompts = [render_chat(tok, r["messages"]) for r in records]
    grid = [{}] + [steering_vectors(directions, range(a, a + 6), alpha, s) for a in (8, 20) for alpha in (1.0, 4.0) for s in (-1, 1)]
    layers = sorted({l for v in grid for l in v})
    table = {l: torch.stack([v.get(l, torch.zeros(directions.shape[1])) for v in grid]) for l in layers}
    which = torch.tensor([j for j in range(len(grid)) for _ in prompts])
    own = lambda idx: add_vectors(model, {l: t[which[idx]] for l, t in table.items()}, positions=-1)
    kw = dict(max_new_tokens=64, stop=("\n",), share_prefix=True, per_rows=own, progress=False)
    out, rows = {}, []
    for label, extra in [("one pass, per-row vectors, batch 128 (before)", dict(batch_size=128)),
                         ("one pass, per-row vectors, batch 256, shared stems (after)", dict(batch_size=256, share_stems=True))]:
        out[label], seconds = timed(lambda: generate_ids(model, tok, prompts * len(grid), **kw, **extra))
        rows.append(row(label, out[label], seconds, prefill))
    before, after = out.values()
    rows[-1]["same tokens as before"] = f"{sum(a == b for a, b in zip(before, after))}/{len(after)}"
    return rows

def patching(model, tok, prefill) -> list[dict]:
    study = Study()
    prompts = [render_chat(tok, r["messages"]) for r in testbed_records(study.testbeds("full"))]
    vectors = steering_vectors(load_directions(study.directions_file(at="full"))["directions"], range(8, 14), 4.0, -1)
    with patch_values(model, lambda: add_vectors(model, vectors, positions=-1)):
        ids, seconds = timed(lambda: generate_ids(model, tok, prompts, max_new_tokens=64, stop=("\n",), batch_size=128, progress=False))
    return [row("values of every layer patched from a steered run, refilling loop, batch 128 (unchanged)", ids, seconds, prefill)]

def main():
    model, tok = load_model()
    probe_prompt = render_chat(tok, chat("Name a city in Peru.", "Lima", system="You are a helpful assistant."))
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)"}
    prompts = [render_chat(tok, r["messages"]) for r in testbed_records(Study().testbeds("full"))]
    r["prefill tok/s (batch 32)"] = prefill = round(prefill_rate(model, tok, prompts), 1)
    r["decode tok/s"] = {str(b): round(decode_rate(model, tok, probe_prompt, b), 1) for b in (1, 32, 128, 256)}
    print(r, flush=True)
    r["testbed sampling"] = sampling(model, tok, prefill)
    r["steering continuations"] = steering(model, tok, prefill)
    r["patching continuations"] = patching(model, tok, prefill)
    r["prefill tok/s (batch 32), again at the end"] = round(prefill_rate(model, tok, prompts), 1)
    OUT.write_text(json.dumps(r, indent=1) + "\n")
    print(f"wrote {OUT}")

if __name__ == "__main__": main()
