"""Lever 1 of the performance issue, transformers' own continuous batching (`model.generate_batch`, paged KV cache),
against the project's refilling loop (`generate_ids`), in one run on this machine: the testbed's continuation prompts
of a full run, greedy, up to 64 new tokens, a row ending at the newline (for `generate_batch`: the newline token as an
end-of-sequence token), each timed once as a caller would call it (`generate_batch` with its default settings, its
setup included). Token ids compared row by row, `generate_batch`'s end-of-sequence token dropped (the loop drops it).

    .venv/bin/python benchmarks/continuous_batching.py RUN_DIR    # about 2 minutes on 2 CPU cores
"""
import argparse, json, time
from pathlib import Path

from transformers import GenerationConfig

from retraction_nb.models import generate_ids, load_model, render_chat
from retraction_nb.testbed import testbed_records
from generation import machine, timed   # shared by the benchmarks (this folder is on the path)

OUT = Path(__file__).resolve().parent/"continuous_batching.json"

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a full run's directory (its testbed's records are the prompts)")
    a = p.parse_args()
    model, tok = load_model()
    prompts = [render_chat(tok, r["messages"]) for r in testbed_records(Path(a.run_dir)/"testbeds")]
    ids = [tok(q, add_special_tokens=False).input_ids for q in prompts]
    ours, ours_s = timed(lambda: generate_ids(model, tok, prompts, max_new_tokens=64, stop=("\n",), batch_size=256,
                                              share_prefix=True, progress=False))
    config = GenerationConfig(max_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id,
                              eos_token_id=[tok.eos_token_id] + tok("\n", add_special_tokens=False).input_ids)
    theirs, theirs_s = timed(lambda: model.generate_batch(ids, generation_config=config, progress_bar=False))
    theirs = [theirs[k].generated_tokens for k in sorted(theirs, key=lambda k: int(k.split("_")[-1]))]
    rate = lambda rows, s: round(sum(map(len, rows)) / s, 1)
    r = {"machine": machine(),
         "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "run": Path(a.run_dir).name, "rows": len(ids),
         "refilling loop, batch 256, shared prefix (generate_ids)": {"seconds": round(ours_s, 1), "tokens/s": rate(ours, ours_s)},
         "continuous batching (model.generate_batch, its defaults)": {"seconds": round(theirs_s, 1), "tokens/s": rate(theirs, theirs_s)},
         "same tokens": f"{sum(x == (y[:-1] if y and y[-1] == tok.eos_token_id else y) for x, y in zip(ours, theirs))}/{len(ids)}"}
    OUT.write_text(json.dumps(r, indent=1))
    print(json.dumps(r, indent=1))

if __name__ == "__main__": main()
