"""Run the study: execute the notebooks in place at full scale, so that they (and the pages built from them) carry
real results. The notebooks run the way `retraction_nb` runs a stage (`retraction_nb.pipeline.execute_notebook`: a
kernel over local sockets, the export cells left out, progress bars dropped from the saved outputs, since in a static
page a tqdm widget only shows "0%"); a notebook is replaced only when it ran to the end, and a failed run is kept
beside it (`.<name>.running.ipynb`) with the failing cell's traceback.

    python tools/run_notebooks.py                  # every numbered notebook, then index.ipynb
    python tools/run_notebooks.py nbs/02_testbed.ipynb
"""
import sys, time
from pathlib import Path

from retraction_nb.pipeline import execute_notebook

ROOT = Path(__file__).resolve().parent.parent

def run(path:Path, scale:str="full"):
    "Execute `path` at `scale` and write it back with its new outputs (left untouched if a cell fails)."
    t0, report = time.time(), path.with_name(f".{path.stem}.running.ipynb")
    execute_notebook(path, {"RETRACTION_NB_SCALE": scale}, report, desc=path.stem)
    report.replace(path)
    print(f"{path.name}: {time.time() - t0:.0f} s", flush=True)

if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT/"nbs").glob("[0-9]*.ipynb")) + [ROOT/"nbs"/"index.ipynb"]
    for p in paths: run(p.resolve())
