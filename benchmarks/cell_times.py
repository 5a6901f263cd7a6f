"""Where a run's time went: each stage report's cells, slowest first, from the execution times the report records.

Every stage of `retraction_nb run` executes its notebook into `reports/<stage>.ipynb` in the run directory (the
subject's folder for a subject), and each executed cell carries the times its kernel started and finished it. This
reads them, so a performance change can be aimed at the cells that cost the most, and checked there afterwards.

    .venv/bin/python benchmarks/cell_times.py runs/smollm2-135m [--top 5] [--json OUT]

A stage rerun on a run directory reuses its caches, so its cells show what a rerun costs, not a run from empty.
"""
import argparse, json, sys
from datetime import datetime
from pathlib import Path

import nbformat

def _time(stamp:str) -> datetime: return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

def cell_seconds(report:Path) -> list[dict]:
    "One row per executed code cell of a report: its id, first line and seconds, in the notebook's order."
    rows = []
    for cell in nbformat.read(report, as_version=4).cells:
        run = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in run and "shell.execute_reply" in run:
            seconds = (_time(run["shell.execute_reply"]) - _time(run["iopub.execute_input"])).total_seconds()
            rows.append({"cell": cell.get("id"), "first line": cell.source.split("\n")[0][:80], "seconds": round(seconds, 1)})
    return rows

def profile(run_dir:Path) -> dict:
    "{report path relative to the run: its cells' rows}, for every stage report under the run directory."
    reports = sorted(Path(run_dir).rglob("reports/*.ipynb"))
    if not reports: sys.exit(f"no stage reports under {run_dir}: run `retraction_nb run --run-dir {run_dir}` first")
    return {str(r.relative_to(run_dir)): cell_seconds(r) for r in reports}

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--top", type=int, default=5, help="cells shown per report")
    parser.add_argument("--json", type=Path, help="also write every cell's seconds here")
    args = parser.parse_args()
    found = profile(args.run_dir)
    for report, rows in found.items():
        total = sum(r["seconds"] for r in rows)
        print(f"{report}: {total:.0f} s in {len(rows)} cells")
        for r in sorted(rows, key=lambda r: -r["seconds"])[:args.top]:
            print(f"  {r['seconds']:8.1f} s  {r['seconds'] / total if total else 0:4.0%}  {r['cell']}  {r['first line']}")
    if args.json: args.json.write_text(json.dumps(found, indent=1))

if __name__ == "__main__":
    main()
