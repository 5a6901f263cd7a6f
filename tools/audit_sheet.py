"""Make a blinded sheet for auditing the judge on the outputs the study reports.

For each setting (the baseline testbeds; the fine-tuned model's continuations of the SFT test split; and, for each
steering claim the steering stage reproduced, the report half's wrong answers under that setting, under the value
patch from it, and unsteered, the outputs the steering and patching claims compare; each only once its outputs
exist), the continuations the default judge counts as retractions go on the sheet (all of them, or a seeded random
sample of 40 where there are more: a fine-tuned subject retracts most of its wrong answers), and a seeded random
sample of the others (30, or all if fewer). The sheet is
shuffled and shows neither the setting nor the verdict, so whoever labels it labels by the guideline alone. The key
(setting and verdict per sheet id) is written apart; `merge` appends the labelled rows to the audit file. Settings
already in the audit file for the same model or subject are left out of a new sheet, and new ids continue after the
old ones. MODEL is the study's subject as the `retraction_nb` command names it (`smollm2-135m`, `smollm2-135m+sft`).

    python tools/audit_sheet.py make RUN_DIR OUT_DIR [data/audit_labels.jsonl [SEED [MODEL]]]   # sheet.jsonl and key.jsonl in OUT_DIR
    python tools/audit_sheet.py merge OUT_DIR LABELS data/audit_labels.jsonl
"""
import random, sys
from pathlib import Path

from retraction_nb.judge import as_item, default_judge
from retraction_nb.models import Study, model_folder, prepare_tokenizer, render_chat, steering_tag
from retraction_nb.pipeline import audit_label, audit_setting, patch_audit_setting
from retraction_nb.steering import continuation_key
from retraction_nb.store import read_json, read_jsonl, write_jsonl
from retraction_nb.testbed import testbed_records

NON_RETRACTIONS = 30   # sampled per setting
RETRACTIONS = 40       # at most, per setting

def reproduced_settings(study) -> dict:
    "The audit's setting name (`pipeline.audit_setting`, which the findings table matches) -> (finding, (band, alpha, sign)) of each reproduced steering claim on the judged outcome."
    rows = [{**f, "stage": "steer"} for f in read_json(study.stage_findings("steer", "full"), [])]
    return {name: (f, (f["band"], f["alpha"], f["sign"])) for f in rows if f["verdict"] == "reproduced" and (name := audit_setting(f, rows))}

def settings(study:Study) -> dict:
    "Setting name -> judge items, for the outputs of `study` (its run directory and subject) that exist."
    from transformers import AutoTokenizer
    tok = prepare_tokenizer(AutoTokenizer.from_pretrained(model_folder(study.model)))   # the prompts, as cached
    records = testbed_records(study.testbeds("full"))
    out = {"baseline": [as_item(r) for r in records]}
    report = [r for r in testbed_records(study.testbeds("full"), paired=False) if r["split"] == "test" and not r["result"]]
    keys = [continuation_key(render_chat(tok, r["messages"])) for r in report]
    for name, (row, setting) in reproduced_settings(study).items():
        steered = name.removesuffix(", report half's wrong answers")
        for label, path in [(name, study.steering_run(*setting, at="full")),
                            (patch_audit_setting(row), study.dir("patch", "full")/f"{steering_tag(*setting)}_values_all.jsonl"),
                            (f"no steering, report half's wrong answers (beside {steered})", study.steering_run(at="full"))]:
            texts = {r["key"]: r["output"] for r in read_jsonl(path)} if path.exists() else {}   # the stage's cache
            if all(k in texts for k in keys):
                out[label] = [{**as_item(r), "continuation": texts[k]} for r, k in zip(report, keys)]
    sft = study.sft_continuations("full")
    if sft.exists():   # the SFT stage's test prompts, continued by the fine-tuned model
        out["fine-tuned (SFT), test split"] = [{"question": r["question"], "answer": r["answer"], "continuation": r["after"],
                                                "family": ""} for r in read_jsonl(sft)]
    return out

def make(run:str, out_dir:str, audited:str|None=None, seed:int=0, model:str="smollm2-135m"):
    study = Study(model, run=Path(run))
    label = audit_label(study)   # 'smollm2-135m+sft' for the fine-tuned subject
    done = read_jsonl(audited) if audited and Path(audited).exists() else []
    rng, judge, key = random.Random(int(seed)), default_judge(), []
    for name, items in settings(study).items():
        if (label, name) in {(d.get("model"), d["setting"]) for d in done}: continue
        verdicts = judge(items)
        yes = [i for i, v in zip(items, verdicts) if v["retracted"]]
        no = [i for i, v in zip(items, verdicts) if not v["retracted"]]
        picked = [(i, True) for i in rng.sample(yes, min(RETRACTIONS, len(yes)))] + [(i, False) for i in rng.sample(no, min(NON_RETRACTIONS, len(no)))]
        for item, verdict in picked:
            key.append({"model": label, "setting": name, "judged": verdict, "judged of": len(yes) if verdict else len(no), **item})
    rng.shuffle(key)
    for n, k in enumerate(key, len(done)): k["id"] = f"a{n:04d}"
    sheet = [{f: k[f] for f in ("id", "family", "question", "answer", "continuation")} for k in key]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_jsonl(Path(out_dir)/"sheet.jsonl", sheet); write_jsonl(Path(out_dir)/"key.jsonl", key)
    print(f"{len(sheet)} items on the sheet; key in {out_dir}/key.jsonl")

def merge(out_dir:str, labels:str, dest:str):
    key = {k["id"]: k for k in read_jsonl(Path(out_dir)/"key.jsonl")}
    rows = [{**key[l["id"]], "retracted": l["retracted"], "acknowledged": l["acknowledged"], "note": l.get("note", "")}
            for l in read_jsonl(labels)]
    write_jsonl(dest, rows, mode="a")
    print(f"{len(rows)} audited items appended to {dest}")

if __name__ == "__main__":
    {"make": make, "merge": merge}[sys.argv[1]](*sys.argv[2:])
