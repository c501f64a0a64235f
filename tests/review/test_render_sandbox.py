"""render runs someone else's template: sandboxed, bounded in time and size, one-line errors."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from blastic_meta.review.render import MAX_RANGE, RenderError, RenderLimits, render_template

FAST = RenderLimits(timeout=0.5, max_bytes=1_000_000)


def refused(template, summary, limits=FAST):
    with pytest.raises(RenderError) as exc:
        render_template(template, summary, name="t.md", limits=limits)
    message = str(exc.value)
    assert "\n" not in message and message.startswith("t.md:"), message
    return message


def test_the_shell_command_of_the_issue_never_runs(summary, tmp_path):
    marker = tmp_path / "ran"
    touch = f"'touch {marker}'"
    for template in (f"{{{{ cycler.__init__.__globals__.os.popen({touch}).read() }}}}",
                     f"{{{{ vas_1m.__class__.__init__.__globals__['os'].system({touch}) }}}}",
                     "{{ ''.__class__.__mro__[1].__subclasses__() }}"):
        message = refused(template, summary)
        assert "t.md:1:" in message and "unsafe" in message
    assert not marker.exists()


def test_an_endless_range_is_refused_at_once(summary):
    start = time.monotonic()
    message = refused("{% for x in range(10**12) %}{% endfor %}", summary)
    assert "range()" in message and f"{MAX_RANGE:,}" in message
    assert time.monotonic() - start < 5
    assert render_template(f"{{{{ range({MAX_RANGE}) | list | length }}}}", summary) == \
        str(MAX_RANGE)
    refused(f"{{{{ range({MAX_RANGE + 1}) | length }}}}", summary)


def test_a_busy_loop_stops_at_the_time_limit_and_restores_the_alarm(summary):
    before = (signal.getsignal(signal.SIGALRM), threading.active_count())
    start = time.monotonic()
    message = refused("{% for x in range(10000) %}{% for y in range(10000) %}{% endfor %}"
                      "{% endfor %}", summary)
    assert "time limit" in message and "--timeout" in message
    assert time.monotonic() - start < 5
    assert (signal.getsignal(signal.SIGALRM), threading.active_count()) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_the_time_limit_holds_outside_the_main_thread(summary):
    """No alarm signal there: the clock is checked as output chunks come."""
    errors = []

    def work():
        try:
            render_template("{% for x in range(10000) %}{% for y in range(10000) %}x"
                            "{% endfor %}{% endfor %}", summary, name="t.md",
                            limits=RenderLimits(timeout=0.3, max_bytes=100_000_000))
        except RenderError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert errors and "time limit" in errors[0]


def test_output_past_the_size_limit_stops(summary):
    message = refused("{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}", summary,
                      RenderLimits(timeout=5, max_bytes=100_000))
    assert "100,000 bytes" in message and "--max-bytes" in message
    assert len(render_template("{% for i in range(500) %}{{ 'x' * 200 }}{% endfor %}", summary,
                               limits=RenderLimits(max_bytes=100_000))) == 100_000


@pytest.mark.parametrize(("template", "word"), [
    ("{{ vas_1m.__class__ }}", "unsafe"),
    ("{{ self._TemplateReference__context }}", "unsafe"),
    ("{{ vas_1m.osteoblastic._where }}", "unsafe"),
    ("{{ vas_1m.update({}) }}", "unsafe"),
    ("{{ 'a'.ljust(10**9) }}", "str.ljust"),
    ("{{ '{:>999999999}'.format(1) }}", "str.format"),
    ("{{ (2).to_bytes(10**9, 'big') }}", "int.to_bytes"),
    ("{{ 'x' * 10**12 }}", "limit"),
    ("{{ 10 ** (10 ** 10) }}", "too large"),
    ("{{ (range(10000) | list) * 10000 }}", "limit"),
    ("{{ 'ab'.replace('', 'x' * 900000) }}", "replace"),
    ("{{ range(10000) | join('x' * 1000) }}", "join"),
    ("{% macro f(s, n) %}{{ f(s ~ s, n - 1) if n else s | length }}{% endmacro %}"
     "{{ f('x', 60) }}", "limit"),
    ("{{ 'a' % 3 }}", "'%'"),
    ("{{ 'abc' | center(10**9) }}", "center"),
    ("{{ lipsum(10**6) }}", "lipsum"),
    ("{% include 'other.md' %}", "include"),
    ("{% extends 'base.md' %}", "include"),
    ("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursion"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", "nested"),
])
def test_unsafe_or_unbounded_templates_are_one_line_errors(summary, template, word):
    start = time.monotonic()
    assert word in refused(template, summary)
    assert time.monotonic() - start < 5


def test_ordinary_template_logic_still_works(summary):
    template = ("{% for g in ['osteoblastic'] %}{{ g | upper }}: k = {{ vas_1m[g] | k }}"
                "{% endfor %}; {{ vas_1m.osteoblastic.studies | join(', ') }}; "
                "{% if vas_1m.osteoblastic.k > 2 %}pooled{% endif %}; "
                "{{ vas_1m.osteoblastic.estimate | round(1) }}; {{ 'a' ~ 1 }}; "
                "{{ vas_1m.title.split(' ')[0] }}")
    fit = summary["analyses"]["vas_1m"]["subgroups"]["osteoblastic"]
    assert render_template(template, summary) == (
        f"OSTEOBLASTIC: k = 3; alpha2010, beta2012, gamma2015; pooled; "
        f"{round(fit['estimate'], 1)}; a1; {summary['analyses']['vas_1m']['title'].split()[0]}")
