"""Work the stages no longer do, measured in one run on this machine, each beside the path it replaced and with the
agreement of their results:

- SFT: a training step with the loss computed from every position's logits (`model(**batch).loss`, before) and from
  the logits of the positions that predict a target token only (`sft.target_loss`, after); the LoRA weights after the
  same steps compared bit for bit;
- the manipulation check of steering: one setting's belief shift read from two whole-prompt forwards per setting, the
  unsteered one repeated for every setting (before), and `steering.belief_shifts` (after): each prompt once up to its
  last token, then that token under all settings together (eight per forward), and under one setting per forward;
- the propensity under many settings: one forward of the answer's last token and " is" per setting, from a copy of the
  prompts' cached heads (before), `steering.negation_log_odds_under` (after: the same through `last_token_readings`),
  and `last_token_readings` with eight settings per forward;
- patching: continuations with every layer's value vectors, and the top heads' attention, at the answer's last token
  taken from a steered run, from whole-prompt prefills (before) and after the prompts' shared prefix and stems
  (`generate(..., share_prefix=True, share_stems=True)`, after); the texts compared; and the propensity under the
  value patch (`patching.log_odds_under`) from whole prompts (before) and from the prompts' heads run once (after).

On the report half's wrong answers of the full run here (`runs/smollm2-135m`), with its probe directions; the chosen
setting towards "false" and its controls. Writes benchmarks/reduce_work.json.

    .venv/bin/python benchmarks/reduce_work.py     # about 10 minutes on 2 CPU cores
"""
import copy, json, sys, time
from pathlib import Path

import numpy as np
import torch

from retraction_nb.hooks import add_vectors, shared_prefix_phase
from retraction_nb.models import Study, cache_argument, forward_rows, generate, load_model, render_chat, require_filled, rows_prefix
from retraction_nb.patching import log_odds_under, patch_attention, patch_values
from retraction_nb.probe import last_token_states, load_directions
from retraction_nb.sft import balance, encode, sft_examples, target_loss
from retraction_nb.steering import (belief_shifts, last_token_readings, negation_log_odds_of, negation_log_odds_under, negation_tokens, random_like,
                                    steering_vectors)
from retraction_nb.stats import cluster_bootstrap
from retraction_nb.testbed import testbed_records
sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import machine, prefill_rate   # the same measurement as benchmarks/generation.py

OUT = Path(__file__).resolve().parent/"reduce_work.json"

def timed(fn):
    t0 = time.perf_counter(); out = fn(); return out, round(time.perf_counter() - t0, 1)

def sft_steps(records, steps:int=8) -> dict:
    "The same LoRA steps with the whole-sequence loss and with `target_loss`: seconds and whether the adapters are equal."
    from peft import LoraConfig, get_peft_model
    out, weights = {}, {}
    for label, loss_of in [("whole-sequence logits (before)", lambda m, b: m(**b).loss), ("target positions only (after)", target_loss)]:
        model, tok = load_model("smollm2-135m")
        examples = balance(sft_examples(tok, records))[:8 * steps]
        torch.manual_seed(0)
        peft = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
        optim = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=5e-4)
        peft.train()
        t0 = time.perf_counter()
        for i in range(steps):
            loss = loss_of(peft, encode(tok, examples[8 * i:8 * i + 8]))
            loss.backward(); optim.step(); optim.zero_grad()
        out[label] = {"steps": steps, "seconds per step": round((time.perf_counter() - t0) / steps, 2)}
        weights[label] = torch.cat([p.detach().flatten() for n, p in peft.named_parameters() if "lora" in n])
        print(label, out[label], flush=True)
    before, after = weights.values()
    return {**out, "LoRA weights identical after the same steps": bool(torch.equal(before, after))}

def old_belief_shift(model, tok, records, vectors, saved, layer, n_boot=200):
    "The replaced path: the unsteered and the steered scores, each from a whole-prompt forward."
    prompts = [render_chat(tok, r["messages"]) for r in records]
    direction, threshold = saved["directions"][layer].float(), float(saved["thresholds"][layer])
    score = lambda: (last_token_states(model, tok, prompts, progress=False)[layer] @ direction).numpy() - threshold
    plain = score()
    with add_vectors(model, vectors, positions=-1): steered = score()
    sd = float(plain.std()) or 1.0
    return cluster_bootstrap(lambda a, b: float((b - a).mean() / sd), [r["question"] for r in records], plain, steered, n_boot=n_boot)

def old_negation_log_odds_under(model, tok, records, settings, suffix=" is", batch_size=64):
    "The replaced path: one forward of the answer's last token and the suffix per setting, from a copy of the cached head."
    ids = tok([render_chat(tok, r["messages"]) + suffix for r in records], add_special_tokens=False).input_ids
    k = 1 + len(tok(suffix, add_special_tokens=False).input_ids)
    prefix = rows_prefix(model, [r[:-k] for r in ids])
    negations, out = negation_tokens(tok), {name: [] for name in settings}
    for b in range(0, len(ids), batch_size):
        rows = ids[b:b + batch_size]
        _, mask, pos, head = forward_rows(model, tok, [r[:-k] for r in rows], prefix, logits_to_keep=1)
        require_filled(model, head, mask, "")
        tail = torch.tensor([r[-k:] for r in rows], device=model.device)
        mask, pos = torch.cat([mask, mask.new_ones(len(rows), k)], 1), pos[:, -1:] + torch.arange(1, k + 1, device=pos.device)
        for name, vectors in settings.items():
            with torch.inference_mode(), shared_prefix_phase(model, "rest"), add_vectors(model, vectors, positions=-k):
                logits = model(input_ids=tail, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1,
                               **{cache_argument(model): copy.deepcopy(head)}).logits[:, -1].float()
            out[name].append(negation_log_odds_of(logits, negations))
    return {name: np.concatenate(v) for name, v in out.items()}

def old_log_odds_under(model, tok, records, intervention, suffix=" is", batch_size=32):
    "The replaced path of the patching page's propensity: each prompt one whole forward under the intervention."
    negations, out = negation_tokens(tok), []
    prompts = [render_chat(tok, r["messages"]) + suffix for r in records]
    for b in range(0, len(prompts), batch_size):
        enc = tok(prompts[b:b + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        positions = (enc.attention_mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode(), intervention():
            logits = model(**enc, position_ids=positions, use_cache=False, logits_to_keep=1).logits[:, -1]
        out.append(negation_log_odds_of(logits, negations))
    return np.concatenate(out)

def main():
    torch.manual_seed(0)
    model, tok = load_model("smollm2-135m")
    study = Study()                                                              # runs/smollm2-135m, at full scale
    records = testbed_records(study.testbeds("full"), paired=False)   # every verified answer, as the steering stage reads them
    saved = load_directions(study.directions_file(at="full"))
    shuffled = load_directions(study.directions_file("shuffled", at="full"))["directions"]
    report = [r for r in records if r["split"] == "test" and not r["result"]]
    prompts = [render_chat(tok, r["messages"]) for r in report]
    prefill = round(prefill_rate(model, tok, prompts), 1)
    band, alpha, sign, layer = range(20, 26), 1.0, -1, 26                       # the setting chosen towards "false" in the full run
    controls = {"probe": steering_vectors(saved["directions"], band, alpha, sign),
                **{f"random{s}": steering_vectors(random_like(saved["directions"], s), band, alpha, sign) for s in range(5)},
                "shuffled": steering_vectors(shuffled, band, alpha, sign)}
    result = {"machine": machine(),
              "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "prompts": len(report),
              "source": f"report half's wrong answers of {study.testbeds('full')}", "prefill tok/s (batch 32)": prefill}
    print(result, flush=True)

    old, t_old = timed(lambda: {n: old_belief_shift(model, tok, report, v, saved, layer) for n, v in controls.items()})
    new, t_new = timed(lambda: belief_shifts(model, tok, report, controls, saved, layer, n_boot=200))
    ids = tok(prompts, add_special_tokens=False).input_ids
    direction, threshold = saved["directions"][layer].float(), float(saved["thresholds"][layer])
    _, t_one = timed(lambda: last_token_readings(model, tok, ids, 1, {-1: {}, **controls}, lambda s: (s @ direction).numpy() - threshold, layer))
    result["belief shift, 7 settings"] = {"two whole-prompt forwards per setting (before)": {"seconds": t_old},
                                          "last token under every setting, eight per forward (after: belief_shifts)": {"seconds": t_new},
                                          "last token, one setting per forward": {"seconds": t_one},
                                          "largest difference of the shift (SD)": round(max(abs(old[n][0] - new[n][0]) for n in controls), 6)}
    print(result["belief shift, 7 settings"], flush=True)

    sources = {"probe": saved["directions"], "shuffled": shuffled, **{f"random{s}": random_like(saved["directions"], s) for s in range(5)}}
    doses = {(b0, s * a, n): steering_vectors(d, range(b0, b0 + 6), a, s) for b0 in (8, 20) for a in (1.0, 4.0) for s in (-1, 1)
             for n, d in sources.items()}
    settings = {"plain": {}, **doses}
    report_ids = tok([p + " is" for p in prompts], add_special_tokens=False).input_ids
    k, negations = 1 + len(tok(" is", add_special_tokens=False).input_ids), negation_tokens(tok)
    read = lambda logits: negation_log_odds_of(logits, negations)
    old, t_old = timed(lambda: old_negation_log_odds_under(model, tok, report, settings))
    one, t_one = timed(lambda: negation_log_odds_under(model, tok, report, settings))   # `last_token_readings`, one setting per forward
    eight, t_eight = timed(lambda: last_token_readings(model, tok, report_ids, k, settings, read, rows=512))
    result[f"propensity, {len(settings)} settings"] = {
        "a forward per setting, 64 rows (before)": {"seconds": t_old},
        "last_token_readings, one setting per forward (after, the default)": {"seconds": t_one},
        "last_token_readings, eight settings per forward, 512 rows": {"seconds": t_eight},
        "largest difference of the log-odds": float(max(np.abs(old[n] - x[n]).max() for n in settings for x in (one, eight)))}
    print(result[f"propensity, {len(settings)} settings"], flush=True)

    at_answer = lambda: add_vectors(model, controls["probe"], positions=-2)   # the answer's last token, before " is"
    value_patch = lambda: patch_values(model, at_answer, None, -2)
    old, t_old = timed(lambda: old_log_odds_under(model, tok, report, value_patch))
    new, t_new = timed(lambda: log_odds_under(model, tok, report, value_patch))
    result["propensity under the value patch"] = {"whole prompts, the source run too (before)": {"seconds": t_old},
                                                  "heads once, the last two tokens patched (after)": {"seconds": t_new},
                                                  "largest difference of the log-odds": float(np.abs(old - new).max())}
    print(result["propensity under the value patch"], flush=True)

    source = lambda: add_vectors(model, controls["probe"], positions=-1)
    heads = {20: [0, 1, 2, 3], 22: [0, 1, 2, 3]}
    patches = {"values, every layer": lambda: patch_values(model, source), "attention, 8 heads": lambda: patch_attention(model, source, heads)}
    kw = dict(max_new_tokens=64, batch_size=128, progress=False)
    rows = {}
    for name, patch in patches.items():
        with patch(): before, t_old = timed(lambda: generate(model, tok, prompts, **kw))
        with patch(): after, t_new = timed(lambda: generate(model, tok, prompts, share_prefix=True, share_stems=True, **kw))
        tokens = sum(len(tok(t, add_special_tokens=False).input_ids) for t in after)
        rows[name] = {"whole-prompt prefills (before)": {"seconds": t_old, "/ prefill rate": round(tokens / t_old / prefill, 3)},
                      "shared prefix and stems (after)": {"seconds": t_new, "/ prefill rate": round(tokens / t_new / prefill, 3)},
                      "same texts": f"{sum(a == b for a, b in zip(before, after))}/{len(after)}"}
        print(name, rows[name], flush=True)
    result["patching continuations"] = rows

    result["sft, LoRA steps of 8 examples"] = sft_steps(testbed_records(study.testbeds("full")))
    OUT.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT}")

if __name__ == "__main__":
    main()
