"The documentation site: built offline, every page present, not empty, with its figures, and looked at in Chromium."
import re, shutil, subprocess, sys
from pathlib import Path
import nbformat, pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
import build_docs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

def figures(nb_path:Path) -> int:
    "Image outputs a page must show (those of cells that are not hidden)."
    nb = nbformat.read(nb_path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" and "#| hide" not in c.source
               for o in c.outputs)

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    return out, build_docs.build(out)

def test_every_page_built(site):
    out, written = site
    expected = ["index.html"] + [f"{p.stem}.html" for p in sorted((ROOT/"nbs").glob("[0-9][0-9]_*.ipynb"))]
    assert [p.name for p in written] == expected
    for page, nb in zip(written, build_docs.pages(ROOT/"nbs")):
        text = page.read_text()
        words = len(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S)).split())
        assert words > 300, f"{page.name}: only {words} words"
        assert text.count("<img") >= figures(nb), f"{page.name}: {text.count('<img')} images, {figures(nb)} figures in the notebook"
        assert text.count('class="rnb-sidebar"') == 1 and all(f'href="{e}"' in text for e in expected)

@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package 'chromium') is not installed")
def test_pages_render_in_chromium(site):
    from PIL import Image
    out, written = site
    shots = out/"screenshots"; shots.mkdir()
    for page in written:
        png = shots/f"{page.stem}.png"
        subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--hide-scrollbars", f"--screenshot={png}", "--window-size=1280,1600", page.as_uri()],
                       check=True, capture_output=True, timeout=120)
        image = Image.open(png).convert("RGB")
        colours = len(image.resize((320, 400)).getcolors(maxcolors=320 * 400))
        assert image.size == (1280, 1600) and colours > 50, f"{page.name} looks blank ({colours} colours)"
    keep = ROOT/"_docs"/"screenshots"   # kept for a look (ignored by git)
    shutil.copytree(shots, keep, dirs_exist_ok=True)
