"""Every notebook in nbs/ that is not a stage as one pytest case, executed by nbdev's own test runner (cells flagged `slow`
skipped). The six stage notebooks (testbed to SFT) read what the stage before them wrote, so they run in order as the smoke
chain of `retraction_nb run --scale smoke` (tests/test_chain.py)."""
import os
from pathlib import Path

import nbdev.test as nbt
import pytest

from retraction_nb.pipeline import STAGES

NBS = Path(__file__).parent.parent/"nbs"
ALL = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")))   # not a failed run kept aside
NOTEBOOKS = [p for p in ALL if p.name not in set(STAGES.values())]

def test_notebooks_found():
    assert {"index.ipynb", "00_models.ipynb", "01_hooks.ipynb", "08_pipeline.ipynb"} <= {p.name for p in NOTEBOOKS}
    assert {p.name for p in ALL} - {p.name for p in NOTEBOOKS} == set(STAGES.values())   # every other notebook is a stage

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(notebook, monkeypatch):
    monkeypatch.setenv("RETRACTION_NB_SCALE", os.environ.get("RETRACTION_NB_SCALE", "smoke"))
    ok, seconds = nbt.test_nb(notebook, skip_flags=["slow"])
    assert ok, f"{notebook.name} failed (its traceback is printed above)"
