"""The review's bibliography, ``evidence/references.bib`` (the only module importing bibtexparser).

bibtexparser 2.x does not raise on syntax errors or duplicate keys: it puts them in
``library.failed_blocks``. Here every failed block is an error naming ``file:line``, so a
broken entry can never silently drop a study from the review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser
from bibtexparser.model import DuplicateBlockKeyBlock

from .._io import MAX_INPUT_BYTES, FileLimitError, read_limited
from ..errors import StudyRecordError

__all__ = ["Bibliography", "BibliographyError", "load_bibliography", "parse_bibliography"]

_ACCENT = re.compile(r"\\(?:[`'^\"~=.]|[uvHcdbtk](?=[\s{]))\s*")
_COMMAND = re.compile(r"\\[A-Za-z]+\s*")
#: the year at the end of a label ('Acta Radiol 2007', '…, year not reported', '2020b')
_LABEL_YEAR = re.compile(r",?\s*(?:\d{4}[a-z]?|year not reported)$")
#: a bibliography larger than this is refused before reading (2 MB)
MAX_FILE_BYTES = MAX_INPUT_BYTES


class BibliographyError(StudyRecordError):
    """The bibliography cannot be used; ``problems`` holds (line, message) pairs."""

    def __init__(self, path: str, problems: list[tuple[int, str]]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {msg}" for line, msg in problems))


def _plain(text: str) -> str:
    """LaTeX-light text -> plain text for labels ({\\'e} -> e, braces dropped)."""
    text = _ACCENT.sub("", text)
    text = _COMMAND.sub("", text)
    return " ".join(text.replace("{", "").replace("}", "").split())


def _split_authors(value: str) -> list[str]:
    """Split a BibTeX author list on top-level ' and ' (not inside braces)."""
    names, depth, start, i = [], 0, 0, 0
    while i < len(value):
        ch = value[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
        elif depth == 0 and value[i:i + 5].lower() == " and ":
            names.append(value[start:i])
            start = i + 5
            i += 4
        i += 1
    names.append(value[start:])
    return [n.strip() for n in names if n.strip()]


def _surname(name: str) -> str:
    if "," in name:
        return _plain(name.split(",", 1)[0])
    if name.startswith("{") and name.endswith("}"):  # corporate author
        return _plain(name)
    words = _plain(name).split(" ")
    # "First von Last": the surname starts at the first lower-case (von) word, if any
    for i, word in enumerate(words[:-1]):
        if i > 0 and word[:1].islower():
            return " ".join(words[i:])
    return words[-1]


@dataclass(frozen=True)
class Bibliography(Mapping[str, dict[str, str]]):
    """Entries by key: ``bib[key]`` is a dict of (lower-case) field name -> text."""

    path: str
    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> dict[str, str]:
        return self.entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def surnames(self, key: str) -> list[str]:
        """Author surnames of an entry, in order ('others' dropped)."""
        authors = self.entries[key].get("author", "")
        return [s for s in (_surname(n) for n in _split_authors(authors))
                if s and s.lower() != "others"]

    def author_ids(self, key: str) -> list[str]:
        """'surname first-initial' of each author, lower case (for duplicate-cohort checks)."""
        out = []
        for name in _split_authors(self.entries[key].get("author", "")):
            surname = _surname(name)
            if not surname or surname.lower() == "others":
                continue
            given = name.split(",", 1)[1] if "," in name else _plain(name).removesuffix(surname)
            initial = _plain(given).strip()[:1]
            out.append(f"{surname} {initial}".strip().lower())
        return out

    def author_year(self, key: str) -> str:
        """The entry's label (kept under its old name): see ``label``."""
        return self.label(key)

    def label(self, key: str) -> str:
        """How a reader recognises the entry, never its BibTeX key.

        The entry's ``shortlabel`` field when the researcher set one; else 'Tian et al.
        2016', 'Tian and Sun 2016', 'Tian 2016'; without authors, the journal and year
        ('Acta Radiol 2007'), else the opening words of the title. A missing year reads
        'year not reported'. Entries that would share a label get a, b, ... (see
        ``labels``)."""
        return self.labels()[key]

    def _base_label(self, key: str) -> str:
        entry = self.entries[key]
        if entry.get("shortlabel"):
            return _plain(entry["shortlabel"])
        year = _plain(entry.get("year", ""))
        names = _split_authors(entry.get("author", ""))
        surnames = self.surnames(key)
        if surnames:
            truncated = any(n.strip().lower() == "others" for n in names)
            if len(surnames) >= 3 or truncated:
                who = f"{surnames[0]} et al."
            elif len(surnames) == 2:
                who = f"{surnames[0]} and {surnames[1]}"
            else:
                who = surnames[0]
        elif entry.get("journal"):
            who = _plain(entry["journal"])
        elif entry.get("title"):
            words = _plain(entry["title"]).split()
            who = " ".join(words[:5]) + (" …" if len(words) > 5 else "")
        else:
            who = "Unattributed report"
        return f"{who} {year}" if year else f"{who}, year not reported"

    def labels(self) -> dict[str, str]:
        """Every entry's label, made unique with a, b, ... after the year (in key order)."""
        cached = self.__dict__.get("_labels")
        if cached is not None:
            return cached
        base = {key: self._base_label(key) for key in self.entries}
        count: dict[str, int] = {}
        for label in base.values():
            count[label] = count.get(label, 0) + 1
        seen: dict[str, int] = {}
        out = {}
        for key in sorted(base):
            label = base[key]
            if count[label] > 1 and not self.entries[key].get("shortlabel"):
                seen[label] = seen.get(label, 0) + 1
                label = f"{label}{chr(ord('a') + seen[label] - 1)}"
            out[key] = label
        object.__setattr__(self, "_labels", out)
        return out

    def citation_name(self, key: str) -> str | None:
        """What stands in the text for the authors of an entry that has none: its label
        without the year ('Acta Radiol' of 'Acta Radiol 2007'; the ``shortlabel`` when set);
        None when the entry has authors, which citeproc and natbib print themselves.

        Without it, citeproc's author-date styles print '(2019) reported' for an entry with
        neither author nor title, and the whole title for one with a title (CSL 1.0.2,
        ``cs:substitute``)."""
        if self.surnames(key):
            return None
        name = _LABEL_YEAR.sub("", self.label(key)).strip()
        return name or None

    def citation_names(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """``citation_name`` of every entry without authors (of ``keys``, default all), by
        key in sorted order."""
        wanted = sorted(self.entries if keys is None else set(keys) & set(self.entries))
        names = {key: self.citation_name(key) for key in wanted}
        return {key: name for key, name in names.items() if name}

    def to_bibtex(self, keys: Iterable[str]) -> str:
        """The entries of ``keys`` (in that order, each once) as BibTeX text.

        An entry without authors also gets ``key`` (natbib's author-year styles print it
        in place of the authors, and sort by it; without it plainnat prints the first
        three letters of the citation key) and, from its ``shortlabel``, a ``shorttitle``
        (what CSL styles such as APA cite for an entry without authors), unless it has
        them already."""
        out: list[str] = []
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                continue
            if key not in self.raw:
                raise StudyRecordError(f"{self.path}: no bibliography entry {key!r}")
            seen.add(key)
            out.append(self._with_name_fields(key) + "\n")
        return "\n".join(out)

    def _with_name_fields(self, key: str) -> str:
        raw = self.raw[key].strip()
        entry, name = self.entries[key], self.citation_name(key)
        if name is None:
            return raw
        extra = [("key", name)]
        if entry.get("shortlabel"):
            extra.append(("shorttitle", name))
        fields = [f"  {field_} = {{{_bib_text(value)}}}" for field_, value in extra
                  if field_ not in entry]
        if not fields or not raw.endswith("}"):
            return raw
        body = raw[:-1].rstrip()
        return body + ("" if body.endswith(",") else ",") + "\n" + ",\n".join(fields) + "\n}"


def _bib_text(text: str) -> str:
    """Plain text as a braced BibTeX value: braces dropped, LaTeX specials escaped."""
    text = text.replace("{", "").replace("}", "").replace("\\", "")
    return re.sub(r"([%&#_$])", r"\\\1", text).replace("…", "\\ldots{}")


def parse_bibliography(text: str, path: str = "<string>") -> Bibliography:
    """Parse BibTeX text; every failed block or duplicate key raises BibliographyError."""
    library = bibtexparser.parse_string(text)
    problems: list[tuple[int, str]] = []
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            first = (block.previous_block.start_line or 0) + 1
            problems.append((line, f"duplicate key {block.key!r} (first at line {first})"))
        else:
            lines_ = str(block.error or "").strip().splitlines()
            reason = lines_[0] if lines_ else "syntax error"
            problems.append((line, f"entry cannot be parsed: {reason}"))
    entries: dict[str, dict[str, str]] = {}
    types: dict[str, str] = {}
    lines: dict[str, int] = {}
    raw: dict[str, str] = {}
    for entry in library.entries:
        fields: dict[str, str] = {}
        for f in entry.fields:
            name = f.key.lower()
            if name in fields:
                problems.append(((f.start_line or 0) + 1,
                                 f"{entry.key}: field {name!r} given twice"))
            fields[name] = str(f.value)
        entries[entry.key] = fields
        types[entry.key] = entry.entry_type.lower()
        lines[entry.key] = (entry.start_line or 0) + 1
        raw[entry.key] = entry.raw
    if problems:
        raise BibliographyError(path, sorted(problems))
    return Bibliography(path=path, entries=entries, types=types, lines=lines, raw=raw)


def load_bibliography(path: str | Path) -> Bibliography:
    """Read ``references.bib``; raises StudyRecordError (with file:line) on any problem.

    A file over ``MAX_FILE_BYTES`` (or not a regular file) is refused before it is read.
    """
    path = Path(path)
    try:
        text = read_limited(path, MAX_FILE_BYTES, "bibliography").decode("utf-8-sig")
    except FileLimitError as exc:
        raise BibliographyError(str(path), [(1, str(exc.strerror))]) from None
    except OSError as exc:
        raise BibliographyError(str(path), [(1, f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise BibliographyError(str(path), [(1, "not UTF-8 text")]) from None
    return parse_bibliography(text, str(path))
