"""Run the study: execute the notebooks in place at full scale, so that they (and the pages built from them) carry
real results. Progress bars are left out of the saved outputs: in a static page a tqdm widget only shows "0%".

    python tools/run_notebooks.py                  # every numbered notebook, then index.ipynb
    python tools/run_notebooks.py nbs/02_testbed.ipynb
"""
import os, sys, time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

def is_progress_bar(output) -> bool:
    "A tqdm progress widget (or its text twin) in a cell's outputs."
    data = output.get("data", {})
    return "application/vnd.jupyter.widget-view+json" in data and "it/s]" in data.get("text/plain", "")

def run(path:Path, scale:str="full"):
    os.environ["RETRACTION_NB_SCALE"] = scale
    nb = nbformat.read(path, as_version=4)
    t0 = time.time()
    NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code": cell.outputs = [o for o in cell.outputs if not is_progress_bar(o)]
    nbformat.write(nb, path)
    print(f"{path.name}: {time.time() - t0:.0f} s", flush=True)

if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT/"nbs").glob("[0-9]*.ipynb")) + [ROOT/"nbs"/"index.ipynb"]
    for p in paths: run(p.resolve())
