"""The paper's LLM judge on smollm2-135m (`judge.LLMJudge` through `judge.LocalChat`, two greedy steps per item), over
the same items with the batch size and the chunk size (items per call, between two cache writes) of the judge page
(8 and 32, before) and larger ones, in one run on this machine; the verdicts and raw texts compared with the first
configuration's. Items: testbed records of the full run here with their continuations. Writes
benchmarks/judge_batch.json.

    .venv/bin/python benchmarks/judge_batch.py     # about 6 minutes on 2 CPU cores
"""
import json, time
from pathlib import Path


from retraction_nb.judge import LLMJudge, LocalChat, as_item
from retraction_nb.models import Study, load_model
from retraction_nb.testbed import testbed_records
from generation import machine   # shared by the benchmarks (this folder is on the path)

OUT = Path(__file__).resolve().parent/"judge_batch.json"

def main(n:int=96):
    model, tok = load_model("smollm2-135m")
    records = testbed_records(Study().testbeds("full"), paired=False)
    items = [as_item(r) for r in records[::max(1, len(records) // n)][:n]]
    result = {"machine": machine(),
              "when": time.strftime("%Y-%m-%d %H:%M"), "model": "smollm2-135m (fp32)", "items": len(items), "max_new_tokens": 48,
              "configurations": []}
    first = None
    for batch, chunk in [(8, 32), (32, 32), (32, 96)]:
        judge = LLMJudge(LocalChat(model, tok, batch_size=batch), max_new_tokens=48)
        t0 = time.perf_counter()
        verdicts = [v for i in range(0, len(items), chunk) for v in judge(items[i:i + chunk], progress=False)]
        seconds = time.perf_counter() - t0
        first = first or verdicts
        row = {"batch size": batch, "items per call": chunk, "seconds": round(seconds, 1), "items/s": round(len(items) / seconds, 2),
               "same verdicts as the first": f"{sum(a['retracted'] == b['retracted'] for a, b in zip(first, verdicts))}/{len(items)}",
               "same texts as the first": f"{sum(a['raw'] == b['raw'] for a, b in zip(first, verdicts))}/{len(items)}"}
        result["configurations"].append(row); print(row, flush=True)
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {OUT}")

if __name__ == "__main__":
    main()
