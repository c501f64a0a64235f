"""render bounds what filters build (memory) and prints only text and numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from blastic_meta.review.render import (
    MAX_BUILT_ITEMS,
    MAX_ITEMS,
    RenderError,
    RenderLimits,
    render_template,
)

FAST = RenderLimits(timeout=5, max_bytes=10_000_000)
BIG = "{% set s = 'a' * 10000000 %}"  # a text the size limits allow
SRC = Path(__file__).parents[2] / "src"


def refused(template, summary):
    with pytest.raises(RenderError) as exc:
        render_template(template, summary, name="t.md", limits=FAST)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("t.md:1:"), message
    return message


# --- memory ----------------------------------------------------------------------------------

@pytest.mark.parametrize("template", [
    "{{ ('a' * 10000000) | list | length }}",
    BIG + "{{ [s | list, s | list] | map('length') | sum }}",
    BIG + "{{ s | sort | first }}",
    BIG + "{{ s | unique | list | length }}",
    BIG + "{{ s | map('upper') | list | length }}",
    BIG + "{{ s | select | list | length }}",
    BIG + "{{ s | reject('none') | list | length }}",
    BIG + "{{ s | join(',') | length }}",
    BIG + "{{ (s | reverse | list) | length }}",
])
def test_lists_built_by_filters_are_held_to_the_item_limit(summary, template):
    message = refused(template, summary)
    assert f"{MAX_ITEMS:,}" in message and "items" in message


def test_many_lists_within_the_limit_stop_at_the_total_of_one_rendering(summary):
    """Each list is allowed, but together they would fill memory (100,000 x 100,000)."""
    template = ("{% set l = ('a' * 99999) | list %}"
                "{{ ([l] * 100000) | map('list') | map('length') | sum }}")
    message = refused(template, summary)
    assert f"{MAX_BUILT_ITEMS:,}" in message and "in all" in message


def test_many_texts_within_the_limit_stop_at_the_total_of_one_rendering(summary):
    message = refused("{% set s = 'a' * 9999000 %}{% for i in range(10000) %}{% set x = s ~ i %}"
                      "{% endfor %}",
                      summary)
    assert "characters of text in all" in message


def test_ordinary_filter_chains_still_work(summary):
    template = ("{{ range(5) | reverse | join(',') }}; {{ 'cab' | sort | join }}; "
                "{{ 'abc' | reverse }}; {{ [3, 1, 3] | unique | list | length }}; "
                "{{ range(10) | select('odd') | map('abs') | sum }}; "
                "{{ {'b': 1, 'a': 2} | items | list | length }}; "
                f"{{{{ range({MAX_ITEMS // 10}) | list | length }}}}")
    assert render_template(template, summary) == "4,3,2,1,0; abc; cba; 2; 25; 2; 10000"


def test_the_issue_template_stays_small_in_memory_and_exits_one(tmp_path, summary):
    """`[s | list, ...] | map('length') | sum` reached 672 MB (8 copies) before the fix."""
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    copies = ", ".join(["s | list"] * 30)
    (tmp_path / "t.md").write_text(f"\n{BIG}{{{{ [{copies}] | map('length') | sum }}}}\n",
                                   encoding="utf-8")
    # the peak of this process image: VmHWM (Linux) starts afresh at exec, where ru_maxrss
    # keeps the high-water mark of the (large) test process that spawned it
    script = ("import resource, sys\nfrom blastic_meta.cli import main\n"
              "code = main(['render', 't.md', '--evidence', 'none'])\n"
              "try:\n    peak = next(int(x.split()[1]) for x in open('/proc/self/status')"
              " if x.startswith('VmHWM'))\n"
              "except (OSError, StopIteration):\n"
              "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "sys.stderr.write(f'maxrss {peak}\\n')\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(SRC)})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert len(lines) == 2 and lines[0].startswith("blastic-meta render: error: t.md:2: ")
    assert "filter 'list'" in lines[0] and "Traceback" not in done.stderr
    assert int(lines[1].split()[1]) < 300_000  # kilobytes: far from 672 MB


# --- what a template may print ---------------------------------------------------------------

@pytest.mark.parametrize(("template", "hint"), [
    ("{{ vas_1m.keys() }}", "| join(', ')"),
    ("{{ vas_1m.values() }}", "pick one by name"),
    ("{{ vas_1m.items() }}", "loop over it"),
    ("{{ range(3) }}", "loop over it"),
    ("{{ range(3) | map('abs') }}", "| join(', ')"),
    ("{{ [1, 2] | reverse }}", "| join(', ')"),
    ("{{ vas_1m.osteoblastic.get }}", "call it with ()"),
    ("{% macro f() %}x{% endmacro %}{{ f }}", "call it with ()"),
    ("{{ 'a' ~ range(3) }}", "loop over it"),
])
def test_raw_python_objects_are_refused_with_what_to_write(summary, template, hint):
    message = refused(template, summary)
    assert "not text or a number" in message and hint in message
    assert not re.search(r"0x[0-9a-f]{6,}", message)  # no memory address


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ vas_early.osteoblastic }}", "vas_early.osteoblastic | k"),  # side by side, k = 2
    ("{{ vas_1m.osteoblastic }}", "vas_1m.osteoblastic | estimate_ci"),  # pooled
    ("{{ vas_early }}", "vas_early.osteoblastic | k"),
    ("{{ vas_6m }}", "vas_6m.osteolytic | estimate_ci"),  # it has no osteoblastic group
    ("{{ vas_1m }}", "vas_1m.osteoblastic | estimate_ci"),
    ("{{ vas_1m.comparison }}", "vas_1m.comparison.kind"),  # within-study, no reason
    ("{{ qlq_bm22_early }}", "qlq_bm22_early.title"),  # no data at all
])
def test_the_hint_of_a_bare_result_renders_itself(summary, template, expected):
    message = refused(template, summary)
    shown = re.search(r"\{\{ (.+?) \}\}", message).group(1)
    assert shown == expected, message
    assert render_template(f"{{{{ {shown} }}}}", summary)


def test_text_numbers_and_markup_still_print(summary):
    assert render_template("{{ 'a' }} {{ 1 }} {{ 2.5 }} {{ true }} {{ 'x' | upper }}",
                           summary) == "a 1 2.5 True X"
