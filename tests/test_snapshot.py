"""The DOM snapshotter and locator fingerprints, in real headless Chromium.

One browser for the module; each test gets a fresh page. Pages come from ``set_content`` or,
where iframes need real URLs, from a small HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import importlib.resources
import re
import statistics
from collections.abc import Iterator

import pytest
from conftest import serve_directory

from traj.browser import (
    BrowserSession,
    PageSnapshot,
    launch,
    locators_for,
    resolve_locator,
    snapshot_script,
    take_snapshot,
)
from traj.errors import BrowserError
from traj.eventlog import BoundingBox, Element
from traj.prompt import render_snapshot

SHADOW_WIDGET = """
<script>
customElements.define("fancy-search", class extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({mode: "open"}).innerHTML =
      '<input type="search" placeholder="Search docs"><button>Go</button>';
  }
});
</script>"""

EVERY_KIND = f"""<!doctype html><title>Kinds</title>
<a href="/home">Home link</a>
<a>Anchor without href</a>
<button>Plain button</button>
<input name="q" value="typed">
<input type="hidden" name="csrf" value="x">
<select name="size"><option>S</option><option selected>M</option></select>
<textarea name="notes">Some notes</textarea>
<div contenteditable="true">Editable <b>area</b></div>
<details><summary>Show more</summary><p>Hidden detail</p></details>
<span role="button">Span button</span>
<div role="checkbox" aria-checked="false">Role checkbox</div>
<div onclick="void 0">Onclick attribute</div>
<div id="prop">Onclick property</div>
<div tabindex="0">Focusable div</div>
<div tabindex="-1">Not in tab order</div>
<div>Plain text</div>
<fancy-search></fancy-search>
<iframe id="inner" srcdoc="<button>Framed button</button>"></iframe>
{SHADOW_WIDGET}
<script>document.getElementById("prop").onclick = () => {{}};</script>
"""


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    with launch(headless=True) as session:
        yield session


@pytest.fixture
def page(session: BrowserSession):
    page = session.context.new_page()
    yield page
    page.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    with serve_directory(root, SITE) as url:
        yield url


def by_label(snapshot: PageSnapshot) -> dict[str, Element]:
    """Elements keyed by accessible name, else text, else their ``name`` attribute."""
    return {e.name or e.text or e.attrs.get("name", ""): e for e in snapshot.elements}


# ----------------------------------------------------------------------------- coverage


def test_snapshot_finds_every_kind_of_interactive_element(page):
    page.set_content(EVERY_KIND)
    elements = by_label(take_snapshot(page, screenshot=False))

    expected = {
        "Home link": ("a", "link"),
        "Plain button": ("button", "button"),
        "q": ("input", "textbox"),
        "size": ("select", "combobox"),
        "notes": ("textarea", "textbox"),
        "Editable area": ("div", ""),
        "Show more": ("summary", ""),
        "Span button": ("span", "button"),
        "Role checkbox": ("div", "checkbox"),
        "Onclick attribute": ("div", ""),
        "Onclick property": ("div", ""),
        "Focusable div": ("div", ""),
        "Search docs": ("input", "searchbox"),
        "Go": ("button", "button"),
        "Framed button": ("button", "button"),
    }
    for label, (tag, role) in expected.items():
        assert label in elements, f"{label!r} missing from the snapshot"
        assert (elements[label].tag, elements[label].role) == (tag, role), label
    for absent in ("Anchor without href", "Not in tab order", "Plain text", "Hidden detail"):
        assert absent not in elements
    assert all(element.attrs.get("type") != "hidden" for element in elements.values())
    assert elements["Editable area"].attrs["contenteditable"] == "true"


def test_snapshot_reads_values_and_masks_passwords(page):
    page.set_content(
        """<label>User <input name="user" value="ada"></label>
        <label>Password <input type="password" name="pw" value="hunter2"></label>
        <input type="password" name="empty">
        <label><input type="checkbox" name="keep" checked> Keep me signed in</label>
        <select name="plan" aria-label="Plan"><option value="f">Free</option><option value="p">Pro</option></select>"""
    )
    page.fill("input[name=user]", "ada lovelace")
    page.select_option("select", "p")
    snapshot = take_snapshot(page, screenshot=False)
    fields = {element.attrs.get("name"): element for element in snapshot.elements}

    assert fields["user"].attrs["value"] == "ada lovelace"
    assert fields["pw"].attrs["value"] == "********"
    assert fields["empty"].attrs["value"] == ""
    assert fields["keep"].attrs["checked"] == "true"
    assert fields["plan"].attrs["value"] == "p"
    assert fields["plan"].attrs["selected"] == "Pro"
    assert "hunter2" not in repr(snapshot)
    assert "hunter2" not in render_snapshot(snapshot.elements)


def test_snapshot_carries_url_title_and_visible_text(page):
    page.set_content(
        "<title>Expenses</title><h1>Report</h1><p style='display:none'>secret note</p><button>Add</button>"
    )
    snapshot = take_snapshot(page, screenshot=False)
    assert snapshot.title == "Expenses"
    assert snapshot.url == page.url
    assert "Report" in snapshot.text
    assert "Add" in snapshot.text
    assert "secret note" not in snapshot.text


# ----------------------------------------------------------------------------- visibility


def test_hidden_elements_are_marked_invisible_and_left_out_of_the_prompt(page):
    page.set_content(
        """<button>Shown</button>
        <button style="display:none">Display none</button>
        <button style="visibility:hidden">Visibility hidden</button>
        <button style="opacity:0">Transparent</button>
        <div style="opacity:0"><button>Inside transparent</button></div>
        <button style="width:0;height:0;padding:0;border:0;overflow:hidden">Zero size</button>"""
    )
    snapshot = take_snapshot(page, screenshot=False)
    visibility = {element.text: element.visible for element in snapshot.elements}
    assert visibility == {
        "Shown": True,
        "Display none": False,
        "Visibility hidden": False,
        "Transparent": False,
        "Inside transparent": False,
        "Zero size": False,
    }
    rendered = render_snapshot(snapshot.elements)
    assert rendered.count("\n") == 0
    assert '"Shown"' in rendered


def test_button_under_an_overlay_is_occluded(page):
    page.set_content(
        """<body style="margin:0">
        <button id="covered" style="position:absolute;left:10px;top:10px">Covered</button>
        <button id="free" style="position:absolute;left:10px;top:300px">Free</button>
        <button id="through" style="position:absolute;left:300px;top:10px">Under a click-through layer</button>
        <label id="styled" style="position:absolute;left:10px;top:400px">
          <input type="checkbox" style="position:absolute;opacity:0.01">
          <span style="position:relative">Styled box</span>
        </label>
        <div style="position:fixed;left:0;top:0;width:200px;height:100px;background:#0008">modal backdrop</div>
        <div style="position:fixed;left:250px;top:0;width:400px;height:100px;pointer-events:none"></div>
        <button id="below" style="position:absolute;left:10px;top:3000px">Below the fold</button>
        </body>"""
    )
    occluded = {element.name: element.occluded for element in take_snapshot(page, screenshot=False).elements}
    assert occluded["Covered"] is True
    assert occluded["Free"] is False
    assert occluded["Under a click-through layer"] is False
    assert occluded["Styled box"] is False
    assert occluded["Below the fold"] is False
    assert "occluded" in render_snapshot(take_snapshot(page, screenshot=False).elements).splitlines()[0]


def test_element_in_an_iframe_covered_by_the_parent_page_is_occluded(page):
    page.set_content(
        """<body style="margin:0">
        <iframe style="position:absolute;left:0;top:0;width:400px;height:100px;border:0"
                srcdoc="<body style='margin:0'><button>Left</button>
                        <button style='margin-left:250px'>Right</button>"></iframe>
        <div style="position:fixed;left:0;top:0;width:150px;height:100px;background:#0008"></div>
        </body>"""
    )
    occluded = {e.name: e.occluded for e in take_snapshot(page, screenshot=False).elements}
    assert occluded == {"Left": True, "Right": False}


# ----------------------------------------------------------------------------- agent ids


def test_agent_ids_are_stable_across_snapshots_of_an_unchanged_page(page):
    page.set_content(EVERY_KIND)
    first = take_snapshot(page, screenshot=False)
    second = take_snapshot(page, screenshot=False)
    assert [e.agent_id for e in first.elements] == [e.agent_id for e in second.elements]
    assert len({e.agent_id for e in first.elements}) == len(first.elements)
    assert first.elements == second.elements
    assert not any(e.new for e in first.elements + second.elements)


def test_inserting_an_element_above_others_keeps_their_ids_and_marks_only_it_new(page):
    page.set_content("<main><button>One</button><a href='#'>Two</a><input name='three'></main>")
    before = take_snapshot(page, screenshot=False)
    page.evaluate(
        """() => {
        const b = document.createElement("button");
        b.textContent = "Inserted";
        document.querySelector("main").prepend(b);
    }"""
    )
    after = take_snapshot(page, screenshot=False)

    assert [e.text or e.attrs.get("name") for e in after.elements] == ["Inserted", "One", "Two", "three"]
    old = {e.agent_id: e for e in before.elements}
    for element in after.elements[1:]:
        assert element.agent_id in old
        assert old[element.agent_id].text == element.text
        assert element.new is False
    inserted = after.elements[0]
    assert inserted.agent_id not in old
    assert inserted.new is True
    assert render_snapshot(after.elements).splitlines()[0].startswith(f'*[{inserted.agent_id}] button "Inserted"')

    third = take_snapshot(page, screenshot=False)
    assert not any(e.new for e in third.elements)


def test_a_cloned_element_gets_its_own_id(page):
    page.set_content("<ul><li><button>Row</button></li></ul>")
    first = take_snapshot(page, screenshot=False).elements[0]
    page.evaluate("() => { const li = document.querySelector('li'); li.before(li.cloneNode(true)); }")
    ids = [e.agent_id for e in take_snapshot(page, screenshot=False).elements]
    assert ids[1] == first.agent_id, "the original keeps its id although the clone comes first"
    assert len(set(ids)) == 2
    clone_id = page.evaluate(
        """() => {
        const li = document.querySelector('li:last-child');
        li.after(li.cloneNode(true));
        return window.__traj.agentIdOf(document.querySelector('li:last-child button'));
    }"""
    )
    assert clone_id not in ids


def test_iframe_elements_get_prefixed_ids_and_page_coordinates(page):
    page.set_content(
        """<body style="margin:0">
        <button>Top</button>
        <iframe style="position:absolute;left:100px;top:50px;border:5px solid black;width:300px;height:200px"
                srcdoc="<body style='margin:0'><button style='margin:0'>In frame</button></body>"></iframe>
        </body>"""
    )
    elements = by_label(take_snapshot(page, screenshot=False))
    top, framed = elements["Top"], elements["In frame"]
    assert "-" not in top.agent_id
    assert re.fullmatch(r"f\d+-\d+", framed.agent_id)
    assert framed.bbox is not None
    assert (framed.bbox.x, framed.bbox.y) == (105, 55)
    assert page.evaluate(f"() => window.__traj.elementByAgentId({framed.agent_id!r}).textContent") == "In frame"
    assert resolve_locator(page, "agent_id", framed.agent_id).text_content() == "In frame"
    assert resolve_locator(page, "agent_id", top.agent_id).text_content() == "Top"


def test_init_script_and_late_evaluation_share_one_install(session):
    context = session.browser.new_context()
    try:
        context.add_init_script(script=snapshot_script())
        page = context.new_page()
        page.set_content("<button>A</button><button>B</button>")
        ids = [e.agent_id for e in take_snapshot(page, screenshot=False).elements]
        page.evaluate("() => { window.__first = window.__traj; }")
        page.evaluate(snapshot_script())  # a second install is a no-op
        assert page.evaluate("() => window.__first === window.__traj")
        assert [e.agent_id for e in take_snapshot(page, screenshot=False).elements] == ids
    finally:
        context.close()


# ----------------------------------------------------------------------------- rendering


def make_element(agent_id: str, **fields: object) -> Element:
    fields.setdefault("bbox", BoundingBox(0, 0, 10, 10))
    return Element(agent_id=agent_id, **fields)  # type: ignore[arg-type]


def test_render_snapshot_writes_one_line_per_visible_element():
    elements = [
        make_element("1", tag="a", role="link", name="Home", text="Home", attrs={"href": "/"}),
        make_element(
            "2",
            tag="input",
            role="textbox",
            name="Email",
            attrs={"type": "email", "name": "email", "value": "ada@example.com", "placeholder": "Email"},
            new=True,
        ),
        make_element(
            "3", tag="input", role="checkbox", name="Remember me", attrs={"type": "checkbox", "checked": "false"}
        ),
        make_element("4", tag="button", role="button", name="Hidden", visible=False),
        make_element("5", tag="div", text="Clickable card with a long caption", occluded=True),
        make_element("6", tag="select", role="combobox", name="Plan", attrs={"value": "p", "selected": "Pro plan"}),
        make_element("7", tag="button", role="button", name="Save", attrs={"disabled": "true"}),
        make_element("8", tag="input", role="searchbox", attrs={"type": "search", "name": "q", "value": "shoes"}),
    ]
    assert render_snapshot(elements).splitlines() == [
        '[1] link "Home" href=/',
        '*[2] textbox "Email" type=email value=ada@example.com',
        '[3] checkbox "Remember me" unchecked',
        '[5] div "Clickable card with a long caption" occluded',
        '[6] combobox "Plan" selected="Pro plan"',
        '[7] button "Save" disabled',
        '[8] searchbox name="q" value=shoes',
    ]


def test_render_snapshot_truncates_at_line_boundaries():
    elements = [make_element(str(i), tag="button", role="button", name=f"Button number {i}") for i in range(1, 201)]
    full = render_snapshot(elements, max_chars=100_000).splitlines()
    assert len(full) == 200

    for max_chars in (60, 200, 1000, 3333):
        text = render_snapshot(elements, max_chars=max_chars)
        assert len(text) <= max_chars
        *lines, trailer = text.splitlines()
        assert lines == full[: len(lines)], "lines are whole and in order"
        assert trailer == f"... ({200 - len(lines)} more elements)"

    assert render_snapshot(elements[:1], max_chars=10) == "... (1 more element)"
    assert render_snapshot([]) == ""


# ----------------------------------------------------------------------------- locators

SITE = {
    "form.html": f"""<!doctype html><meta charset="utf-8"><title>Expense report</title>
<style>.icon::before {{ content: "\\2716"; margin-right: 4px; }} .hidden {{ display: none; }}</style>
<nav><a href="/">Home</a> <a href="/reports" title="All reports">Reports</a> <a href="/help">Help</a></nav>
<h1 id="heading">New expense</h1>
<form id="expense" onsubmit="return false">
  <div class="row"><label for="amount">Amount</label> <input id="amount" name="amount" type="number"></div>
  <div class="row"><label>Merchant <input name="merchant" placeholder="e.g. Acme"></label></div>
  <div class="row"><span id="date-label">Date</span>
    <input id="input-8f3a9c2d" type="date" aria-labelledby="date-label"></div>
  <div class="row"><label for="cat">Category</label>
    <select id="cat" name="category"><option>Travel</option><option>Meals</option></select></div>
  <div class="row"><textarea name="note" placeholder="Note" data-testid="note"></textarea></div>
  <fieldset><legend>Paid with</legend>
    <label><input type="radio" name="paid" value="card"> Card</label>
    <label><input type="radio" name="paid" value="cash"> Cash</label></fieldset>
  <label><input type="checkbox" name="receipt"> I have a receipt</label>
  <input type="text" name="dup" aria-label="Duplicate label">
  <input type="text" name="dup2" aria-label="Duplicate label">
  <input id="twin" name="twin-a"><input id="twin" name="twin-b">
  <button type="button" class="icon" aria-label="Remove line"></button>
  <button type="button" class="icon">Clear</button>
  <button type="submit" data-testid="submit"><span>Submit report</span></button>
  <button type="button">Split <span>label</span></button>
  <input type="submit" value="Save draft">
  <button type="button" class="hidden">Hidden action</button>
  <div contenteditable="true" aria-label="Comments"></div>
</form>
<table>
  <tr><td>Taxi</td><td><button>Edit</button></td><td><a href="#" onclick="return false">Delete</a></td></tr>
  <tr><td>Lunch</td><td><button>Edit</button></td><td><a href="#" onclick="return false">Delete</a></td></tr>
</table>
<span role="button" tabindex="0" title="Collapse">−</span>
<div onclick="void 0">Show <b>history</b></div>
<fancy-search></fancy-search>
<fancy-search></fancy-search>
<iframe id="help-frame" src="frame.html" style="width:500px;height:200px"></iframe>
<iframe name="second" src="frame.html" style="width:500px;height:200px"></iframe>
{SHADOW_WIDGET}
""",
    "frame.html": """<!doctype html><meta charset="utf-8"><title>Frame</title>
<label for="q">Question</label><input id="q" name="q"><button>Ask</button>
<iframe name="nested" srcdoc="<button>Deep</button>" style="width:100px;height:50px"></iframe>""",
}


def test_every_locator_resolves_to_exactly_its_element(page, site):
    page.goto(f"{site}/form.html")
    page.wait_for_load_state("load")
    snapshot = take_snapshot(page, screenshot=False)
    assert len(snapshot.elements) >= 30

    checked = 0
    strategies: dict[str, list[tuple[str, str]]] = {}
    for element in snapshot.elements:
        found = locators_for(page, element.agent_id)
        strategies[element.agent_id] = found
        assert found, f"no locator for {element}"
        assert [s for s, _ in found][-1] in ("css", "xpath")
        for strategy, value in found:
            locator = resolve_locator(page, strategy, value)
            assert locator.count() == 1, f"{strategy}={value!r} matches {locator.count()} for {element.name!r}"
            assert locator.get_attribute("data-agent-id") == element.agent_id, f"{strategy}={value!r}"
            checked += 1
    assert checked >= 100

    def locators_of(*, field: str | None = None, **where: str) -> dict[str, str]:
        element = next(
            e
            for e in snapshot.elements
            if all(getattr(e, k) == v for k, v in where.items()) and (field is None or e.attrs.get("name") == field)
        )
        return dict(strategies[element.agent_id])

    amount = locators_of(name="Amount")
    assert amount["role"] == 'spinbutton "Amount"'
    assert amount["label"] == "Amount"
    assert amount["css_id"] == "#amount"
    assert locators_of(name="Merchant")["placeholder"] == "e.g. Acme"
    date = locators_of(name="Date")
    assert date["label"] == "Date"
    assert "css_id" not in date, "generated-looking ids are not used"
    assert locators_of(name="Reports")["title"] == "All reports"
    submit = locators_of(name="Submit report")
    assert submit["test_id"] == "submit"
    assert "text" not in submit, "get_by_text finds the inner <span>, not the button"
    assert locators_of(name="Split label")["text"] == "Split label"
    assert locators_of(name="Save draft")["text"] == "Save draft"
    assert "role" not in locators_of(name="Duplicate label")
    assert "label" not in locators_of(name="Duplicate label")
    assert "css_id" not in locators_of(field="twin-a"), "duplicated ids are not used"
    edit_buttons = [dict(strategies[e.agent_id]) for e in snapshot.elements if e.name == "Edit"]
    assert len(edit_buttons) == 2
    assert all("role" not in found and "text" not in found for found in edit_buttons)
    hidden = locators_of(text="Hidden action")
    assert "role" not in hidden, "get_by_role skips hidden elements"
    shadow_go = [dict(strategies[e.agent_id]) for e in snapshot.elements if e.name == "Go"]
    assert len(shadow_go) == 2
    assert all("xpath" not in found and "css" in found for found in shadow_go)
    deep = locators_of(name="Deep")
    assert " >> " in deep["css"].split(" >>> ")[0], "nested frames chain their selectors"


NAMING_EDGE_CASES = """<!doctype html><meta charset="utf-8">
<style>.after::after{content:" \\2192"} .blk{display:block} .contents{display:contents}</style>
<span id="l1">First</span><span id="l2" hidden>Second</span><input aria-labelledby="l1 l2" name="a">
<label>Size <select name="sz"><option>Small</option><option selected>Large</option></select>
  please <input name="b"></label>
<button><img alt="Trash"> Delete</button>
<a href="#"><svg width="10" height="10"><title>Star icon</title></svg></a>
<button>Visible<span style="display:none"> gone</span></button>
<button>Shown <span aria-hidden="true">*</span></button>
<ul role="none"><li role="none"><a href="#x">In list</a></li></ul>
<button><div>Block</div><div>words</div></button>
<a href="#y">Line<br>break</a>
<input title="Title wins" placeholder="Placeholder" name="c"><input placeholder="Only placeholder" name="d">
<fieldset><legend>Group</legend><button>In group</button></fieldset>
<button>Non&nbsp;breaking</button>
<button>  lots
   of    space </button>
<label for="e">One</label><label for="e">Two</label><input id="e">
<label aria-label="Ignored">Wrapped <input name="f" aria-label="Explicit"></label>
<div role="textbox" contenteditable="true" aria-label="Rich"></div>
<select multiple name="ms"><option>x</option></select>
<input type="range" aria-label="Volume"><input type="number" aria-label="Qty"><input type="color" aria-label="Color">
<input type="file" aria-label="Upload"><input type="image" alt="Go image">
<div role="tablist"><div role="tab" aria-selected="true">Tab A</div><div role="tab">Tab B</div></div>
<div role="listbox"><div role="option">Opt 1</div><div role="option">Opt 2</div></div>
<div role="menu"><div role="menuitem" aria-disabled="true">Cut</div></div>
<x-btn><span slot="label">Slotted</span></x-btn>
<button class="contents"><span>Contents</span></button>
<button>soft&shy;hyphen&#8203;zero</button>
<a href="#z" class="after">Next</a>
<button>Half<span style="visibility:hidden"> invisible</span></button>
<button aria-label="   ">Blank label</button><button aria-labelledby="missing">Missing ref</button>
<input type="checkbox" id="cb"><label for="cb"><span>Check</span> <b>me</b></label>
<button title="Tip"></button>
<div role="button"><h3>Heading inside</h3></div>
<a href="#q"><p>Para</p> <nav>Nav inside</nav></a>
<button role="presentation">Presentational</button>
<div role="switch" aria-checked="true" tabindex="0">Dark mode</div>
<div role="slider" aria-valuenow="3" aria-label="Rating" tabindex="0"></div>
<button><span class="blk">Block span</span>tail</button>
<input type="submit"><input type="reset"><input type="button" value=" ">
<table role="grid"><tr><td role="gridcell"><button>Cell btn</button></td></tr></table>
<details><summary><span>Sum</span>mary</summary></details>
<script>
customElements.define("x-btn", class extends HTMLElement {
  constructor() {
    super();
    this.attachShadow({mode: "open"}).innerHTML = '<button><slot name="label"></slot> ok</button>';
  }
});
</script>"""


def test_locators_agree_with_playwright_on_accessible_name_edge_cases(page):
    page.set_content(NAMING_EDGE_CASES)
    snapshot = take_snapshot(page, screenshot=False)
    names = {}
    for element in snapshot.elements:
        for strategy, value in locators_for(page, element.agent_id):
            locator = resolve_locator(page, strategy, value)
            assert locator.count() == 1, f"{strategy}={value!r}"
            assert locator.get_attribute("data-agent-id") == element.agent_id, f"{strategy}={value!r}"
            if strategy == "role":
                names[value] = element.name
    assert {
        'textbox "First Second"',  # aria-labelledby reads hidden references
        'button "Trash Delete"',  # img alt inside a button
        'link "Star icon"',  # svg <title>
        'button "Visible"',  # display:none text left out
        'button "Block words"',  # block children are separated
        'textbox "One Two"',  # two <label for>
        'textbox "Explicit"',  # aria-label beats the wrapping label
        'button "Slotted ok"',  # slotted light DOM inside a shadow button
        'link "Next \u2192"',  # ::after content
        'button "Blank label"',  # a blank aria-label is ignored
        'button "Submit"',  # input type=submit without a value
        'button "Presentational"',  # role=presentation on a focusable element is ignored
    } <= names.keys()
    assert names['link "Next \u2192"'] == "Next"


def test_role_names_include_css_generated_content_like_playwright(page):
    page.set_content(
        """<style>.icon::before { content: "\\2716  "; } .alt::before { content: "x" / "Close dialog"; }</style>
        <button class="icon">Clear</button><button class="alt"></button>"""
    )
    snapshot = take_snapshot(page, screenshot=False)
    clear = dict(locators_for(page, snapshot.elements[0].agent_id))
    assert clear["role"] == 'button "\u2716 Clear"'
    assert snapshot.elements[0].name == "Clear", "snapshots leave generated glyphs out of names"
    close = dict(locators_for(page, snapshot.elements[1].agent_id))
    assert close["role"] == 'button "Close dialog"'
    for strategy, value in [*clear.items(), *close.items()]:
        assert resolve_locator(page, strategy, value).count() == 1


def test_locators_for_an_unknown_agent_id_is_an_error(page):
    page.set_content("<button>Only</button>")
    take_snapshot(page, screenshot=False)
    with pytest.raises(BrowserError, match="no element with agent id '999'"):
        locators_for(page, "999")


def test_unknown_locator_strategy_is_rejected(page):
    with pytest.raises(ValueError, match="unknown locator strategy"):
        resolve_locator(page, "nearby", "x")


# ----------------------------------------------------------------------------- screenshot, speed


def test_screenshot_is_a_png_of_the_viewport(page):
    page.set_content("<button>Hi</button>")
    shot = take_snapshot(page).screenshot
    assert shot is not None
    assert shot.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(shot[16:20], "big") == page.viewport_size["width"]
    assert take_snapshot(page, screenshot=False).screenshot is None


def test_snapshot_of_two_hundred_elements_is_fast(page):
    rows = "".join(
        f"<tr><td>Item {i}</td><td><button class='btn' title='Edit item {i}'><i></i> Edit</button></td>"
        f"<td><a href='/item/{i}'>View <b>{i}</b></a></td></tr>"
        for i in range(70)
    )
    fields = "".join(f"<div><label for='f{i}'>Field {i}</label><input id='f{i}' name='f{i}'></div>" for i in range(60))
    filler = "".join(f"<section><h3>Part {i}</h3><p>{'words ' * 40}</p></section>" for i in range(80))
    page.set_content(f"<form>{fields}</form><table>{rows}</table>{filler}")
    count = len(take_snapshot(page, screenshot=False).elements)
    assert count == 200
    times = page.evaluate(
        """() => Array.from({length: 15}, () => {
            const start = performance.now();
            window.__traj.snapshot();
            return performance.now() - start;
        })"""
    )
    # ~5 ms on an idle machine; the bound only catches a regression to per-node work.
    assert statistics.median(times) < 40, times


def test_snapshot_script_is_package_data():
    assert importlib.resources.files("traj.browser").joinpath("snapshot.js").read_text() == snapshot_script()
