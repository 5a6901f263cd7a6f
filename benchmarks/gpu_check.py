"""Check and time the study's machinery at the paper's scale: models built from the Llama-3.1-8B, OLMo-2-7B and
Qwen2.5-7B configurations with random weights (speed, memory and correctness of the machinery do not depend on
trained weights), run through the package's own functions (generation, capture, steering, patching, probe, LoRA).

On a machine with one GPU (sized for one H200, 141 GB: a few minutes; it skips what is left once --budget-s is spent):

    python benchmarks/gpu_check.py --out benchmarks/gpu_check.json

On a CPU, with tiny random models of the same three architectures in float32 (what tests/test_gpu_check.py runs):

    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check_tiny.json

The JSON (rewritten after every check, so a run cut short still leaves one) holds:

- `checks`: one record per "<model> | <check>", each with `status` (passed, failed, error, skipped; `why` says why a
  check failed or was skipped), `seconds`, `peak GPU GiB` (null on a CPU) and what it measured:
  - `bf16 vs fp32`: tiny models in bfloat16 on the device against float32 on the CPU: last-token logits within a
    stated tolerance, and the same first greedy token wherever float32's top-2 margin exceeds the error;
  - `device_map`: tiny models dispatched by accelerate with every other decoder layer on the CPU (all on the CPU in
    --tiny mode, hooks forced): capture, steering, value and attention patching and generation match the plain model;
  - `build`: parameters, seconds and memory to build the model on the device;
  - `generation`: prefill, decode and end-to-end tokens/s at several batch sizes (`generate_ids`, newline stop;
    random weights never stop early, so every row runs to `new tokens`: an upper bound on time);
  - `capture`: all layers' last-token states equal transformers' `hidden_states`; time against a plain forward;
  - `steering`: zero vectors change nothing (exact); a vector at the last prompt token moves that position only;
    steered generation's time against plain generation;
  - `patching`: from a null source, value and attention-weight patching give the plain logits; from a steered source,
    they write exactly the steered run's value vectors and chosen heads' weights; generation time under each;
  - `hooks after exception`: hooks and the attention setting are restored after an error inside a forward and after
    one in the block with every intervention open;
  - `probe`: `last_token_states` of built-in statements and `LayerProbes.fit` on them;
  - `lora`: `train_lora` steps (peft, all linear layers), loss finite, only adapter weights trainable.
- `estimate`: the whole study's time at the paper's testbed sizes, with its formula and parameters.
- `machine`, `versions`, `all passed`, `elapsed s`.
"""
import argparse, copy, gc, json, math, os, platform, time, traceback
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import (LlamaConfig, LlamaForCausalLM, Olmo2Config, Olmo2ForCausalLM, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen2ForCausalLM)

from retraction_nb.hooks import add_vectors, capture, capture_attention, decoder_layers, layer_module
from retraction_nb.models import chat, generate, generate_ids, prepare_tokenizer, render_chat, tiny_tokenizer
from retraction_nb.patching import patch_attention, patch_values
from retraction_nb.probe import LayerProbes, builtin_statements, last_token_states, split_statements, statement_prompts
from retraction_nb.sft import sft_examples, train_lora
from retraction_nb.steering import steered_generate, steering_vectors
from retraction_nb.testbed import PAPER_SYSTEM, capital, city_in_country, us_state_city

# The published configurations (each model's config.json), written out by hand: no hub access is needed.
LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
ARCHS = {
    "llama-3.1-8b": (LlamaConfig, LlamaForCausalLM, dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_parameters=LLAMA3_ROPE,
        hidden_act="silu", tie_word_embeddings=False)),
    "olmo-2-7b": (Olmo2Config, Olmo2ForCausalLM, dict(
        vocab_size=100352, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, hidden_act="silu", tie_word_embeddings=False)),
    "qwen2.5-7b": (Qwen2Config, Qwen2ForCausalLM, dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, hidden_act="silu", tie_word_embeddings=False)),
}
# --tiny and the reference checks: the same architectures, shrunk
TINY = dict(vocab_size=1024, hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)
# How much of each model runs, and how big each measurement is: (GPU run, --tiny run)
PLAN = {"gpu": dict(depth={"llama-3.1-8b": None, "olmo-2-7b": 4, "qwen2.5-7b": 4}, batches=(1, 16, 32, 128),
                    batches_reduced=(32,), new_tokens=64, statements=240, lora_examples=24),
        "tiny": dict(depth={"llama-3.1-8b": None, "olmo-2-7b": None, "qwen2.5-7b": None}, batches=(1, 4, 16),
                     batches_reduced=(16,), new_tokens=8, statements=120, lora_examples=16)}
# The paper's testbed sizes and the study's runs (notebooks 02-07 at full scale), for the whole-study estimate
STUDY = {"testbeds": 2, "continuations per testbed": 1200,
         "generation runs": {"testbed continuations": 1, "steering sweep (1 + 4 bands x 4 alphas x 2 signs + 4 random)": 37,
                             "patching (1 + 2 settings x 5)": 11, "the SFT model's continuations": 1,
                             "testbed building (answer sampling, 5-10 per question, and verification; assumed)": 8},
         "probe statements (UTQA train + test)": 4800, "probe reads of the testbeds (before and after SFT)": 2,
         "probe train statements": 2400, "SFT epochs": 2, "SFT batch": 8}

TOL_BF16 = 0.05   # max |logit difference| / max |fp32 logit| allowed for bfloat16 against float32
TOL_DEVICE = 1e-3 # the same for float32 on the device against float32 on the CPU (device_map check)

# ---------------------------------------------------------------- building

def padded_tokenizer(size:int):
    "The tests' tiny ChatML tokenizer, its vocabulary padded with filler tokens to `size`, so every id a model emits decodes."
    tok = tiny_tokenizer()
    spec = json.loads(tok.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    vocab.update({f"<f{i}>": i for i in range(len(vocab), size)})
    big = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token=tok.bos_token,
                                  eos_token=tok.eos_token, pad_token=tok.pad_token, unk_token=tok.unk_token)
    big.chat_template = tok.chat_template
    return prepare_tokenizer(big)

def build(arch:str, tiny:bool, device, dtype, depth:int|None=None, seed:int=0):
    "A random model of `arch` (tiny or at its real width, `depth` layers or all) built on `device` in `dtype`, and its tokenizer."
    config_cls, model_cls, values = ARCHS[arch]
    values = {**values, **(TINY if tiny else {}), **({"num_hidden_layers": depth} if depth else {})}
    tok = padded_tokenizer(values["vocab_size"])
    config = config_cls(**values, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(seed)
    with torch.device(device): model = model_cls._from_config(config, dtype=dtype)
    return model.eval(), tok

def continuation_prompts(tok, n:int) -> list[str]:
    "n testbed-like continuation prompts: [system, question, answer left open], from the built-in families."
    qs = [q["question"] for f in (city_in_country(), capital(), us_state_city()) for q in f.questions]
    answers = ["Paris", "Madrid", "Tokyo", "Lima", "Springfield"]
    return [render_chat(tok, chat(qs[i % len(qs)], answers[i % len(answers)], system=PAPER_SYSTEM)) for i in range(n)]

def encode(tok, prompts, device):
    return tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)

def band_of(model) -> list[int]:
    "The paper's steering band (layers 6-14 of Llama-3.1-8B's 32), scaled to the model's depth."
    n = len(decoder_layers(model))
    return list(range(round(n * 6 / 32), max(round(n * 15 / 32), round(n * 6 / 32) + 1)))

# ---------------------------------------------------------------- measuring

def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()

def timed(fn):
    "(seconds, result) of `fn()`, the device synchronised on both sides."
    sync(); t0 = time.perf_counter(); out = fn(); sync()
    return time.perf_counter() - t0, out

def forward(model, enc, **kwargs):
    with torch.inference_mode(): return model(**enc, **kwargs)

def rel_err(a, b) -> float:
    "max |a - b| / max |a|, in float32 on the CPU."
    a, b = a.float().cpu(), b.float().cpu()
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))

def hook_count(model) -> int: return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

def generated_tokens(rows) -> int: return sum(len(r) for r in rows)

# ---------------------------------------------------------------- reference checks (tiny models)

def check_bf16(arch, device):
    "bfloat16 on `device` against float32 on the CPU, same weights: last-token logits and greedy tokens."
    ref, tok = build(arch, True, "cpu", torch.float32)
    run = copy.deepcopy(ref).to(device, torch.bfloat16)
    prompts = continuation_prompts(tok, 8)
    a = forward(ref, encode(tok, prompts, "cpu")).logits[:, -1]
    b = forward(run, encode(tok, prompts, device)).logits[:, -1].float().cpu()
    err, abs_err = rel_err(a, b), float((a - b).abs().max())
    ga = generate_ids(ref, tok, prompts, max_new_tokens=8, stop=(), progress=False)
    gb = generate_ids(run, tok, prompts, max_new_tokens=8, stop=(), progress=False)
    top2 = a.topk(2).values
    clear = [i for i in range(len(prompts)) if top2[i, 0] - top2[i, 1] > 2 * abs_err]
    first_agree = all(ga[i][:1] == gb[i][:1] for i in clear)
    return {"passed": err < TOL_BF16 and first_agree and len(clear) > 0,
            "compared": f"bfloat16 on {device} against float32 on cpu",
            "max relative logit error": err, "tolerance": TOL_BF16, "rows with a clear top-2 margin": len(clear),
            "first greedy token equal on those": first_agree,
            "rows with all 8 greedy tokens equal": sum(x == y for x, y in zip(ga, gb)), "rows": len(prompts)}

def split_map(model, device) -> dict:
    "A device map with every other decoder layer on the CPU and everything else on `device`."
    # torch.device('cpu'), not the string 'cpu', which accelerate reads as "keep the weights on the CPU, run the layer
    # on the main device": so the layers really run on two devices, as they would on two GPUs
    dm = {f"model.{n}": device for n, _ in model.model.named_children() if n != "layers"}
    dm.update({f"model.layers.{i}": (device if i % 2 == 0 else torch.device("cpu")) for i in range(len(decoder_layers(model)))})
    return {**dm, "lm_head": device}

def check_device_map(arch, device):
    "A model dispatched by accelerate over `device` and the CPU gives the plain model's results under every intervention."
    from accelerate import dispatch_model
    ref, tok = build(arch, True, "cpu", torch.float32)
    # force_hooks: accelerate's hooks even when every module is on the CPU (--tiny)
    placed = dispatch_model(copy.deepcopy(ref), device_map=split_map(ref, device), main_device=device, force_hooks=True)
    layers = decoder_layers(placed)
    prompts = continuation_prompts(tok, 4)
    band, d = band_of(ref), ref.config.hidden_size
    vecs = {l: 3 * torch.randn(d, generator=torch.Generator().manual_seed(l)) for l in range(len(layers))}
    steer = lambda m: (lambda: add_vectors(m, vecs))
    heads = {l: [0, 1] for l in range(len(layers))}
    def results(m):
        enc = encode(tok, prompts, m.device)
        with capture(m) as cap: plain = forward(m, enc).logits[:, -1]
        with add_vectors(m, vecs): steered = forward(m, enc).logits[:, -1]
        with patch_values(m, steer(m)): values = forward(m, enc).logits[:, -1]
        with patch_attention(m, steer(m), heads): attention = forward(m, enc).logits[:, -1]
        with capture_attention(m, band) as att: forward(m, enc)
        return {"plain": plain, "capture": cap.stack(), "steered": steered, "values patched": values,
                "attention patched": attention, "attention weights": att.stack()}
    want, got = results(ref), results(placed)
    errors = {k: rel_err(want[k], got[k]) for k in want}
    texts = steered_generate(placed, tok, prompts, vecs, max_new_tokens=4, stop=("\n",), progress=False)
    return {"passed": all(e < TOL_DEVICE for e in errors.values()) and len(texts) == len(prompts)
                      and all(hasattr(l, "_hf_hook") for l in layers) and hook_count(placed) == hook_count(ref),
            "layers run on": [str(l._hf_hook.execution_device) for l in layers],
            "max relative error (vs plain model)": errors, "tolerance": TOL_DEVICE}

# ---------------------------------------------------------------- the stages' core steps (model at scale)

def check_generation(model, tok, prompts, batches, new_tokens):
    "Prefill, decode and end-to-end tokens/s of `generate_ids` (newline stop) at each batch size."
    generate_ids(model, tok, prompts[:2], max_new_tokens=2, progress=False)   # warm-up
    out, ok = {}, True
    for b in batches:
        rows = prompts[:max(b, 2)]
        enc = encode(tok, rows[:b], model.device)
        t_pre, _ = timed(lambda: forward(model, enc, logits_to_keep=1))
        t_gen, ids = timed(lambda: generate_ids(model, tok, rows, max_new_tokens=new_tokens, batch_size=b, progress=False))
        n_new, n_prompt = generated_tokens(ids), int(enc.attention_mask.sum())
        batches_run = math.ceil(len(rows) / b)
        ok &= len(ids) == len(rows) and all(len(r) <= new_tokens for r in ids)
        out[f"batch {b}"] = {"prompts": len(rows), "mean prompt tokens": n_prompt / min(b, len(rows)),
                             "prefill tok/s": n_prompt / t_pre, "generated tokens": n_new,
                             "generate tok/s (with prefill)": n_new / t_gen,
                             "decode tok/s": n_new / max(t_gen - batches_run * t_pre, 1e-9),
                             "seconds per continuation": t_gen / len(rows)}
    texts = generate(model, tok, prompts[:4], max_new_tokens=new_tokens, batch_size=4, progress=False)
    return {"passed": ok and not any("\n" in t for t in texts), "new tokens": new_tokens, **out}

def check_capture(model, tok, prompts, batch=32):
    "All layers' last-token states from `capture` equal transformers' hidden_states; its cost against a plain forward."
    enc = encode(tok, prompts[:batch], model.device)
    forward(model, enc)                                                   # warm-up
    t_plain = min(timed(lambda: forward(model, enc))[0] for _ in range(3))
    def hooked():
        with capture(model) as cap: forward(model, enc)
        return cap
    t_cap = min(timed(hooked)[0] for _ in range(3))
    with capture(model) as cap: hidden = forward(model, enc, output_hidden_states=True).hidden_states
    acts, ref = cap.stack()[:-1, :, 0], torch.stack(hidden[1:-1])[:, :, -1].float().cpu()
    n, d = len(decoder_layers(model)), model.config.hidden_size
    return {"passed": cap.stack().shape == (n, batch, 1, d) and torch.equal(acts, ref),
            "shape": list(cap.stack().shape), "batch": batch, "plain forward s": t_plain, "capture forward s": t_cap,
            "capture / plain time": t_cap / t_plain}

def directions_for(model, tok, prompts) -> torch.Tensor:
    "Stand-in belief directions (layers, d): the difference of two halves' mean last-token states, at the states' mean norm."
    states = last_token_states(model, tok, prompts[:16], batch_size=16, progress=False)
    diff = states[:, ::2].mean(1) - states[:, 1::2].mean(1)
    return diff / diff.norm(dim=1, keepdim=True) * states.norm(dim=2).mean(1, keepdim=True)

def check_steering(model, tok, prompts, directions, new_tokens, batch=32):
    "Zero vectors change nothing (exact); a vector moves the last position only; steered generation's overhead."
    band, rows = band_of(model), prompts[:batch]
    enc = encode(tok, rows[:8], model.device)
    plain = forward(model, enc).logits
    vecs, zeros = steering_vectors(directions, band, 4.0, sign=-1), steering_vectors(torch.zeros_like(directions), band, 1.0)
    with add_vectors(model, zeros): zero = forward(model, enc).logits
    with add_vectors(model, vecs): moved = forward(model, enc).logits
    gen = lambda v: steered_generate(model, tok, rows, v, max_new_tokens=new_tokens, batch_size=batch, progress=False)
    t_plain, plain_texts = timed(lambda: generate(model, tok, rows, max_new_tokens=new_tokens, batch_size=batch, progress=False))
    zero_texts, (t_steer, _) = gen(zeros), timed(lambda: gen(vecs))
    zero_exact, earlier = torch.equal(zero, plain), rel_err(plain[:, :-1], moved[:, :-1])
    return {"passed": zero_exact and zero_texts == plain_texts and rel_err(plain[:, -1], moved[:, -1]) > 1e-3 and earlier < 1e-2,
            "band": band, "zero steering: logits identical": zero_exact, "zero steering: same greedy text": zero_texts == plain_texts,
            "steered: last-position logit change (relative)": rel_err(plain[:, -1], moved[:, -1]),
            "steered: earlier positions' change (relative)": earlier,
            "plain generation s": t_plain, "steered generation s": t_steer, "steered / plain time": t_steer / t_plain}

def check_patching(model, tok, prompts, directions, new_tokens, batch=32):
    "Value and attention-weight patching write the steered run's values and weights; a null source changes nothing; time."
    band, rows = band_of(model), prompts[:batch]
    after, heads = band[-1] + 1, [0, 1]    # the layer after the band, whose values and attention the steering changes
    steer = lambda: add_vectors(model, steering_vectors(directions, band, 4.0, sign=-1))
    enc = encode(tok, rows[:8], model.device)
    mask, hooks = enc.attention_mask.bool(), hook_count(model)   # (transformers keeps hooks of its own once it has recorded outputs)
    plain = forward(model, enc).logits
    with capture_attention(model, [after]) as plain_w: plain_eager = forward(model, enc).logits   # eager attention, as patching uses
    with patch_values(model, nullcontext): values_null = forward(model, enc).logits
    with patch_attention(model, nullcontext, {after: heads}): att_null = forward(model, enc).logits
    v = "self_attn.v_proj"
    with capture(model, after, module=v) as plain_v: forward(model, enc)
    with steer(), capture(model, after, module=v) as steered_v, capture_attention(model, [after]) as steered_w: forward(model, enc)
    with patch_values(model, steer), capture(model, after, module=v) as patched_v: values_steered = forward(model, enc).logits
    seen = {}
    def keep(m, a, o): seen["w"] = o[1][:, heads, -1].float().cpu()
    handle = layer_module(model, after, "self_attn").register_forward_hook(keep)
    try:
        with patch_attention(model, steer, {after: heads}): att_steered = forward(model, enc).logits
    finally: handle.remove()
    tol = 2e-2 if plain.dtype == torch.bfloat16 else 1e-5    # a few units in the last place of bfloat16
    errs = {"values, null source (vs plain)": rel_err(plain[mask], values_null[mask]),
            "attention, null source (vs plain with eager attention)": rel_err(plain_eager[mask], att_null[mask]),
            "values written (vs the steered run's)": rel_err(steered_v[after], patched_v.acts[after][-1]),
            "weights written (vs the steered run's)": rel_err(steered_w[after][:, 0, heads], seen["w"])}
    moved = {"steered run's values (vs plain)": rel_err(plain_v[after], steered_v[after]),
             "steered run's weights (vs plain)": rel_err(plain_w[after][:, 0, heads], steered_w[after][:, 0, heads])}
    gen = lambda: generate_ids(model, tok, rows, max_new_tokens=new_tokens, batch_size=batch, progress=False)
    def under(ctx):
        with ctx(): return gen()
    t_plain, _ = timed(gen)
    t_values, _ = timed(lambda: under(lambda: patch_values(model, steer)))
    t_att, _ = timed(lambda: under(lambda: patch_attention(model, steer, {after: heads})))
    distinct = moved["steered run's values (vs plain)"] > max(1e-3, 10 * errs["values written (vs the steered run's)"]) and \
               moved["steered run's weights (vs plain)"] > max(1e-3, 10 * errs["weights written (vs the steered run's)"])
    return {"passed": all(e < tol for e in errs.values()) and distinct and hook_count(model) == hooks,
            "band": band, "patched layer": after, "heads": heads, "tolerance": tol, "relative error": errs,
            "relative change (must exceed 1e-3 and 10 x the error of what was written)": moved,
            "last-position logit change (values, attention patched)": [rel_err(plain[:, -1], values_steered[:, -1]),
                                                                      rel_err(plain_eager[:, -1], att_steered[:, -1])],
            "plain generation s": t_plain, "values-patched generation s": t_values, "attention-patched generation s": t_att,
            "values / plain time": t_values / t_plain, "attention / plain time": t_att / t_plain}

def check_cleanup(model, tok, prompts, directions):
    "Hooks and the attention setting are restored after an error in a forward and after one in the block."
    band, d = band_of(model), model.config.hidden_size
    enc = encode(tok, prompts[:4], model.device)
    before, attn, plain = hook_count(model), model.config._attn_implementation, forward(model, enc).logits
    steer = lambda: add_vectors(model, steering_vectors(directions, band, 1.0))
    raised = []
    try:                                   # a vector of the wrong width fails inside the hook, on the device
        with capture(model), add_vectors(model, {band[0]: torch.ones(d + 1)}): forward(model, enc)
    except RuntimeError as e: raised.append(str(e).splitlines()[0][:120])
    try:                                   # an error in the block, with every intervention open
        with capture(model), steer(), patch_values(model, steer, band), patch_attention(model, steer, {band[0]: [0]}), \
             capture_attention(model, band):
            forward(model, enc); raise RuntimeError("boom")
    except RuntimeError as e: raised.append(str(e))
    after = forward(model, enc).logits
    return {"passed": len(raised) == 2 and hook_count(model) == before and model.config._attn_implementation == attn
                      and rel_err(plain, after) < 1e-6,
            "errors raised": raised, "hooks before/after": [before, hook_count(model)],
            "attention implementation restored": model.config._attn_implementation == attn, "logits unchanged": rel_err(plain, after) < 1e-6}

def check_probe(model, tok, statements):
    "Last-token states of every layer for built-in statements, and one probe per layer fit on them."
    parts = split_statements(statements)
    t_states, X = timed(lambda: {k: last_token_states(model, tok, statement_prompts(tok, v), batch_size=32, progress=False)
                                 for k, v in parts.items()})
    y = {k: np.array([s["label"] for s in v]) for k, v in parts.items()}
    t_fit, probes = timed(lambda: LayerProbes().fit(X["train"].numpy(), y["train"], X["val"].numpy(), y["val"], progress=False))
    n, d = len(decoder_layers(model)), model.config.hidden_size
    belief = probes.belief(X["test"].numpy())
    return {"passed": X["train"].shape == (n, len(parts["train"]), d) and probes.directions.shape == (n, d)
                      and belief.shape == (n, len(parts["test"])) and bool(np.isfinite(belief).all()),
            "statements": len(statements), "train statements": len(parts["train"]), "states s": t_states,
            "seconds per statement (capture)": t_states / len(statements), "fit s": t_fit,
            "best layer (validation)": probes.best_layer, "note": "random weights: accuracies mean nothing"}

def check_lora(model, tok, n_examples):
    "LoRA steps with `train_lora` (all linear layers, batch 8): finite losses, only adapter weights trainable; then unloaded."
    qs = [q["question"] for q in city_in_country(n_examples).questions]
    records = [{"question": q, "name": "Paris", "result": i % 2 == 0} for i, q in enumerate(qs)]
    examples = sft_examples(tok, records)
    t, (peft_model, losses) = timed(lambda: train_lora(model, tok, examples, epochs=1, batch_size=8))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in peft_model.parameters())
    names_ok = all("lora_" in n for n, p in peft_model.named_parameters() if p.requires_grad)
    peft_model.unload()
    steps = len(losses)
    return {"passed": steps == math.ceil(len(examples) / 8) and all(math.isfinite(l) for l in losses) and names_ok and 0 < trainable < total,
            "examples": len(examples), "steps": steps, "losses": losses, "seconds per step (incl. adapter setup)": t / steps,
            "trainable parameters": trainable, "share trainable": trainable / total}

# ---------------------------------------------------------------- running and reporting

class Run:
    "Runs checks under a time budget and rewrites the JSON after each one."
    def __init__(self, out:Path, budget:float, head:dict):
        self.out, self.budget, self.t0, self.report = out, budget, time.time(), {**head, "checks": {}}

    def left(self) -> float: return self.budget - (time.time() - self.t0)

    def check(self, key:str, fn, reserve:float=0.0):
        "Run `fn()` (a dict with 'passed') as check `key`, unless fewer than `reserve` seconds of the budget are left."
        if self.left() < reserve:
            rec = {"status": "skipped", "why": f"time budget: {self.left():.0f} s left, this part needs about {reserve:.0f} s"}
        else:
            if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()
            t0 = time.time()
            try:
                rec = fn(); rec = {"status": "passed" if rec.pop("passed") else "failed", **rec}
                if rec["status"] == "failed": rec["why"] = "a condition listed in this record did not hold"
            except Exception as e:
                if torch.cuda.is_available(): torch.cuda.empty_cache()
                rec = {"status": "error", "why": f"{type(e).__name__}: {e}"[:600], "traceback": traceback.format_exc()[-3000:]}
            rec["seconds"] = round(time.time() - t0, 3)
            rec["peak GPU GiB"] = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
        self.report["checks"][key] = rec
        print(f"{rec['status']:>8}  {key}  ({rec.get('seconds', 0):.1f} s)" + (f"  {rec['why'][:200]}" if "why" in rec else ""), flush=True)
        self.write()
        return rec

    def write(self):
        checks = self.report["checks"].values()
        self.report.update({"elapsed s": round(time.time() - self.t0, 1),
                            "all passed": all(c["status"] == "passed" for c in checks),
                            "counts": {s: sum(c["status"] == s for c in checks) for s in ("passed", "failed", "error", "skipped")}})
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.report, indent=1, default=str))

def estimate(checks:dict, model:str, batches) -> dict:
    "The whole study's time at the paper's testbed sizes, from one model's measurements (None where a part is missing)."
    g, probe, lora = (checks.get(f"{model} | {c}", {}) for c in ("generation", "probe", "lora"))
    if not all(c.get("status") == "passed" for c in (g, probe, lora)): return {"why": "generation, probe or LoRA did not pass"}
    s = STUDY
    n = s["testbeds"] * s["continuations per testbed"]
    runs = sum(s["generation runs"].values())
    reads = s["probe statements (UTQA train + test)"] + s["probe reads of the testbeds (before and after SFT)"] * n
    steps = s["SFT epochs"] * math.ceil(n / s["SFT batch"])
    p, l = probe["seconds per statement (capture)"], lora["seconds per step (incl. adapter setup)"]
    fit = probe["fit s"] * s["probe train statements"] / probe["train statements"]
    per = {b: g[f"batch {b}"]["seconds per continuation"] for b in batches if f"batch {b}" in g}
    total = {f"batch {b}": n * runs * c + reads * p + fit + steps * l for b, c in per.items()}
    return {"model": model,
            "formula": "seconds = N * R * c_B + P * p + F * 2400 / n_train + S * l, with N = testbeds x continuations per testbed, "
                       "R = the sum of 'generation runs' (each over every continuation prompt), c_B = measured seconds "
                       "per continuation at batch B and 'new tokens' (no early stop: an upper bound), P = probe statements + "
                       "testbed reads x N, p = measured capture seconds per statement, F = measured probe fit seconds on n_train "
                       "statements (scaled linearly), S = SFT epochs x ceil(N / SFT batch), l = measured seconds per LoRA step. "
                       "The judge (a separate, larger model) is not included.",
            "parameters": {**s, "new tokens per continuation": g["new tokens"], "N": n, "R": runs, "P": reads, "S": steps,
                           "c_B": per, "p": p, "F * 2400 / n_train": fit, "l": l},
            "minutes": {k: round(v / 60, 1) for k, v in total.items()}}

def machine(device) -> dict:
    m = {"platform": platform.platform(), "cpu cores": os.cpu_count(), "torch threads": torch.get_num_threads(), "device": str(device)}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        m.update({"gpu": p.name, "gpu GiB": p.total_memory / 2**30, "gpus": torch.cuda.device_count(), "cuda": torch.version.cuda})
    return m

def versions() -> dict:
    import accelerate, peft, sklearn, transformers
    return {m.__name__: m.__version__ for m in (torch, transformers, peft, accelerate, sklearn)}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny random models, float32, on the CPU (seconds)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent/"gpu_check.json"), help="the JSON to write")
    ap.add_argument("--budget-s", type=float, default=420, help="skip the remaining parts once this many seconds are spent")
    ap.add_argument("--device", default=None, help="default: cuda (or cpu with --tiny)")
    args = ap.parse_args(argv)
    if args.tiny: torch.set_num_threads(1)
    device = torch.device(args.device or ("cpu" if args.tiny else "cuda:0"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("No CUDA device is visible: run on a GPU machine, or with --tiny on a CPU.")
    dtype = torch.float32 if args.tiny else torch.bfloat16
    plan = PLAN["tiny" if args.tiny else "gpu"]
    run = Run(Path(args.out), args.budget_s, {
        "what": "the study's machinery on random models of the paper's architectures: checked and timed (see the script's docstring)",
        "mode": "tiny (CPU, float32)" if args.tiny else f"paper-scale configs, random weights, {dtype}",
        "command": "python benchmarks/gpu_check.py" + (" --tiny" if args.tiny else "") + f" --out {args.out}",
        "when": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(device), "versions": versions(), "dtype": str(dtype),
        "budget s": args.budget_s, "plan": plan})
    for arch in ARCHS:
        run.check(f"tiny {arch} | bf16 vs fp32", lambda: check_bf16(arch, device))
        run.check(f"tiny {arch} | device_map", lambda: check_device_map(arch, device))
    statements = builtin_statements()
    statements = [statements[i] for i in np.random.default_rng(0).permutation(len(statements))[:plan["statements"]]]
    for i, arch in enumerate(ARCHS):
        depth = plan["depth"][arch]
        name = f"{arch}{' (tiny)' if args.tiny else ''}{f' ({depth} layers)' if depth else ''}"
        box = {}
        batches = plan["batches"] if i == 0 else plan["batches_reduced"]
        def make():
            t, (m, tok) = timed(lambda: build(arch, args.tiny, device, dtype, depth))
            prompts = continuation_prompts(tok, max(max(batches), 32))
            box.update(model=m, tok=tok, prompts=prompts, directions=directions_for(m, tok, prompts))
            return {"passed": True, "layers": len(decoder_layers(m)), "hidden": m.config.hidden_size,
                    "vocab": m.config.vocab_size, "parameters (billions)": sum(p.numel() for p in m.parameters()) / 1e9,
                    "build s": t, "dtype": str(m.dtype), "device": str(m.device)}
        if run.check(f"{name} | build", make, reserve=0 if i == 0 else 60)["status"] != "passed":
            box.clear(); gc.collect(); continue
        model, tok, prompts, directions = box["model"], box["tok"], box["prompts"], box["directions"]
        run.check(f"{name} | generation", lambda: check_generation(model, tok, prompts, batches, plan["new_tokens"]), reserve=20)
        run.check(f"{name} | capture", lambda: check_capture(model, tok, prompts), reserve=10)
        run.check(f"{name} | steering", lambda: check_steering(model, tok, prompts, directions, plan["new_tokens"]), reserve=15)
        run.check(f"{name} | patching", lambda: check_patching(model, tok, prompts, directions, plan["new_tokens"]), reserve=20)
        run.check(f"{name} | hooks after exception", lambda: check_cleanup(model, tok, prompts, directions), reserve=5)
        run.check(f"{name} | lora", lambda: check_lora(model, tok, plan["lora_examples"]), reserve=20)   # (adapters unloaded after)
        run.check(f"{name} | probe", lambda: check_probe(model, tok, statements), reserve=30)   # last: its fit's time varies most
        if i == 0: run.report["estimate"] = estimate(run.report["checks"], name, batches)
        model = directions = None; box.clear(); gc.collect()
        if torch.cuda.is_available(): torch.cuda.empty_cache()
    run.write()
    est = run.report.get("estimate", {})
    print(f"\nall passed: {run.report['all passed']}  {run.report['counts']}  in {run.report['elapsed s']} s")
    if "minutes" in est: print(f"whole study at the paper's sizes ({est['model']}): {est['minutes']} minutes")
    print(f"wrote {args.out}")
    return run.report

if __name__ == "__main__":
    main()
