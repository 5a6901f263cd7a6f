"""Make a blinded sheet for auditing the judge on the outputs the study reports.

For each setting (a JSONL file of continuation records, or of steered/patched/fine-tuned continuations read back onto
the testbed records), every continuation the default judge counts as a retraction goes on the sheet, and a seeded
random sample of the others (30, or all if fewer). The sheet is shuffled and shows neither the setting nor the
verdict, so whoever labels it labels by the guideline alone. The key (setting and verdict per sheet id) is written
apart; `merge` joins the labels back.

    python tools/audit_sheet.py make RUN_DIR OUT_DIR           # sheet.jsonl and key.jsonl in OUT_DIR
    python tools/audit_sheet.py merge OUT_DIR LABELS data/audit_labels.jsonl
"""
import random, sys
from pathlib import Path

from retraction_nb.judge import as_item, default_judge, testbed_records
from retraction_nb.testbed import read_jsonl, write_jsonl

NON_RETRACTIONS = 30   # sampled per setting

def settings(run:Path) -> dict:
    "Setting name -> judge items, for the outputs of `run` that exist."
    records = testbed_records(run)
    out = {"baseline": [as_item(r) for r in records]}
    steered = {"steering towards false (layers 14-19, alpha 4)": "b14-19_a4.0_s-1.jsonl",
               "steering towards true (layers 8-13, alpha 8)": "b8-13_a8.0_s+1.jsonl"}
    for name, file in steered.items():
        path = run/"steering"/file
        if path.exists():   # the steering cache, keyed as `steering.continuations_under` keys it
            texts = {r["key"]: r["output"] for r in read_jsonl(path)}
            keys = [f"{i}:{r['question']}|{r['name']}" for i, r in enumerate(records)]
            if all(k in texts for k in keys):
                out[name] = [{**as_item(r), "continuation": texts[k]} for r, k in zip(records, keys)]
    sft = run/"sft"/"continuations.jsonl"
    if sft.exists():   # the SFT stage's test prompts, continued by the fine-tuned model
        out["fine-tuned (SFT), test split"] = [{"question": r["question"], "answer": r["answer"], "continuation": r["after"],
                                                "family": ""} for r in read_jsonl(sft)]
    return out

def make(run:str, out_dir:str, seed:int=0):
    rng, judge, sheet, key = random.Random(seed), default_judge(), [], []
    for name, items in settings(Path(run)).items():
        verdicts = judge(items)
        yes = [i for i, v in zip(items, verdicts) if v["retracted"]]
        no = [i for i, v in zip(items, verdicts) if not v["retracted"]]
        picked = [(i, True) for i in yes] + [(i, False) for i in rng.sample(no, min(NON_RETRACTIONS, len(no)))]
        for item, verdict in picked:
            key.append({"setting": name, "judged": verdict, "judged of": len(yes) if verdict else len(no), **item})
    rng.shuffle(key)
    for n, k in enumerate(key): k["id"] = f"a{n:04d}"
    sheet = [{f: k[f] for f in ("id", "family", "question", "answer", "continuation")} for k in key]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_jsonl(Path(out_dir)/"sheet.jsonl", sheet); write_jsonl(Path(out_dir)/"key.jsonl", key)
    print(f"{len(sheet)} items on the sheet; key in {out_dir}/key.jsonl")

def merge(out_dir:str, labels:str, dest:str):
    key = {k["id"]: k for k in read_jsonl(Path(out_dir)/"key.jsonl")}
    rows = [{**key[l["id"]], "retracted": l["retracted"], "acknowledged": l["acknowledged"], "note": l.get("note", "")}
            for l in read_jsonl(labels)]
    write_jsonl(dest, rows)
    print(f"{len(rows)} audited items -> {dest}")

if __name__ == "__main__":
    {"make": make, "merge": merge}[sys.argv[1]](*sys.argv[2:])
