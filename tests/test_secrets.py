"""Secrets in real Chromium: typed into a password field or marked with ``secrets``, a value is
stored as ``{"secret": NAME}`` and appears nowhere in the store (raw WAL, sealed segments, blobs)
nor in any export; on screen it is masked; replay types it from ``TRAJ_SECRET_<NAME>`` and
refuses with one line, before doing anything, when it is not set.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import mouse_click, serve_directory
from typer.testing import CliRunner

from traj.browser import SecretKeeper, Secrets, launch, record, secret_env_name
from traj.cli import app
from traj.datasets import export_bytes, export_dataset
from traj.errors import SecretMissingError
from traj.eventlog import Secret, Store, export_demos
from traj.projections import load_demo
from traj.replay import replay_demo

PASSWORD = "Tr0ub4dor&3-test"
CODE = "K7QX-29ZZ-41"
OTHER_CODE = "M2PA-77RT-05"  # as long as CODE: a masked field looks the same with either

PAGES = {
    "login.html": """<!doctype html><title>Sign in</title>
<style>input { caret-color: transparent; font: 16px monospace; }</style>
<h1>Sign in</h1>
<form id="login">
  <label for="user">User name</label> <input id="user">
  <label for="pw">Password</label> <input id="pw" type="password" name="password">
  <label for="code">Access code</label> <input id="code"> <output id="count"></output>
  <button>Sign in</button>
</form>
<p id="hello"></p>
<script>
const value = (id) => document.getElementById(id).value;
const hello = document.getElementById("hello");
document.getElementById("code").addEventListener("input", (e) => {  // the page changes while it is typed
  document.getElementById("count").textContent = e.target.value.length + " characters";
});
document.getElementById("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const ok = value("pw") === PASSWORD && /^[A-Z0-9]{4}-[A-Z0-9]{4}-[0-9]{2}$/.test(value("code"));
  hello.textContent = ok ? "Welcome, " + value("user") : "Refused";
});
window.traj = {task: "login", goal: "Sign in", check: () => ({success: hello.textContent === "Welcome, ann"})};
</script>""".replace("PASSWORD", repr(PASSWORD)),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_directory(tmp_path_factory.mktemp("pages"), PAGES) as url:
        yield url


def _sign_in(code: str):
    def demonstrate(page) -> None:
        mouse_click(page, "#user")
        page.keyboard.type("ann", delay=5)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD, delay=5)
        mouse_click(page, "#code")
        page.keyboard.type(code, delay=5)
        page.wait_for_timeout(400)  # the page settles (a screenshot) with the code typed, not yet reported
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.getElementById('hello').textContent !== ''")

    return demonstrate


def _record(store: Store, site: str, code: str = CODE):
    return record(
        store,
        f"{site}/login.html",
        task="login",
        demonstrator=_sign_in(code),
        headless=True,
        secrets={"access_code": code},
    )


def _files_holding(root: Path, *needles: str) -> list[str]:
    """Files under ``root`` whose bytes (and, for Parquet, decoded values) contain a needle."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".parquet":  # zstd pages: look at the values, not the compressed bytes
            data += str(pq.read_table(path).to_pylist()).encode()
        found += [f"{path.relative_to(root)} holds {needle!r}" for needle in needles if needle.encode() in data]
    return found


def test_the_keeper_names_secrets_and_masks_their_values_in_every_form() -> None:
    keeper = SecretKeeper({"api_token": "tok 9/f&8"})
    assert keeper.typed("tok 9/f&8", password=False) == Secret("api_token")  # marked: anywhere
    assert keeper.typed("hello", password=False) == "hello"
    assert keeper.typed("s3cret!", password=True, field="current-password") == Secret("current_password")
    assert keeper.typed("other!", password=True, field="current-password") == Secret("current_password_2")
    assert keeper.typed("s3cret!", password=True, field="") == Secret("current_password")  # same value, same name
    assert keeper.typed("x", password=True, field="9pin") == Secret("password")
    text = 'url ?t=tok+9%2Ff%268 json "tok 9/f&8" quoted tok%209%2Ff%268 and s3cret!'
    assert keeper.scrub(text) == 'url ?t=******** json "********" quoted ******** and ********'
    with pytest.raises(SecretMissingError, match="must be a letter"):
        SecretKeeper({"9 lives": "value"})


def test_a_password_the_goal_states_is_no_secret_of_the_recording() -> None:
    keeper = SecretKeeper(stated='Log in as ann with the password "pa55-w0rd"')
    assert keeper.typed("pa55-w0rd", password=True) == "pa55-w0rd"  # the goal holds it in the clear already
    assert keeper.typed("pa5", password=True) == Secret("password")  # a part of a word is not stated
    assert keeper.typed("PA55-W0RD", password=True) == Secret("password_2")  # nor the same letters in other case


def test_a_stated_password_is_a_goal_variable_typed_without_the_environment(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(secret_env_name("password"), raising=False)
    goal = f"Sign in as ann with the password {PASSWORD}"
    with Store.open(tmp_path / "store") as store:
        demo = record(
            store,
            f"{site}/login.html",
            task="login",
            goal=goal,
            demonstrator=_sign_in(CODE),
            headless=True,
            secrets={"access_code": CODE},
        )
        typed = [e.data.value for e in store.events(stream=demo.stream) if e.type == "action" and e.data.kind == "TYPE"]
        assert typed == ["ann", PASSWORD, Secret("access_code")]
        assert PASSWORD in load_demo(store, demo.demo_id).defaults.values()
        with launch(headless=True) as session:
            result = replay_demo(store, demo.demo_id, session.page, goal=goal, secrets=Secrets({"access_code": CODE}))
        assert result.completed and result.success, result.reason


def test_a_recorded_secret_is_nowhere_in_the_store_nor_in_exports(site: str, tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.open(home) as store:
        demo = _record(store, site)
        assert demo.success
        actions = [e.data for e in store.events(stream=demo.stream) if e.type == "action"]
        typed = [(a.target, a.value) for a in actions if a.kind == "TYPE"]
        assert [value for _, value in typed] == ["ann", Secret("password"), Secret("access_code")]
        assert _files_holding(home, PASSWORD, CODE) == []  # the WAL as written, blobs
        store.compact()
        assert list(home.glob("segments/*.parquet")), "compaction sealed the log into a segment"
        assert _files_holding(home, PASSWORD, CODE) == []

        bundle = tmp_path / "demo.tar.gz"
        export_demos(store, [demo.demo_id], bundle)
        with tarfile.open(bundle) as tar:
            members = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
        sdft = export_dataset(store, "sdft")
        rows = sdft.table.to_pylist()
        for data in (members, export_bytes(sdft, "jsonl"), export_bytes(sdft, "parquet")):
            assert PASSWORD.encode() not in data and CODE.encode() not in data
        assert PASSWORD not in str(pq.read_table(io.BytesIO(export_bytes(sdft, "parquet"))).to_pylist())
    # the training prompt and target show the placeholder where the value was typed
    password_step = next(r for r in rows if '"secret":"password"' in r["completion"][0]["content"])
    assert password_step["completion"][0]["content"] == (
        f'{{"kind":"TYPE","target":"{typed[1][0]}","value":{{"secret":"password"}}}}'
    )
    later = next(r for r in rows if r["step"] == password_step["step"] + 1)
    assert '{"secret":"password"}' in later["prompt"][0]["content"]
    assert '{"secret":"access_code"}' in later["teacher_prompt"][0]["content"]


def test_the_screen_shows_a_marked_secret_masked(site: str, tmp_path: Path) -> None:
    """Screenshots with two different codes typed are identical, so the access code field shows
    dots, not the code (the password field always does): before the Enter that reported it
    (the page settled while the code stood typed) and in the final observation."""
    shots = []
    for code in (CODE, OTHER_CODE):
        with Store.open(tmp_path / code) as store:
            demo = _record(store, site, code)
            events = store.events(stream=demo.stream)
            observations = {e.event_id: e.data for e in events if e.type == "observation"}
            enter = next(e.data for e in events if e.type == "action" and e.data.kind == "PRESS_ENTER")
            final = list(observations.values())[-1]
            assert "12 characters" in observations[enter.observation_id].text
            assert "Welcome, ann" in final.text
            assert {e.attrs.get("value") for e in final.elements if e.name == "Access code"} == {"********"}
            shots.append([store.get_blob(o.screenshot) for o in (observations[enter.observation_id], final)])
    assert shots[0][0] == shots[1][0]
    assert shots[0][1] == shots[1][1]


def test_replay_types_the_secret_from_the_environment_or_refuses_before_starting(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(secret_env_name("password"), raising=False)
    monkeypatch.delenv(secret_env_name("access_code"), raising=False)
    with Store.open(tmp_path / "store") as store:
        demo = _record(store, site)
        with launch(headless=True) as session:
            with pytest.raises(SecretMissingError, match=r"secret 'password' is not set: export TRAJ_SECRET_PASSWORD="):
                replay_demo(store, demo.demo_id, session.page)
            assert session.page.url == "about:blank"  # refused before opening the page
            assert not [e for e in store.events() if e.type == "replay.started"]  # nor recording anything
            monkeypatch.setenv("TRAJ_SECRET_PASSWORD", PASSWORD)
            result = replay_demo(store, demo.demo_id, session.page, secrets=Secrets({"access_code": OTHER_CODE}))
        assert result.completed and result.success, result.reason
        assert _files_holding(tmp_path / "store", PASSWORD, OTHER_CODE) == []


def test_cli_replay_without_the_secret_is_one_line(site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secret_env_name("password"), raising=False)
    home = tmp_path / "store"
    with Store.open(home) as store:
        demo = _record(store, site)
    result = CliRunner().invoke(app, ["replay", demo.demo_id, "--home", str(home), "--headless"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: secret 'password' is not set: export TRAJ_SECRET_PASSWORD=... and run again"
    ]


def test_cli_record_marks_a_secret_from_the_environment(site: str, tmp_path: Path, monkeypatch) -> None:
    script = tmp_path / "sign_in.py"
    script.write_text(
        "def demonstrate(page):\n"
        f"    for selector, text in (('#user', 'ann'), ('#pw', {PASSWORD!r}), ('#code', {CODE!r})):\n"
        "        page.click(selector)\n"
        "        page.keyboard.type(text)\n"
        "    page.keyboard.press('Enter')\n"
        "    page.wait_for_function(\"() => document.getElementById('hello').textContent !== ''\")\n"
    )
    home = tmp_path / "store"
    args = ["record", "--url", f"{site}/login.html", "--task", "login", "--script", str(script), "--headless"]
    args += ["--secret", "access_code", "--home", str(home)]
    monkeypatch.delenv("TRAJ_SECRET_ACCESS_CODE", raising=False)
    refused = CliRunner().invoke(app, args)
    assert (refused.exit_code, refused.output.strip()) == (
        1,
        "error: secret 'access_code' is not set: export TRAJ_SECRET_ACCESS_CODE=... and run again",
    )
    assert not home.exists()  # refused before the store was opened
    monkeypatch.setenv("TRAJ_SECRET_ACCESS_CODE", CODE)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with Store.open(home, readonly=True) as store:
        typed = [e.data.value for e in store.events() if e.type == "action" and e.data.kind == "TYPE"]
    assert typed == ["ann", Secret("password"), Secret("access_code")]
    assert _files_holding(home, PASSWORD, CODE) == []
