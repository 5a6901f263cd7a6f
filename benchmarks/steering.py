"""The steering stage's two workloads, one setting at a time (before) against all settings in one pass (after), in one
run on this machine: (1) continuations of the testbed prompts under a grid of steering settings (greedy, up to 64 new
tokens, stop at the newline), each setting its own pass of the refilling loop, against one pass whose rows each carry
their setting's vectors (`generate_ids(per_rows=...)`, as `steering.steered_runs` does), texts compared; (2) the
propensity to negate under many settings, a whole forward per prompt and setting, against `negation_log_odds_under`
(each prompt once up to its answer, then two tokens per setting), values compared. Writes benchmarks/steering.json.

    .venv/bin/python benchmarks/steering.py     # about 6 minutes on 2 CPU cores
"""
import json, time
from pathlib import Path

import numpy as np
import torch

from retraction_nb.hooks import add_vectors
from retraction_nb.models import Study, forward_rows, generate_ids, load_model, render_chat, rows_prefix
from retraction_nb.probe import load_directions
from retraction_nb.steering import negation_log_odds_under, negation_tokens, random_like, steering_vectors
from retraction_nb.testbed import testbed_records

OUT = Path(__file__).resolve().parent/"steering.json"
from generation import machine, prefill_rate, timed   # the same measurement as benchmarks/generation.py (this script's folder is on the path)

def old_log_odds(model, tok, records, vectors, suffix=" is", batch_size=64):
    "The propensity before: a whole forward per prompt (after the shared prefix), the vectors added at the answer's last token."
    ids = tok([render_chat(tok, r["messages"]) + suffix for r in records], add_special_tokens=False).input_ids
    at = -1 - len(tok(suffix, add_special_tokens=False).input_ids)
    prefix, negations, out = rows_prefix(model, ids, keep=-at), negation_tokens(tok), []
    for b in range(0, len(ids), batch_size):
        with add_vectors(model, vectors, positions=at):
            logits = forward_rows(model, tok, ids[b:b + batch_size], prefix, logits_to_keep=1)[0].logits[:, -1].float()
        p = logits.softmax(-1)[:, negations].sum(-1).clamp(1e-9, 1 - 1e-9)
        out.append((p.log() - (-p).log1p()).numpy())
    return np.concatenate(out)

def main():
    model, tok = load_model()
    records = testbed_records(Study().testbeds("full"))
    directions = load_directions(Study().directions_file(at="full"))["directions"]
    prompts = [render_chat(tok, r["messages"]) for r in records]
    grid = {"none": {}, **{f"layers {a}-{a + 5}, alpha {alpha:g}, sign {s:+d}": steering_vectors(directions, range(a, a + 6), alpha, s)
                           for a in (8, 20) for alpha in (1.0, 4.0) for s in (-1, 1)}}
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "prompts": len(prompts), "settings": list(grid)}
    r["prefill tok/s (batch 32)"] = round(prefill_rate(model, tok, prompts), 1)
    print(r, flush=True)
    kw = dict(max_new_tokens=64, stop=("\n",), batch_size=128, share_prefix=True, progress=False)
    def one_at_a_time():
        out = {}
        for name, vectors in grid.items():
            with add_vectors(model, vectors, positions=-1): out[name] = generate_ids(model, tok, prompts, **kw)
        return out
    def all_at_once():
        names, layers = list(grid), sorted({l for v in grid.values() for l in v})
        table = {l: torch.stack([grid[n].get(l, torch.zeros(directions.shape[1])) for n in names]) for l in layers}
        which = torch.tensor([j for j in range(len(names)) for _ in prompts])
        own = lambda idx: add_vectors(model, {l: t[which[idx]] for l, t in table.items()}, positions=-1)
        ids = generate_ids(model, tok, prompts * len(names), per_rows=own, **kw)
        return {n: ids[j * len(prompts):(j + 1) * len(prompts)] for j, n in enumerate(names)}
    rows, texts = [], {}
    for label, fn in [("one pass per setting (before)", one_at_a_time), ("all settings in one pass, per-row vectors", all_at_once)]:
        texts[label], seconds = timed(fn)
        tokens = sum(len(i) for ids in texts[label].values() for i in ids)
        rows.append({"path": label, "continuations": len(prompts) * len(grid), "seconds": round(seconds, 1),
                     "useful tok/s": round(tokens / seconds, 1), "/ prefill rate": round(tokens / seconds / r["prefill tok/s (batch 32)"], 3)})
        print(rows[-1], flush=True)
    before, after = texts.values()
    rows[-1]["same tokens as before"] = f"{sum(a == b for n in grid for a, b in zip(before[n], after[n]))}/{len(prompts) * len(grid)}"
    r["continuations under steering"] = rows
    report = [x for x in records if x["split"] == "test"]
    settings = {f"layers {a}-{a + 5}, alpha {alpha:g}, sign {s:+d}, {d}": steering_vectors(v, range(a, a + 6), alpha, s)
                for a in (8, 20) for alpha in (1.0, 4.0) for s in (-1, 1)
                for d, v in [("probe", directions), ("random0", random_like(directions, 0))]}
    old, t_old = timed(lambda: {n: old_log_odds(model, tok, report, v) for n, v in settings.items()})
    new, t_new = timed(lambda: negation_log_odds_under(model, tok, report, settings))
    r["propensity under steering"] = [
        {"path": "a whole forward per prompt and setting (before)", "prompts": len(report), "settings": len(settings), "seconds": round(t_old, 1),
         "settings/s": round(len(settings) / t_old, 2)},
        {"path": "each prompt once up to its answer, two tokens per setting", "prompts": len(report), "settings": len(settings),
         "seconds": round(t_new, 1), "settings/s": round(len(settings) / t_new, 2),
         "largest difference of the log-odds": float(max(np.abs(old[n] - new[n]).max() for n in settings))}]
    print(r["propensity under steering"], flush=True)
    OUT.write_text(json.dumps(r, indent=1))
    print(f"wrote {OUT}")

if __name__ == "__main__":
    main()
