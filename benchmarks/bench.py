"""Measure what the study's cost is made of, in one run, on the default model and on a tiny random model:
generation (sequential `model.generate` against batched generation), steering and capture overhead, the memory a
capture keeps as prompts grow, and the throughput of each stage's core step. Writes benchmarks/results.json and prints a table.

    .venv/bin/python benchmarks/bench.py            # about 5 minutes on 2 CPU cores
    .venv/bin/python benchmarks/bench.py --tiny     # the tiny random model only (seconds)
"""
import argparse, json, os, platform, time
from pathlib import Path

import torch

from retraction_nb.hooks import add_vectors, capture, decoder_layers
from retraction_nb.judge import LexicalJudge, LLMJudge, LocalChat
from retraction_nb.models import _stop_criteria, generate_ids, load_model, render_chat, chat, tiny_model
from retraction_nb.probe import builtin_statements, last_token_states, statement_prompts
from retraction_nb.testbed import PAPER_SYSTEM, city_in_country, capital

OUT = Path(__file__).resolve().parent/"results.json"

def timed(fn, repeat=1):
    "Best wall time of `repeat` calls, and the last result."
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter(); result = fn(); best = min(best, time.perf_counter() - t0)
    return best, result

def prompts_for(tok, n=32):
    "n testbed-like continuation prompts (question + an answer, left open), from the built-in families."
    qs = [q["question"] for q in city_in_country(n // 2).questions + capital(n - n // 2).questions]
    return [render_chat(tok, chat(q, "Paris", system=PAPER_SYSTEM)) for q in qs][:n]

def sequential_generate(model, tok, prompts, max_new_tokens, stop=("\n",)):
    "The naive baseline: `model.generate` on one prompt at a time."
    criteria, out = _stop_criteria(tok, tuple(stop)), []
    for p in prompts:
        enc = tok(p, return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, stopping_criteria=criteria,
                                 pad_token_id=tok.pad_token_id)
        out.append(ids[0, enc.input_ids.shape[1]:].tolist())
    return out

def n_tokens(rows, tok):
    "Generated tokens, up to the first end-of-sequence or pad token."
    return sum(next((i for i, t in enumerate(r) if t in (tok.eos_token_id, tok.pad_token_id)), len(r)) for r in rows)

def capture_kept(model, tok, prompt) -> int:
    "Bytes a last-token capture of every layer keeps for 32 copies of `prompt`."
    enc = tok([prompt] * 32, return_tensors="pt", add_special_tokens=False)
    with capture(model, positions=-1) as cap, torch.inference_mode(): model(**enc)
    return cap.stack().numel() * cap.stack().element_size()

def bench_model(name, model, tok, n_prompts=32, max_new_tokens=32, stages=True):
    prompts = prompts_for(tok, n_prompts)
    layers = len(decoder_layers(model))
    r = {"model": name, "prompts": len(prompts), "max_new_tokens": max_new_tokens, "layers": layers}
    # generation: sequential vs batched
    t_seq, seq = timed(lambda: sequential_generate(model, tok, prompts, max_new_tokens))
    r["sequential tok/s"] = n_tokens(seq, tok) / t_seq
    for b in (8, 32):
        t, ids = timed(lambda: generate_ids(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=b, progress=False))
        r[f"batch {b} tok/s"] = n_tokens(ids, tok) / t
        r[f"batch {b} same text as sequential"] = [tok.decode(i, skip_special_tokens=True).split("\n")[0] for i in ids] == \
                                                 [tok.decode(i, skip_special_tokens=True).split("\n")[0] for i in seq]
    r["batched 32 / sequential"] = r["batch 32 tok/s"] / r["sequential tok/s"]
    # steering overhead: same prompts, batch 32, a vector in 6 middle layers vs no hook
    vecs = {l: torch.zeros(model.config.hidden_size) for l in range(layers // 3, min(layers, layers // 3 + 6))}
    plain = lambda: generate_ids(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=32, progress=False, stop=())
    def steered():
        with add_vectors(model, vecs, positions=-1): return plain()
    t_plain, _ = timed(plain, 3); t_steer, _ = timed(steered, 3)
    r["steered / unsteered time"] = t_steer / t_plain
    # capture overhead: one forward of 32 prompts, all layers at the last token vs a plain forward
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    def fwd():
        with torch.inference_mode(): model(**enc)
    def hooked():
        with capture(model, positions=-1) as cap, torch.inference_mode(): model(**enc)
        return cap
    t_fwd, _ = timed(fwd, 5); t_cap, _ = timed(hooked, 5)
    r["capture / plain forward time"] = t_cap / t_fwd
    short = prompts[0]
    long = short + " and" * (3 * len(tok(short, add_special_tokens=False).input_ids))   # about 4x the tokens
    r["capture kept MiB (1x, 4x prompt)"] = [capture_kept(model, tok, p) / 2**20 for p in (short, long)]
    if stages:
        # the core step of each stage, examples per second
        statements = statement_prompts(tok, builtin_statements()[:64])
        t, _ = timed(lambda: last_token_states(model, tok, statements, batch_size=32, progress=False))
        r["probe activations statements/s"] = len(statements) / t
        items = [{"question": "Name a city in France.", "answer": "Madrid", "continuation": " is a city in Spain.",
                  "family": "city_in_country"}] * 16
        t, _ = timed(lambda: LLMJudge(LocalChat(model, tok, batch_size=8), max_new_tokens=48)(items, progress=False))
        r["LLM judge items/s"] = len(items) / t
        t, _ = timed(lambda: LexicalJudge()(items * 100))
        r["lexical judge items/s"] = len(items) * 100 / t
        t, _ = timed(lambda: generate_ids(model, tok, prompts, max_new_tokens=64, temperature=0.7, top_p=0.95,
                                          batch_size=32, progress=False))
        r["sampling answers/s (64 tokens)"] = len(prompts) / t
        t, _ = timed(lambda: generate_ids(model, tok, prompts, max_new_tokens=64, batch_size=16, progress=False))
        r["continuations/s (greedy, 64 tokens, newline stop)"] = len(prompts) / t
    return r

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tiny", action="store_true", help="only the tiny random model")
    args = ap.parse_args()
    torch.manual_seed(0)
    machine = {"cpu cores": os.cpu_count(), "torch threads": torch.get_num_threads(), "platform": platform.platform(),
               "python": platform.python_version(), "torch": torch.__version__,
               "transformers": __import__("transformers").__version__}
    results = [bench_model("tiny random llama", *tiny_model(), max_new_tokens=16, stages=False)]
    if not args.tiny: results.append(bench_model("smollm2-135m", *load_model()))
    OUT.write_text(json.dumps({"machine": machine, "when": time.strftime("%Y-%m-%d %H:%M"), "results": results}, indent=1))
    for r in results:
        print(f"\n{r['model']}")
        for k, v in r.items():
            if k != "model": print(f"  {k}: {round(v, 3) if isinstance(v, float) else v}")
    print(f"\nwrote {OUT}")

if __name__ == "__main__":
    main()
