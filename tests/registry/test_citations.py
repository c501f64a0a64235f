"""The bibliography: labels, BibTeX output, and no silently dropped entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from blastic_meta.errors import StudyRecordError
from blastic_meta.registry.citations import (
    Bibliography,
    BibliographyError,
    load_bibliography,
    parse_bibliography,
)

DATA = Path(__file__).parent / "data"

BIB = """@article{tian2016,
  author = {Tian, Qing-Hua and Sun, Xiao-Qiang and Lu, Yu-Ying},
  title = {Percutaneous vertebroplasty for painful osteoblastic spinal metastases},
  year = {2016},
}

@article{two2010,
  author = {Ann Smith and Bob van der Berg},
  year = {2010},
}
@article{solo2007, author = {M{\\"u}ller, Karl}, year = 2007}
@article{many2001, author = {Li, A and others}, year = {2001}}
@article{anon1999, title = {No author}, year = {1999}}
@article{nameless, title = {No author}, year = {1998}}
"""


@pytest.fixture
def bib() -> Bibliography:
    return parse_bibliography(BIB, "refs.bib")


def test_keys_and_fields(bib):
    assert list(bib.keys()) == ["tian2016", "two2010", "solo2007", "many2001", "anon1999",
                                "nameless"]
    assert bib["tian2016"]["year"] == "2016"
    assert "tian2016" in bib and "nope" not in bib
    assert len(bib) == 6
    assert bib.lines["two2010"] == 7


@pytest.mark.parametrize(("key", "label"), [
    ("tian2016", "Tian et al. 2016"), ("two2010", "Smith and van der Berg 2010"),
    ("solo2007", "Muller 2007"), ("many2001", "Li et al. 2001"), ("anon1999", "No author 1999"),
    ("nameless", "No author 1998"),
])
def test_author_year(bib, key, label):
    assert bib.author_year(key) == label == bib.label(key)


def test_labels_are_never_keys_and_say_when_the_year_is_missing():
    bib = parse_bibliography(
        "@article{k_one, journal = {Acta Radiol}, year = {2007}}\n"
        "@article{k_two, journal = {Acta Radiol}, year = {2007}}\n"
        "@article{k_three, title = {Kyphoplasty in the treatment of osteolytic fractures}}\n"
        "@article{k_four, doi = {10.1/x}, year = {2019}}\n"
        "@article{k_five, shortlabel = {My series 2019}, doi = {10.1/y}}\n"
        "@article{k_six, author = {Dudeney, S. and Lieberman, I. H. and Hussein, M.}}\n")
    labels = bib.labels()
    assert labels["k_one"] == "Acta Radiol 2007a" and labels["k_two"] == "Acta Radiol 2007b"
    assert labels["k_three"] == "Kyphoplasty in the treatment of …, year not reported"
    assert labels["k_four"] == "Unattributed report 2019"
    assert labels["k_five"] == "My series 2019"
    assert labels["k_six"] == "Dudeney et al., year not reported"
    assert not any(key in label for key, label in labels.items())
    assert not any("n.d." in label for label in labels.values())


def test_author_ids(bib):
    assert bib.author_ids("tian2016") == ["tian q", "sun x", "lu y"]
    assert bib.surnames("many2001") == ["Li"]


def test_to_bibtex_in_given_order_once(bib):
    text = bib.to_bibtex(["solo2007", "tian2016", "solo2007"])
    assert text.index("@article{solo2007") < text.index("@article{tian2016")
    assert text.count("@article{solo2007") == 1
    back = parse_bibliography(text)
    assert list(back.keys()) == ["solo2007", "tian2016"]
    assert back["tian2016"] == bib["tian2016"]
    with pytest.raises(StudyRecordError):
        bib.to_bibtex(["missing2000"])


def test_duplicate_keys_are_errors_with_lines():
    text = "@article{a2000, year={2000}}\n\n@article{a2000, year={2001}}\n"
    with pytest.raises(BibliographyError) as exc:
        parse_bibliography(text, "refs.bib")
    assert exc.value.problems == [(3, "duplicate key 'a2000' (first at line 1)")]
    assert str(exc.value) == "refs.bib:3: duplicate key 'a2000' (first at line 1)"


def test_parse_failure_is_an_error():
    text = "@article{ok2000, year={2000}}\n@article{bad, title = {unclosed\n@misc{c, title={x}}\n"
    with pytest.raises(BibliographyError) as exc:
        parse_bibliography(text, "refs.bib")
    (line, message), *_ = exc.value.problems
    assert line == 2 and "cannot be parsed" in message


def test_load_errors(tmp_path):
    with pytest.raises(StudyRecordError):
        load_bibliography(tmp_path / "missing.bib")
    bad = tmp_path / "bad.bib"
    bad.write_bytes(b"@article{x, title={\xff}}")
    with pytest.raises(StudyRecordError):
        load_bibliography(bad)


def test_fixture_bibliography_loads():
    bib = load_bibliography(DATA / "references.bib")
    assert bib.author_year("fixture2020") == "Doe et al. 2020"


def test_shipped_bibliography_loads(repo_root):
    path = repo_root / "evidence" / "references.bib"
    if not path.exists():
        pytest.skip("no shipped bibliography yet")
    bib = load_bibliography(path)
    assert len(bib) > 0


AUTHORLESS = (
    "@article{acta2007, title = {Balloon kyphoplasty for pathological fractures}, "
    "journal = {Acta Radiol}, year = {2007}}\n"
    "@article{series2019, shortlabel = {PVP series with posterior-wall defect, 2019}, "
    "year = {2019}}\n"
    "@article{keyed2010, journal = {Radiology}, year = {2010}, key = {Saliou}}\n"
    "@article{untitled, title = {Kyphoplasty in the treatment of osteolytic fractures}}\n"
    "@article{tian2016, author = {Tian, Q. and Sun, X. and Lu, Y.}, year = {2016}}\n")


def test_an_entry_without_authors_is_named_by_its_label_without_the_year():
    """The name stands in the text where citeproc and natbib would print the authors."""
    bib = parse_bibliography(AUTHORLESS)
    assert bib.citation_name("acta2007") == "Acta Radiol"
    assert bib.citation_name("series2019") == "PVP series with posterior-wall defect"
    assert bib.citation_name("untitled") == "Kyphoplasty in the treatment of …"
    assert bib.citation_name("tian2016") is None  # authors: citeproc names them
    assert bib.citation_names() == {
        "acta2007": "Acta Radiol", "keyed2010": "Radiology",
        "series2019": "PVP series with posterior-wall defect",
        "untitled": "Kyphoplasty in the treatment of …"}
    assert bib.citation_names(["tian2016", "acta2007", "nosuch"]) == {"acta2007": "Acta Radiol"}


def test_to_bibtex_gives_an_entry_without_authors_a_key_and_a_shorttitle():
    """natbib prints ``key`` for a missing author; CSL styles cite ``shorttitle``."""
    bib = parse_bibliography(AUTHORLESS)
    back = parse_bibliography(bib.to_bibtex(list(bib)))
    assert back["acta2007"]["key"] == "Acta Radiol" and "shorttitle" not in back["acta2007"]
    assert back["series2019"]["key"] == back["series2019"]["shorttitle"] == \
        "PVP series with posterior-wall defect"
    assert back["keyed2010"]["key"] == "Saliou"  # the researcher's own key is kept
    assert back["untitled"]["key"] == "Kyphoplasty in the treatment of \\ldots{}"
    assert back["tian2016"] == bib["tian2016"]  # an entry with authors is copied as it is
    added = ("key", "shorttitle")
    for key in bib:
        assert {k: v for k, v in back[key].items() if k not in added} \
            == {k: v for k, v in bib[key].items() if k not in added}
