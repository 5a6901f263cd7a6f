"""Build the documentation site offline into _docs/: nbdev's processing of the notebooks (hidden cells dropped,
`show_doc` rendered), then nbconvert to HTML, with a sidebar in notebook order. Where Quarto is installed,
`nbdev_docs` builds the full site from the same notebooks; this is the offline stand-in.

    python tools/build_docs.py            # -> _docs/index.html, _docs/00_models.html, ...
"""
import html, re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
CSS = """
<style>
.rnb-sidebar{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;background:#f7f7f9;border-right:1px solid #ddd;
  padding:18px 14px;font:14px/1.5 system-ui,sans-serif;z-index:10}
.rnb-sidebar h2{font-size:16px;margin:0 0 12px}
.rnb-sidebar a{display:block;padding:3px 6px;color:#234;text-decoration:none;border-radius:4px}
.rnb-sidebar a.current{background:#dde6f3;font-weight:600}
body{margin-left:260px !important}
</style>
"""

def pages(nbs:Path) -> list[Path]:
    "The site's notebooks in sidebar order: the index first, then the numbered notebooks."
    numbered = sorted(p for p in nbs.glob("[0-9][0-9]_*.ipynb"))
    return [nbs/"index.ipynb", *numbered] if (nbs/"index.ipynb").exists() else numbered

def title_of(nb) -> str:
    for cell in nb.cells:
        m = re.search(r"^#\s+(.+)$", cell.source, re.M) if cell.cell_type == "markdown" else None
        if m: return m.group(1).strip()
    return "untitled"

def process(nbs:Path, out:Path) -> Path:
    "nbdev's documentation processing of every notebook into `out` (the `_proc` folder of nbdev_docs)."
    from nbdev.config import get_config
    from nbdev.serve import proc_nbs
    proc_nbs(path=str(nbs), n_workers=0, force=True)
    return get_config().config_path/"_proc"

def tidy(nb):
    "What Quarto would do with nbdev's output: no front matter cell, no input for `echo: false`, no `#|` lines."
    front = "\n".join(c.source for c in nb.cells if c.cell_type == "raw")
    def field(key):
        m = re.search(rf"^{key}:\s*(.+?)(?=^[\w-]+:|^---|\Z)", front, re.M | re.S)
        return " ".join(m.group(1).split()).strip("'\"") if m else ""
    nb.cells = [c for c in nb.cells if c.cell_type != "raw"]
    if field("title"):
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"# {field('title')}\n\n> {field('description')}"))
    for cell in nb.cells:
        if cell.cell_type != "code": continue
        if re.search(r"^#\|\s*echo:\s*false", cell.source, re.M): cell.metadata.setdefault("tags", []).append("remove_input")
        cell.source = "\n".join(l for l in cell.source.splitlines() if not l.startswith("#|"))
    return nb

def sidebar(entries:list[tuple], current:str) -> str:
    links = "".join(f'<a href="{href}" class="{"current" if href == current else ""}">{html.escape(t)}</a>' for href, t in entries)
    return f'<nav class="rnb-sidebar"><h2>retraction_nb</h2>{links}</nav>'

def build(out:Path=ROOT/"_docs", nbs:Path=ROOT/"nbs") -> list[Path]:
    "Build the site; return the written pages."
    proc = process(nbs, out)
    out.mkdir(parents=True, exist_ok=True)
    sources = pages(nbs)
    from traitlets.config import Config
    config = Config({"TagRemovePreprocessor": {"enabled": True, "remove_input_tags": ["remove_input"]}})
    exporter = HTMLExporter(config=config, template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.mathjax_url = ""
    entries = [("index.html" if p.stem == "index" else f"{p.stem}.html", title_of(nbformat.read(p, as_version=4))) for p in sources]
    written = []
    for src, (href, title) in zip(sources, entries):
        processed = proc/src.name if (proc/src.name).exists() else src
        nb = tidy(nbformat.read(processed, as_version=4))
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        body = re.sub(r'\{target="_blank"[^}]*\}', "", body)
        body = body.replace("</head>", CSS + "</head>", 1)
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + sidebar(entries, href), body, count=1)
        (out/href).write_text(body, encoding="utf-8")
        written.append(out/href)
    return written

if __name__ == "__main__":
    for page in build(): print(page.relative_to(ROOT))
