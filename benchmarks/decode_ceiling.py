"""Where a decoding step's time goes, against the prefill rate, in one run: the performance issue asks for useful
generated tokens at 50% or more of the prefill rate, and this measures how high that ratio can go on this machine.

A decoding step of B rows over a cache of L tokens, timed three ways (the best of `--repeats` runs of 8 steps):
- the whole step: the layers over the cache, then the LM head (every generated token needs its logits);
- the layers alone (`model.model`), over the same cache;
- the layers over an empty cache: the same matrix products per token, without attention to a history or the cache's
  growth (a prefill of B one-token prompts);
so the step splits into the matrix products a prefill also does, the LM head (which a prefill of the study's prompts
runs for one position only), and what grows with the cache. The cache is filled with random keys and values: the
time does not depend on their values. Prefill is measured as `benchmarks/generation.py` measures it.

    .venv/bin/python benchmarks/decode_ceiling.py        # about 3 minutes on 2 CPU cores
"""
import argparse, json, os, platform, time
from pathlib import Path

import torch
from transformers import DynamicCache

from retraction_nb.models import cache_argument, chat, load_model, render_chat
from retraction_nb.testbed import PAPER_SYSTEM, city_in_country
from generation import prefill_rate

OUT = Path(__file__).resolve().parent/"decode_ceiling.json"

def filled_cache(model, rows:int, length:int) -> DynamicCache:
    "A cache of `length` random keys and values for each of `rows` rows, in every layer."
    c, g = model.config, torch.Generator().manual_seed(0)
    cache, shape = DynamicCache(config=c), (rows, c.num_key_value_heads, length, c.hidden_size // c.num_attention_heads)
    for layer in range(c.num_hidden_layers):
        cache.update(torch.randn(shape, generator=g), torch.randn(shape, generator=g), layer)
    return cache

def step_seconds(forward, model, rows:int, length:int, steps:int=8, repeats:int=3) -> float:
    "Seconds per decoding step of `forward` (the model or its layers) over a cache of `length` tokens, the best of `repeats`."
    best = float("inf")
    for _ in range(repeats):
        kw = {cache_argument(model): filled_cache(model, rows, length), "use_cache": True} if length else {"use_cache": False}
        ids = torch.ones(rows, 1, dtype=torch.long)
        with torch.inference_mode():
            t0 = time.perf_counter()
            for s in range(steps):   # without a cache, each step is the same one-token forward
                forward(input_ids=ids, attention_mask=torch.ones(rows, (length + s if length else 0) + 1, dtype=torch.long),
                        position_ids=torch.full((rows, 1), length + s), **kw)
        best = min(best, (time.perf_counter() - t0) / steps)
    return best

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=256, help="rows per step (the steering workload's batch)")
    p.add_argument("--lengths", type=int, nargs="+", default=[44, 100, 150, 200], help="cache lengths")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    model, tok = load_model()
    prompts = [render_chat(tok, chat(q["question"], "Paris", system=PAPER_SYSTEM)) for q in city_in_country(32).questions]
    prefill = prefill_rate(model, tok, prompts)
    whole = lambda **kw: model(**kw, logits_to_keep=1)
    no_history = a.rows / step_seconds(model.model, model, a.rows, 0, repeats=a.repeats)
    r = {"machine": {"cpu cores": os.cpu_count(), "torch threads": torch.get_num_threads(), "platform": platform.platform(),
                     "torch": torch.__version__, "transformers": __import__("transformers").__version__},
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "rows per step": a.rows,
         "prefill tok/s (batch 32)": round(prefill, 1),
         "layers only, no history (tok/s)": round(no_history, 1), "/ prefill rate": round(no_history / prefill, 3),
         "by cache length": []}
    for length in a.lengths:
        step, body = step_seconds(whole, model, a.rows, length, repeats=a.repeats), step_seconds(model.model, model, a.rows, length, repeats=a.repeats)
        matmuls = a.rows / no_history
        r["by cache length"].append({
            "cache length": length, "decode tok/s": round(a.rows / step, 1), "/ prefill rate": round(a.rows / step / prefill, 3),
            "share of the step": {"matrix products a prefill also does": round(matmuls / step, 3),
                                  "LM head": round((step - body) / step, 3),
                                  "attention to the cache and its growth": round((body - matmuls) / step, 3)},
            "/ prefill rate without the cache's part": round(a.rows / (step - (body - matmuls)) / prefill, 3)})
        print(r["by cache length"][-1], flush=True)
    r["prefill tok/s (batch 32), again at the end"] = round(prefill_rate(model, tok, prompts), 1)
    OUT.write_text(json.dumps(r, indent=1))
    print(json.dumps(r, indent=1))

if __name__ == "__main__": main()
