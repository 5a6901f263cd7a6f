"Every notebook in nbs/ as one pytest case, executed by nbdev's own test runner (cells flagged `slow` skipped)."
import os
from pathlib import Path

import nbdev.test as nbt
import pytest

NBS = Path(__file__).parent.parent/"nbs"
NOTEBOOKS = sorted(p for p in NBS.glob("*.ipynb") if not p.name.startswith(("_", ".")))   # not a failed run kept aside

def test_notebooks_found(): assert {"index.ipynb", "00_models.ipynb", "01_hooks.ipynb"} <= {p.name for p in NOTEBOOKS}

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(notebook, monkeypatch):
    monkeypatch.setenv("RETRACTION_NB_SCALE", os.environ.get("RETRACTION_NB_SCALE", "smoke"))
    ok, seconds = nbt.test_nb(notebook, skip_flags=["slow"])
    assert ok, f"{notebook.name} failed (its traceback is printed above)"
