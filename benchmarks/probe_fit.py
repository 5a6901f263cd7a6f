"""The probe stage's logistic-regression fits with BLAS on the process's threads against one BLAS thread, one run.

The probe stage fits, per layer, one logistic regression per C (0.01, 0.1, 1) on standardised last-token states and
keeps the best on validation. These are small problems (about 1250 x 576), and with NumPy's BLAS on both cores of this
machine (in a process that has loaded torch, as a stage has) they ran many times slower than on one; why, this does
not measure. This times the fits of every layer of the
built-in statements of a full run (their cached states) both ways and checks that they give the same numbers: the
coefficients, the chosen C, the validation accuracy and the test beliefs.

    .venv/bin/python benchmarks/probe_fit.py runs/smollm2-135m   # -> benchmarks/probe_fit.json
"""
import json, platform, sys, time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info
from retraction_nb.models import Study, load_model
from retraction_nb.probe import LayerProbes, builtin_statements, cached_states, one_blas_thread, split_statements, statement_prompts
from retraction_nb.testbed import answer_records, testbed_records

def fit_layers(X, y, Cs=(0.01, 0.1, 1.0)) -> list:
    "Every layer's fits, one per C, as `LayerProbes.fit` makes them (without its thread limit)."
    return [[make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=0)).fit(x, y) for C in Cs] for x in X]

def main(run:str):
    study = Study(run=Path(run))
    model, tok = load_model(study.model)   # torch's threads are set up, as in a stage
    records = testbed_records(study.testbeds("full"))
    exclude = {r["question"] for r in records} | {a["question"] for a in answer_records(study.testbeds("full"), verified=False)}
    rows = builtin_statements(exclude=exclude)   # as the probe stage makes them
    states = cached_states(model, tok, statement_prompts(tok, rows), study.dir("probe", "full")/"built-in.safetensors").numpy()
    index = {(r["question"], r["answer"]): i for i, r in enumerate(rows)}
    split = {k: (states[:, [index[(r["question"], r["answer"])] for r in v]], np.array([r["label"] for r in v]))
             for k, v in split_statements(rows).items()}
    (Xt, yt), (Xv, yv), (Xs, _) = split["train"], split["val"], split["test"]
    out = {"machine": platform.processor() or platform.machine(), "blas pools": [(i["internal_api"], i["num_threads"]) for i in threadpool_info()],
           "statements": {k: len(v[1]) for k, v in split.items()}, "layers": int(states.shape[0]), "fits": 3 * int(states.shape[0])}
    t0 = time.perf_counter(); before = fit_layers(Xt, yt); out["BLAS on the process's threads (before): seconds"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    with one_blas_thread(): after = fit_layers(Xt, yt)
    out["one BLAS thread (after): seconds"] = round(time.perf_counter() - t0, 1)
    out["speed-up"] = round(out["BLAS on the process's threads (before): seconds"] / out["one BLAS thread (after): seconds"], 1)
    out["coefficients, max abs difference"] = float(max(np.abs(a[-1].coef_ - b[-1].coef_).max() for fa, fb in zip(before, after) for a, b in zip(fa, fb)))
    t0 = time.perf_counter(); probes = LayerProbes().fit(Xt, yt, Xv, yv, progress=False); out["LayerProbes.fit (the stage's path): seconds"] = round(time.perf_counter() - t0, 1)
    chosen = [int(np.argmax([f.score(v, yv) for f in fits])) for fits, v in zip(before, Xv)]
    out["chosen C identical (layers)"] = int(sum(probes.Cs[c] == C for c, C in zip(chosen, probes.C)))
    out["test belief, max abs difference"] = float(max(np.abs(fits[c].predict_proba(s)[:, 1] - b).max()
                                                     for fits, c, s, b in zip(before, chosen, Xs, probes.belief(Xs))))
    print(json.dumps(out, indent=1))
    Path(__file__).with_name("probe_fit.json").write_text(json.dumps(out, indent=1) + "\n")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/smollm2-135m")
