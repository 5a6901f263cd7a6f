"""Would reusing the KV cache of the shared few-shot prefix pay for verification prompts? Measures the shared share of
the prompt tokens and the prefill share of the generation time; their product bounds the saving."""
import time, torch
from retraction_nb.models import load_model, generate
from retraction_nb.testbed import capital, _verification_prompt
model, tok = load_model()
fam = capital(None)
qs = [f"Which country is {c} the capital of?" for c in ["Paris","Lima","Oslo","Cairo","Hanoi","Quito","Rome","Bern"]*4]
prompts = [_verification_prompt(tok, fam, q) for q in qs]
ids = [tok(p, add_special_tokens=False).input_ids for p in prompts]
shared = 0
while all(len(x) > shared and x[shared] == ids[0][shared] for x in ids): shared += 1
mean_len = sum(map(len, ids)) / len(ids)
print(f"prompt tokens {mean_len:.1f}, shared prefix {shared} ({shared/mean_len:.0%})")
generate(model, tok, prompts[:4], max_new_tokens=24, progress=False)
t0 = time.time(); outs = generate(model, tok, prompts, max_new_tokens=24, batch_size=32, progress=False); total = time.time() - t0
enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
with torch.inference_mode():
    t0 = time.time(); model(**enc); prefill = time.time() - t0
print(f"generate {total:.2f} s, prefill alone {prefill:.2f} s ({prefill/total:.0%}); generated tokens per row ~{sum(len(tok(o).input_ids) for o in outs)/len(outs):.1f}")
print(f"upper bound on the saving from reusing the shared prefix's KV cache: {prefill/total*shared/mean_len:.0%} of verification time")
