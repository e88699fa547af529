"""The prompt: rules first, the page last, and a token budget that never cuts the rules or goal."""

from __future__ import annotations

from dataclasses import dataclass, field

from traj.eventlog import Element
from traj.prompt import RULES, HistoryEntry, approx_tokens, build_prompt, render_demonstration


@dataclass
class Page:
    url: str = "http://127.0.0.1/expense/"
    text: str = ""
    elements: list[Element] = field(default_factory=list)


def _page(n_elements: int, text_lines: int) -> Page:
    elements = [
        Element(agent_id=str(i), tag="button", role="button", name=f"Button number {i}")
        for i in range(1, n_elements + 1)
    ]
    text = "\n".join(f"line {i} of the visible page text" for i in range(text_lines))
    return Page(text=text, elements=elements)


def test_order_rules_goal_history_page():
    prompt = build_prompt("Book it", _page(3, 2), [HistoryEntry('{"kind":"CLICK","target":"1","value":null}')])
    text = prompt.text
    assert text.startswith(RULES)
    order = [
        text.index(part)
        for part in (
            "Goal: Book it",
            "Actions so far:\nStep 1: {",
            "URL: ",
            "Elements:\n[1]",
            "Page text:",
            "Next action:",
        )
    ]
    assert order == sorted(order)
    assert not prompt.truncated
    assert prompt.tokens == approx_tokens(text)


def test_errors_reach_the_history():
    entry = HistoryEntry('{"kind":"CLICK","target":"9","value":null}', "error: unknown element 9")
    assert (
        'Step 1: {"kind":"CLICK","target":"9","value":null} -> error: unknown element 9'
        in build_prompt("g", _page(1, 0), [entry]).text
    )


def test_over_budget_cuts_page_text_then_elements_then_old_history_never_the_rules():
    history = [HistoryEntry(f'{{"kind":"CLICK","target":"{i}","value":null}}') for i in range(1, 30)]
    page = _page(200, 400)
    full = build_prompt("Book the cheapest flight", page, history, budget_tokens=1 << 20)
    assert not full.truncated
    for budget in (3000, 1500, 700, 400):
        prompt = build_prompt("Book the cheapest flight", page, history, budget_tokens=budget)
        assert prompt.truncated
        assert prompt.tokens <= budget, (budget, prompt.tokens)
        assert prompt.text.startswith(RULES)
        assert "Goal: Book the cheapest flight" in prompt.text
        assert prompt.text.endswith("Next action:\nStep 30:")  # numbered even when old history is cut
    small = build_prompt("Book the cheapest flight", page, history, budget_tokens=400)
    assert "Page text:" not in small.text
    assert "earlier actions not shown" in small.text
    assert "more elements)" in small.text
    middle = build_prompt("Book the cheapest flight", page, history, budget_tokens=3000)
    assert "Page text:" in middle.text  # page text shrinks before anything else goes
    assert "earlier actions not shown" not in middle.text


def test_element_lines_are_never_cut_midway():
    prompt = build_prompt("g", _page(200, 0), budget_tokens=600)
    for line in prompt.text.split("Elements:\n", 1)[1].split("\nNext action:")[0].splitlines():
        assert line.startswith("[") or line.startswith("... (")
        assert line.endswith('"') or line.endswith("elements)")


def test_the_demonstration_sits_between_rules_and_goal():
    demo = render_demonstration(
        "Book the 9:00 flight", ['{"kind":"CLICK","target":"4","value":null}'], [["Why: cheapest"]]
    )
    text = build_prompt("Book the 10:00 flight", _page(2, 1), demonstration=demo).text
    assert text.index(RULES) < text.index("Demonstration of: Book the 9:00 flight") < text.index("Goal: Book the 10:00")
    assert 'Step 1: {"kind":"CLICK","target":"4","value":null}\n   Why: cheapest' in text


def test_the_budget_counts_with_the_given_tokenizer():
    words = build_prompt("g", _page(50, 50), budget_tokens=300, count_tokens=lambda t: len(t.split()))
    assert len(words.text.split()) <= 300
    assert words.tokens == len(words.text.split())
