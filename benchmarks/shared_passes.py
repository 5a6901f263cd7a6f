"""Work shared across settings and interventions, measured in one run on this machine, each beside the path it replaced
and with the agreement of their results:

- the propensity's dose-response (`steering.negation_log_odds_under`): every setting's two-token tail run through every
  layer (before), and with the layers below the setting's first steered layer run once per head, plainly, and handed in
  (`skip_unchanged=True`, after; `hooks.start_at`);
- patching's continuations (`patching.intervention_runs`): one pass of the refilling loop per intervention (before), and
  the interventions of a kind sharing one pass, each run's rows prefilled under its own patch and decoded together
  (`steering.runs_under`, after); the texts compared run by run;
- the attention the last position pays to the answer and the constraint (`patching.span_attention`): whole prompts, one
  call per intervention (before), and each prompt's head run once for every intervention (`span_attentions`, after).

On the full run given (default runs/smollm2-135m): its report half's wrong answers for the propensity and the patches,
its selection half's for the attention, its probe directions and its chosen settings. Writes benchmarks/shared_passes.json.

    .venv/bin/python benchmarks/shared_passes.py [RUN_DIR]     # about 10 minutes on 2 CPU cores
"""
import json, os, sys, tempfile, time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from retraction_nb.hooks import add_vectors, capture_attention
from retraction_nb.models import Study, load_model, render_chat
from retraction_nb.patching import _span_mask, intervention_runs, prompt_spans, span_attentions
from retraction_nb.probe import load_directions
from retraction_nb.steering import (continuation_items, continuations_under, last_token_readings, negation_log_odds_of,
                                    negation_log_odds_under, negation_tokens, random_like, steering_vectors)
from retraction_nb.store import read_jsonl
from retraction_nb.store import read_json
from retraction_nb.testbed import testbed_records
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import machine, prefill_rate   # the same measurement as benchmarks/generation.py

OUT = Path(__file__).resolve().parent/"shared_passes.json"

def timed(fn):
    t0 = time.perf_counter(); out = fn(); return out, round(time.perf_counter() - t0, 1)

def one_pass_per_run(study, model, tok, records, directions, settings, heads, out_dir, max_new_tokens=64) -> dict:
    "The replaced path of `intervention_runs`: every intervention its own pass of `continuations_under`, into `out_dir`."
    with tempfile.TemporaryDirectory() as d:   # the new path's plan, read off with its generation stubbed out
        import retraction_nb.patching as patching
        plans, real = [], patching.runs_under
        patching.runs_under = lambda m, t, recs, runs, **how: plans.append((runs, how)) or {p: [] for p in runs}
        try: intervention_runs(Study(study.model, run=d), model, tok, records, directions, settings, heads, max_new_tokens)
        finally: patching.runs_under = real
    texts = {}
    for runs, how in plans:
        suffix = how.get("suffix", "")
        for path, (within, identity) in runs.items():
            if Path(path).parent.name == "steering": continue   # read back from the steering stage on both paths
            with how.get("during", nullcontext)():
                texts[Path(path).name] = continuations_under(model, tok, records, Path(out_dir)/Path(path).name, within, suffix, max_new_tokens,
                                                             identity=identity or None, share_prefix=True,
                                                             share_stems=how.get("share_stems", 1), desc=Path(path).stem)
    return texts

def whole_prompt_attention(model, tok, prompts, spans, intervention=nullcontext, batch_size=16) -> dict:
    "The replaced path of `span_attention`: whole prompts, every layer's attention at the last position."
    names, out = list(spans[0]), {n: [] for n in spans[0]}
    for i in range(0, len(prompts), batch_size):
        enc = tok(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False, return_offsets_mapping=True)
        offsets = enc.pop("offset_mapping")
        with torch.inference_mode(), intervention(), capture_attention(model) as cap: model(**enc.to(model.device))
        weights = cap.stack()[:, :, 0]
        for n in names:
            mask = torch.stack([_span_mask(o, sp[n]) for o, sp in zip(offsets, spans[i:i + batch_size])]) & enc.attention_mask.bool().cpu()
            out[n].append(torch.einsum("lbhk,bk->lbh", weights, mask.float()))
    return {n: torch.cat(v, dim=1).numpy() for n, v in out.items()}

def main():
    torch.manual_seed(0)
    os.environ["RETRACTION_NB_SCALE"] = "full"   # the run's full-scale folders
    study = Study(run=Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else None)
    model, tok = load_model(study.model)
    records = testbed_records(study.testbeds(), paired=False)
    wrong = [r for r in records if not r["result"]]
    selection, report = [r for r in wrong if r["split"] == "train"], [r for r in wrong if r["split"] == "test"]
    saved, shuffled = load_directions(study.directions_file()), load_directions(study.directions_file("shuffled"))["directions"]
    directions = saved["directions"]
    chosen = [f for f in read_json(study.stage_findings("steer")) if f["claim"].endswith("retraction")]
    settings = {f"towards {'false' if f['sign'] < 0 else 'true'}": (range(int(f["band"].split("-")[0]), int(f["band"].split("-")[1]) + 1),
                                                                    f["alpha"], f["sign"]) for f in chosen}
    prompts = [render_chat(tok, r["messages"]) for r in report]
    prefill = round(prefill_rate(model, tok, prompts), 1)
    result = {"machine": machine(),
              "when": time.strftime("%Y-%m-%d %H:%M"), "model": f"{study.model} ({str(model.dtype).removeprefix('torch.')})", "run": study.run.name,
              "report prompts": len(report), "selection prompts": len(selection), "settings": {n: [min(l), max(l), a, s] for n, (l, a, s) in settings.items()},
              "prefill tok/s (batch 32)": prefill}
    print(result, flush=True)

    sources = {"probe": directions, "shuffled": shuffled, "random0": random_like(directions, 0)}
    doses = {(b0, s * a, n): steering_vectors(d, range(b0, b0 + 6), a, s) for b0 in (2, 8, 14, 20) for a in (1.0, 4.0) for s in (-1, 1)
             for n, d in sources.items()}
    doses = {"plain": {}, **doses}
    ids = tok([p + " is" for p in prompts], add_special_tokens=False).input_ids
    read = lambda logits: negation_log_odds_of(logits, negation_tokens(tok))
    k = 1 + len(tok(" is", add_special_tokens=False).input_ids)   # the answer's last token and " is", as the stage reads them
    every, t_every = timed(lambda: last_token_readings(model, tok, ids, k, doses, read, skip_unchanged=False))
    skipped, t_skip = timed(lambda: negation_log_odds_under(model, tok, report, doses))   # the stage's call: skip_unchanged=True
    result[f"propensity, {len(doses)} settings (bands from layers 2, 8, 14, 20)"] = {
        "every layer per setting (before)": {"seconds": t_every},
        "layers below the band run once per head (after)": {"seconds": t_skip},
        "largest difference of the log-odds": float(max(np.abs(every[n] - skipped[n]).max() for n in doses))}
    print(result[f"propensity, {len(doses)} settings (bands from layers 2, 8, 14, 20)"], flush=True)

    heads = {name: {20: [0, 1, 2, 3], 22: [0, 1, 2, 3]} for name in settings}   # eight heads per setting, as the stage's top 8
    with tempfile.TemporaryDirectory() as d_old, tempfile.TemporaryDirectory() as d_new:
        old, t_old = timed(lambda: one_pass_per_run(study, model, tok, report, directions, settings, heads, d_old))
        fresh = Study(study.model, run=d_new)
        os.symlink(study.dir("steer"), fresh.dir("steer"))   # the steering stage's runs, which both paths read back (all cached:
        # the old path skips them, so a missing one would be generated on the new path's clock, into the run's folder)
        _, t_new = timed(lambda: intervention_runs(fresh, model, tok, report, directions, settings, heads))
        same = {name: f"{sum(a == b for a, b in zip(texts, _texts(fresh.dir('patch')/name, report, tok)))}/{len(texts)}" for name, texts in old.items()}
        tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for texts in old.values() for t in texts)
    result[f"patching continuations, {len(old)} runs"] = {
        "a pass per run (before)": {"seconds": t_old, "/ prefill rate": round(tokens / t_old / prefill, 3)},
        "three shared passes (after)": {"seconds": t_new, "/ prefill rate": round(tokens / t_new / prefill, 3)},
        "same texts, run by run": same}
    print(result[f"patching continuations, {len(old)} runs"], flush=True)

    chats = [render_chat(tok, r["messages"]) for r in selection]
    spans = [prompt_spans(p, r["question"], r["name"]) for p, r in zip(chats, selection)]
    steer_at = lambda name: (lambda: add_vectors(model, steering_vectors(directions, *settings[name]), positions=-1))
    interventions = {"none": nullcontext, **{name: steer_at(name) for name in settings}}
    old, t_old = timed(lambda: {w: whole_prompt_attention(model, tok, chats, spans, within) for w, within in interventions.items()})
    new, t_new = timed(lambda: span_attentions(model, tok, chats, spans, interventions))
    result[f"span attention, {len(interventions)} interventions"] = {
        "whole prompts per intervention (before)": {"seconds": t_old}, "heads once (after)": {"seconds": t_new},
        "largest difference of an attention mass": float(max(np.abs(old[w][n] - new[w][n]).max() for w in old for n in old[w]))}
    print(result[f"span attention, {len(interventions)} interventions"], flush=True)
    result["prefill tok/s (batch 32), again at the end"] = round(prefill_rate(model, tok, prompts), 1)
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")

def _texts(path, records, tok):
    "A continuation cache's texts for `records`, in their order (without the suffix the cache leaves out)."
    cached = {r["key"]: r["output"] for r in read_jsonl(path)}
    suffix = " is" if path.stem.endswith("_is") else ""
    return [suffix + cached[k] for k, _ in continuation_items(tok, records, suffix)]

if __name__ == "__main__":
    main()
