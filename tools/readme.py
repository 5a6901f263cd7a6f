"""Write README.md from nbs/index.ipynb, offline (nbdev_readme needs Quarto, which is not installable everywhere).

Cells marked `#| hide` are left out, a cell marked `#| echo: false` shows only its Markdown output, and `#|` directive
lines are dropped; the rest is nbconvert's Markdown,
outputs included, with each table output (pandas' HTML) written as a Markdown table. `nbdev_readme` gives the same
text where Quarto exists."""
from html.parser import HTMLParser
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent

class _Rows(HTMLParser):
    "The cells of every row of an HTML table, header rows included, as text."
    def __init__(self):
        super().__init__(); self.rows, self.cell = [], None
    def handle_starttag(self, tag, attrs):
        if tag == "tr": self.rows.append([])
        elif tag in ("td", "th"): self.cell = []
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()).replace("|", "\\|")); self.cell = None
    def handle_data(self, data):
        if self.cell is not None: self.cell.append(data)

def markdown_table(html:str) -> str:
    "A pandas HTML table as a Markdown table (a multi-row header is joined into one row per column)."
    parser = _Rows(); parser.feed(html)
    rows = [r for r in parser.rows if r]
    width = max(map(len, rows))
    rows = [r + [""] * (width - len(r)) for r in rows]
    body_start = next((i for i, r in enumerate(rows) if i and r[0] and any(r[1:])), 1)   # the first row with a label and data
    header = [" ".join(x for x in col if x) for col in zip(*rows[:body_start])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * width] + ["| " + " | ".join(r) + " |" for r in rows[body_start:]]
    return "\n".join(lines)

def readme_markdown(nb_path=ROOT/"nbs"/"index.ipynb") -> str:
    nb = nbformat.read(nb_path, as_version=4)
    nb.metadata["language_info"] = {"name": "python"}  # nbdev_clean strips it; code blocks need it
    cells = []
    for cell in nb.cells:
        lines = cell.source.splitlines()
        directives = {l.replace(" ", "") for l in lines if l.startswith("#|")}
        if any(d.startswith("#|hide") for d in directives): continue
        if "#|echo:false" in directives:   # only the output shows: a Markdown output becomes a Markdown cell of its own
            shown = [o["data"]["text/markdown"] for o in cell.get("outputs", []) if "text/markdown" in o.get("data", {})]
            if shown: cells.append(nbformat.v4.new_markdown_cell("\n".join(shown)))
            continue
        cell.source = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        for out in cell.get("outputs", []):
            html = out.get("data", {}).get("text/html")
            if html and "<table" in html: out["data"] = {"text/markdown": markdown_table(html)}
        if cell.source: cells.append(cell)
    nb.cells = cells
    body, _ = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    return body.strip() + "\n"

if __name__ == "__main__":
    (ROOT/"README.md").write_text(readme_markdown())
    print(f"wrote {ROOT/'README.md'}")
