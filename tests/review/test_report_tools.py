"""The report as a reader opens it: report.html in headless Chromium, estimates.md through pandoc.

Both programs are Debian packages that ``.ci/run`` installs. Locally a missing program skips
its tests with a one-line reason; under ``CI=true`` a missing program is a failure, so the
checks cannot silently stop running where they matter.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--enable-logging=stderr", "--v=1", "--window-size=1280,2400")


def _program(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    reason = f"{names[0]} is not installed (apt-get install {names[0]})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run this test")
    pytest.skip(reason)


def _chromium(page: Path, tmp_path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Load ``page``; return the screenshot's pixels, console messages and files loaded."""
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [_program("chromium", "chromium-browser", "google-chrome"), *CHROMIUM_FLAGS,
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    console = re.findall(r":CONSOLE[^\]]*\] (.*)", run.stderr)
    loaded = re.findall(r"FileURLLoader::Start: (\S+)", run.stderr)
    return mpimg.imread(shot), console, loaded


def _not_blank(pixels: np.ndarray) -> bool:
    rgb = pixels[..., :3]
    ink = np.any(np.abs(rgb - rgb[0, 0]) > 0.1, axis=-1)
    return 0.01 < ink.mean() < 0.9


def test_the_checks_see_a_broken_page(tmp_path):
    """The console and resource checks below catch what they claim to catch."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFunction();</script>"
                   "<img src='missing.png'></body></html>", encoding="utf-8")
    pixels, console, loaded = _chromium(bad, tmp_path)
    assert any("undefinedFunction" in line for line in console)
    assert any(url.endswith("missing.png") for url in loaded)
    assert not _not_blank(pixels)


def test_report_html_renders_in_chromium(built, tmp_path):
    page = built[2] / "report.html"
    pixels, console, loaded = _chromium(page, tmp_path)
    assert console == [], console
    assert set(loaded) <= {page.as_uri()}, "report.html loads other files"
    assert _not_blank(pixels), "the screenshot is blank"


def _pandoc(built: Path, to: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_program("pandoc"), "--citeproc", "--bibliography", str(built / "references.bib"),
         "--from", "markdown", "--to", to, "--output", str(dest), str(built / "estimates.md")],
        capture_output=True, text=True, timeout=120, check=False)


def test_estimates_convert_with_every_citation_resolved(built, tmp_path):
    out = built[2]
    keys = set(re.findall(r"@([A-Za-z0-9_:-]+)", (out / "estimates.md").read_text("utf-8")))
    assert keys, "estimates.md cites nothing"
    html_run = _pandoc(out, "html", tmp_path / "estimates.html")
    assert html_run.returncode == 0, html_run.stderr
    assert "not found" not in html_run.stderr and "WARNING" not in html_run.stderr, \
        html_run.stderr
    html = (tmp_path / "estimates.html").read_text(encoding="utf-8")
    assert "?**" not in html and "???" not in html
    assert html.count('class="csl-entry"') == len(keys)
    # an author-year style names the authors once: never "Chew et al. (Chew et al. 2011)"
    assert not re.search(r"([A-Z][a-z]+) et al\.? \(\1", html)
    docx_run = _pandoc(out, "docx", tmp_path / "estimates.docx")
    assert docx_run.returncode == 0 and "WARNING" not in docx_run.stderr, docx_run.stderr
    with zipfile.ZipFile(tmp_path / "estimates.docx") as docx:
        body = docx.read("word/document.xml").decode("utf-8")
    assert "???" not in body and "@" not in re.sub(r"<[^>]+>", "", body)


def test_an_unresolved_citation_is_seen(built, tmp_path):
    """The pandoc check fails on a key that the bibliography lacks."""
    copy = tmp_path / "copy"
    shutil.copytree(built[2], copy)
    md = copy / "estimates.md"
    md.write_text(md.read_text("utf-8") + "\nSee [@nosuchkey2099].\n", encoding="utf-8")
    run = _pandoc(copy, "html", tmp_path / "x.html")
    assert "nosuchkey2099" in run.stderr


# an author slot citeproc left empty: "34.8% in (2015)", "(2019) reported", "2003; 2019;"
EMPTY_AUTHOR = re.compile(r"\bin \(\d{4}[a-z]?\)|(?:^|, )\(\d{4}[a-z]?\) reported"
                          r"|; (?:\d{4}[a-z]?|n\.d\.)[;)]|\((?:\d{4}[a-z]?|n\.d\.)[;]",
                          re.MULTILINE)


def _plain(md: Path, bib: Path) -> str:
    """The text citeproc makes of ``md`` (author-date, no reference list), one line a
    paragraph."""
    run = subprocess.run(
        [_program("pandoc"), "--citeproc", "--bibliography", str(bib), "--metadata",
         "suppress-bibliography=true", "--from", "markdown", "--to", "plain", "--wrap=none",
         str(md)], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and "WARNING" not in run.stderr, run.stderr
    return run.stdout


AUTHORLESS_BIB = (
    "@article{acta2007, title = {Balloon kyphoplasty for the treatment of pathological "
    "fractures in the thoracic and lumbar spine caused by metastasis}, journal = {Acta "
    "Radiol}, year = {2007}}\n"
    "@article{series2019, shortlabel = {PVP series with posterior-wall defect, 2019}, "
    "year = {2019}}\n"
    "@article{fourney2003, author = {Fourney, D. R. and Schomer, D. F. and Nader, R.}, "
    "title = {Percutaneous vertebroplasty}, year = {2003}}\n")


def _authorless_text(names: dict[str, str]) -> str:
    from blastic_meta.review import prose

    style = prose.markdown_style(names)
    leak = {"outcome": "leakage", "unit": "patient"}
    single = {"k": 1, "patients": 106, "status": "single study", "scale": "proportion",
              "studies": ["series2019"], "events": 0, "total": 106,
              "per_study": [{"study": "series2019", "estimate": 0.0, "ci_low": 0.0,
                             "ci_high": 0.034}]}
    side = {"k": 2, "patients": 80, "status": "side by side", "scale": "proportion",
            "studies": ["acta2007", "fourney2003"],
            "per_study": [{"study": "acta2007", "estimate": 0.125, "ci_low": 0.05,
                           "ci_high": 0.24},
                          {"study": "fourney2003", "estimate": 0.2, "ci_low": 0.1,
                           "ci_high": 0.3}]}
    return "\n\n".join([
        prose.subgroup_sentence("unspecified", single, leak, style, {}),
        prose.subgroup_sentence("osteolytic", side, leak, style, {}),
        "Pooled " + style.cite(["fourney2003", "series2019", "acta2007"]) + "."]) + "\n"


def test_a_study_without_authors_keeps_its_name_through_citeproc(tmp_path):
    """The name in the text and a year citation: 'Acta Radiol (2007)', never '(2019)
    reported', 'in (2007)', '2003; 2019;' or the whole title."""
    from blastic_meta.registry.citations import parse_bibliography

    bib = parse_bibliography(AUTHORLESS_BIB)
    (tmp_path / "refs.bib").write_text(bib.to_bibtex(list(bib)), encoding="utf-8")
    for named in (True, False):
        md = tmp_path / f"t{named}.md"
        md.write_text(_authorless_text(bib.citation_names() if named else {}), "utf-8")
        plain = _plain(md, tmp_path / "refs.bib")
        if not named:  # the check sees what the names prevent
            assert EMPTY_AUTHOR.search(plain) and "“Balloon" in plain, plain
            continue
        assert not EMPTY_AUTHOR.search(plain), plain
        assert "“" not in plain, plain
        assert "PVP series with posterior-wall defect (2019) reported" in plain
        assert "12.5% in Acta Radiol (2007)" in plain
        assert ("(Fourney, Schomer, and Nader 2003; PVP series with posterior-wall defect "
                "2019; Acta Radiol 2007)") in plain


def test_the_shipped_estimates_have_no_empty_author_slot(built):
    plain = _plain(built[2] / "estimates.md", built[2] / "references.bib")
    assert not EMPTY_AUTHOR.search(plain), EMPTY_AUTHOR.findall(plain)
    assert "“" not in plain  # no title stands in for an author
