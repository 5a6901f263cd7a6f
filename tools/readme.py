"""Write README.md from nbs/index.ipynb, offline (nbdev_readme needs Quarto, which is not installable everywhere).

Cells marked `#| hide` are left out and `#|` directive lines are dropped; the rest is nbconvert's Markdown,
outputs included. `nbdev_readme` gives the same text where Quarto exists."""
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent

def readme_markdown(nb_path=ROOT/"nbs"/"index.ipynb") -> str:
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata["language_info"] = {"name": "python"}  # nbdev_clean strips it; code blocks need it
    cells = []
    for cell in nb.cells:
        lines = cell.source.splitlines()
        if any(l.replace(" ", "").startswith("#|hide") for l in lines): continue
        cell.source = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if cell.source: cells.append(cell)
    nb.cells = cells
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return body.strip() + "\n"

if __name__ == "__main__":
    (ROOT/"README.md").write_text(readme_markdown())
    print(f"wrote {ROOT/'README.md'}")
