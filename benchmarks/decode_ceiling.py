"""Where a decoding step's time goes, against the prefill rate, in one run: the performance issue asks for useful
generated tokens at 50% or more of the prefill rate, and this measures how high that ratio can go on this machine.

A decoding step of B rows over a cache of L tokens (no padding: a best case), the best of `--repeats` runs of 8 steps,
with the spread of the repeats:
- the whole step: the layers over the cache, then the LM head (every generated token needs its logits);
- the layers of a step without a cache (`model.model` on B one-token prompts): the matrix products, norms and rotary
  embeddings a prefill also does per token, without attention to a history or the cache's growth;
- the LM head alone on B hidden states (a prefill of the study's prompts runs it for one position only);
the rest of the step (the whole step minus the two) is attention to the cache, the cache's growth and mask building:
a difference of separate timings, so it carries their noise. Then the cache's growth alone: `torch.cat` of one
layer's keys with one new column, by size, with the page faults it takes (the C library maps blocks over 32 MiB
afresh for each allocation). The cache is filled with random keys and values: the time does not depend on their
values. Prefill is measured as `benchmarks/generation.py` measures it.

    .venv/bin/python benchmarks/decode_ceiling.py        # about 3 minutes on 2 CPU cores
"""
import argparse, json, resource, time
from pathlib import Path

import torch
from transformers import DynamicCache

from retraction_nb.models import cache_argument, chat, load_model, render_chat
from retraction_nb.testbed import PAPER_SYSTEM, city_in_country
from generation import machine, prefill_rate

OUT = Path(__file__).resolve().parent/"decode_ceiling.json"

def filled_cache(model, rows:int, length:int) -> DynamicCache:
    "A cache of `length` random keys and values for each of `rows` rows, in every layer."
    c, g = model.config, torch.Generator().manual_seed(0)
    cache, shape = DynamicCache(config=c), (rows, c.num_key_value_heads, length, c.hidden_size // c.num_attention_heads)
    for layer in range(c.num_hidden_layers):
        cache.update(torch.randn(shape, generator=g), torch.randn(shape, generator=g), layer)
    return cache

def step_seconds(forward, model, rows:int, length:int, steps:int=8, repeats:int=3) -> list[float]:
    "Seconds per decoding step of `forward` (the model or its layers) over a cache of `length` tokens (0: no cache), each of `repeats` runs."
    runs = []
    for _ in range(repeats):
        kw = {cache_argument(model): filled_cache(model, rows, length), "use_cache": True} if length else {"use_cache": False}
        ids = torch.ones(rows, 1, dtype=torch.long)
        with torch.inference_mode():
            t0 = time.perf_counter()
            for s in range(steps):   # without a cache, each step is the same one-token forward
                forward(input_ids=ids, attention_mask=torch.ones(rows, (length + s if length else 0) + 1, dtype=torch.long),
                        position_ids=torch.full((rows, 1), length + s), **kw)
        runs.append((time.perf_counter() - t0) / steps)
    return runs

def head_seconds(model, rows:int, repeats:int=3) -> float:
    "Seconds of the LM head on `rows` hidden states, the best of `repeats` runs of 8."
    h, best = torch.randn(rows, 1, model.config.hidden_size), float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(8): model.lm_head(h)
            best = min(best, (time.perf_counter() - t0) / 8)
    return best

def cat_cost(model, rows:int, length:int, n:int=30) -> dict:
    "Milliseconds and page faults of one `torch.cat` that grows one layer's keys (`rows` rows, `length` tokens) by a column."
    c = model.config
    keys, new = (torch.randn(rows, c.num_key_value_heads, l, c.hidden_size // c.num_attention_heads) for l in (length, 1))
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(n): torch.cat([keys, new], dim=-2)
    seconds, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    return {"cache length": length, "MiB": round(keys.numel() * keys.element_size() / 2**20, 1),
            "ms per cat": round(seconds / n * 1000, 2), "page faults per cat": round((r1.ru_minflt - r0.ru_minflt) / n)}

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=256, help="rows per step (the steering workload's batch)")
    p.add_argument("--lengths", type=int, nargs="+", default=[44, 80, 115, 150, 200], help="cache lengths (the study's caches: prompts of 39-50 tokens and up to 64 new ones)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cat-lengths", type=int, nargs="+", default=[100, 150, 165, 170, 175, 200], help="cache lengths of the cat timing")
    a = p.parse_args()
    torch.manual_seed(0)
    model, tok = load_model()
    prompts = [render_chat(tok, chat(q["question"], "Paris", system=PAPER_SYSTEM)) for q in city_in_country(32).questions]
    prefill = prefill_rate(model, tok, prompts)
    whole = lambda **kw: model(**kw, logits_to_keep=1)
    layers = min(step_seconds(model.model, model, a.rows, 0, repeats=a.repeats))
    head = head_seconds(model, a.rows, a.repeats)
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "rows per step": a.rows,
         "prefill tok/s (batch 32)": round(prefill, 1),
         "a step's layers without a cache (tok/s)": round(a.rows / layers, 1), "/ prefill rate": round(a.rows / layers / prefill, 3),
         "LM head (tok/s)": round(a.rows / head, 1),
         "by cache length": []}
    for length in a.lengths:
        runs = step_seconds(whole, model, a.rows, length, repeats=a.repeats)
        step = min(runs)
        r["by cache length"].append({
            "cache length": length, "decode tok/s": round(a.rows / step, 1), "/ prefill rate": round(a.rows / step / prefill, 3),
            "slowest repeat / fastest": round(max(runs) / step, 2),
            "share of the step": {"layers without a cache": round(layers / step, 3), "LM head": round(head / step, 3),
                                  "the rest: attention to the cache, its growth (difference)": round(1 - (layers + head) / step, 3)},
            "/ prefill rate without the rest": round(a.rows / (layers + head) / prefill, 3)})
        print(r["by cache length"][-1], flush=True)
    r["the cache's growth, one layer's keys"] = [cat_cost(model, a.rows, length) for length in a.cat_lengths]
    r["prefill tok/s (batch 32), again at the end"] = round(prefill_rate(model, tok, prompts), 1)
    OUT.write_text(json.dumps(r, indent=1))
    print(json.dumps(r, indent=1))

if __name__ == "__main__": main()
