"""Enum values and ids in words wherever people read them; CSV keeps the ids."""

from __future__ import annotations

import math

import pandas as pd

from blastic_meta.formatting import words
from blastic_meta.review.comparison import PROCEDURE_WORDS
from blastic_meta.review.tables import INPUT_WORDS, TABLE_WORDS, write_table


def test_words_reads_an_id_as_words():
    assert words("retrospective_case_series") == "retrospective case series"
    assert words("quality_of_life") == "quality of life"
    assert words("pvp_only") == "PVP only" and words("mixed_as_osteoblastic") == \
        "mixed as osteoblastic"
    assert words("osteoblastic") == "osteoblastic" and words("PKP") == "PKP"
    assert words("cement_augmentation_rfa", PROCEDURE_WORDS) == "RFA with cement"
    assert words(None) == "" and words(math.nan) == ""


def test_markdown_tables_use_words_and_csv_keeps_ids(tmp_path):
    frame = pd.DataFrame({
        "study": ["obPKP31_unk", "tian2016"], "design": ["retrospective_case_series", None],
        "procedure": ["mesh_container", "PVP"], "lesion_type": ["osteoblastic", "mixed"],
        "reason": ["a_le3 kept as written", ""]})
    csv, md = write_table(frame, tmp_path, "t", "T", words=INPUT_WORDS)
    text = md.read_text(encoding="utf-8")
    assert "| retrospective case series |" in text and "| mesh-container device |" in text
    assert "retrospective_case_series" not in text and "mesh_container" not in text
    assert "| obPKP31_unk |" in text and "a_le3 kept as written" in text  # ids, free text
    back = pd.read_csv(csv)
    assert list(back["design"].fillna("")) == ["retrospective_case_series", ""]
    assert list(back["procedure"]) == ["mesh_container", "PVP"]


def test_sensitivity_scenarios_in_words_in_the_markdown(tmp_path):
    frame = pd.DataFrame({"analysis": ["vas_3m", "vas_3m"],
                          "scenario": ["main analysis", "mixed_as_osteoblastic"],
                          "description": ["as pre-specified", "mixed series pooled"]})
    csv, md = write_table(frame, tmp_path, "sensitivity", words=TABLE_WORDS["sensitivity"])
    text = md.read_text(encoding="utf-8")
    assert "| mixed as osteoblastic |" in text and "mixed_as_osteoblastic" not in text
    assert "| vas_3m |" in text  # the analysis id names its section in estimates.md
    assert "mixed_as_osteoblastic" in csv.read_text(encoding="utf-8")
