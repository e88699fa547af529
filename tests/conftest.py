"""Shared fixtures: a store in a temporary directory and realistic demonstration events."""

from __future__ import annotations

import contextlib
import functools
import http.server
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from traj.browser import launch
from traj.eventlog import (
    Action,
    BoundingBox,
    DemoFinished,
    DemoStarted,
    Element,
    NewEvent,
    Observation,
    Store,
)
from traj.sites import SiteServer, serve_sites

_WORDS = (
    "sign",
    "in",
    "email",
    "password",
    "submit",
    "search",
    "results",
    "cart",
    "checkout",
    "continue",
    "next",
    "page",
    "order",
    "total",
    "shipping",
    "address",
    "city",
    "street",
    "name",
    "phone",
    "remember",
    "me",
    "forgot",
    "account",
    "settings",
    "profile",
    "logout",
    "help",
    "contact",
    "price",
    "quantity",
    "add",
    "remove",
    "update",
    "save",
    "cancel",
)


class EventFactory:
    """Builds the events a recorded demonstration produces, seeded so runs repeat."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    def text(self, words: int) -> str:
        """Page text of ``words`` words drawn from a small web vocabulary."""
        return " ".join(self.rng.choice(_WORDS) for _ in range(words))

    def elements(self, count: int) -> list[Element]:
        """Interactive elements of a DOM snapshot."""
        return [
            Element(
                agent_id=f"e{k}",
                tag=self.rng.choice(["button", "input", "a", "select"]),
                role=self.rng.choice(["button", "textbox", "link", "combobox"]),
                name=self.text(3),
                text=self.text(2),
                attrs={"data-testid": f"field-{k}"},
                bbox=BoundingBox(10.0 * k, 20.0, 120.0, 32.0),
            )
            for k in range(count)
        ]

    def observation(self, step: int = 0, *, screenshot: str | None = None, words: int = 60) -> NewEvent:
        """An observation event; a screenshot digest is listed in the envelope's blobs too."""
        payload = Observation(
            url=f"https://shop.example.test/page/{step}",
            title=f"Step {step}",
            text=self.text(words),
            elements=self.elements(4),
            screenshot=screenshot,
            step=step,
        )
        return NewEvent(data=payload, blobs=(screenshot,) if screenshot else ())

    def action(self, step: int = 0, *, observation_id: str | None = None) -> NewEvent:
        """A click or typing action on an element of the observation before it."""
        kind = self.rng.choice(["CLICK", "TYPE", "PRESS_ENTER", "SCROLL"])
        return NewEvent(
            data=Action(
                kind=kind,
                target="e1",
                value=self.text(2) if kind == "TYPE" else None,
                locators=[("test_id", "field-1"), ("role", "button"), ("text", self.text(1))],
                observation_id=observation_id,
                step=step,
            )
        )

    def demo(self, demo_id: str, steps: int = 2, *, words: int = 60) -> list[NewEvent]:
        """A whole demonstration: started, ``steps`` observation/action pairs, finished."""
        batch: list[NewEvent] = [
            NewEvent(
                data=DemoStarted(
                    demo_id=demo_id,
                    task="checkout",
                    goal="buy the blue mug",
                    url="https://shop.example.test/",
                    seed=7,
                )
            )
        ]
        for step in range(steps):
            observation = self.observation(step, words=words)
            batch += [observation, self.action(step, observation_id=observation.event_id)]
        batch.append(NewEvent(data=DemoFinished(demo_id=demo_id, success=True, reason="order placed")))
        return batch


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic rich output: no colour, no store from the environment, wide lines.

    rich reads COLUMNS each time it measures, so this holds for the module-level consoles
    of ``traj.cli`` too: a message is never wrapped inside an error panel at a width that
    depends on the temporary path's length. The one test about line wrapping sets its own width.
    """
    for name in ("TRAJ_HOME", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def private_tempdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty directory that ``tempfile`` hands out for this test, to see what code leaves there.

    Made by ``mkdtemp`` itself rather than under ``tmp_path``: Unix socket paths made inside it
    must fit in 107 bytes.
    """
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp())
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def events() -> EventFactory:
    """A seeded factory of realistic demonstration events."""
    return EventFactory(seed=1234)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Where the test's store lives (not created yet)."""
    return tmp_path / "store"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    """A writable store, closed after the test (closing twice is harmless)."""
    opened = Store.open(home)
    yield opened
    opened.close()


@pytest.fixture
def tree_bytes() -> Callable[[Path], dict[str, bytes]]:
    """Returns a function mapping every file under a directory (relative path) to its bytes."""

    def read_tree(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    return read_tree


@pytest.fixture
def one_line() -> Callable[[BaseException], str]:
    """Returns a function asserting that an error's message is a single non-empty line."""

    def message_of(error: BaseException) -> str:
        message = str(error)
        assert message.strip(), f"{type(error).__name__} has an empty message"
        assert "\n" not in message, f"{type(error).__name__} message spans several lines: {message!r}"
        return message

    return message_of


def mouse_click(page: Any, selector: str) -> None:
    """A person's click: the real mouse at the centre of the element ``selector`` finds."""
    box = page.locator(selector).bounding_box()
    if box is None:
        raise AssertionError(f"{selector} has no box to click")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


@contextlib.contextmanager
def serve_directory(root: Path, pages: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the files under ``root`` on 127.0.0.1 (quietly), first writing ``pages`` (name ->
    HTML) there; yields the base URL."""
    for name, html in (pages or {}).items():
        (root / name).write_text(html, encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The test module's ``PAGES`` (name -> HTML) served on 127.0.0.1, one server per module."""
    with serve_directory(tmp_path_factory.mktemp("pages"), request.module.PAGES) as url:
        yield url


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sites_server() -> Iterator[SiteServer]:
    """The bundled demo sites on 127.0.0.1, one server per test module."""
    with serve_sites() as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (Chromium is installed by scripts/setup.sh)."""
    with launch(headless=True) as session:
        yield session.browser


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny model (tokenizer, config, weights; about a second), one per test module."""
    from traj.tiny import build_untrained

    return build_untrained(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """traj's pretrained tiny model, built once (minutes) and cached like ``traj model init-tiny``."""
    from traj.tiny import init_tiny

    return init_tiny(progress=False)


def _random_peft_adapter(
    model_dir: Path, path: Path, *, seed: int, targets: tuple[str, ...], rank: int = 8, std: float = 0.5
) -> Path:
    """Save a PEFT LoRA adapter with random B (PEFT starts B at zero: an untrained adapter changes
    nothing) for ``model_dir`` at ``path``; ``lora_alpha`` is ``2 * rank``."""
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(model_dir),
            LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(targets)),
        )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=std)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def random_adapter() -> Callable[..., Path]:
    """Returns the function that saves a random PEFT LoRA adapter (see ``_random_peft_adapter``)."""
    return _random_peft_adapter


@contextlib.contextmanager
def compacting_writer(home: Path, interval: float) -> Iterator[subprocess.Popen[str]]:
    """A writer process over ``home`` (tests/compacting_writer.py) sealing continuously and
    merging segments away every ``interval`` seconds, killed when the block ends."""
    script = Path(__file__).with_name("compacting_writer.py")
    writer = subprocess.Popen(
        [sys.executable, str(script), str(home), str(interval)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read() if writer.stderr else ""
        yield writer
    finally:
        writer.kill()
        writer.wait()


def _tune_known_answers(model_dir: Path, pairs: list[tuple[str, str]], path: Path, *, max_steps: int = 240) -> Path:
    """Fine-tune a PEFT LoRA over ``model_dir`` so that each prompt text of ``pairs`` is answered by its
    answer (greedy), and save it at ``path``: a real policy whose answer on a page is known.

    Trained on exactly what the ``transformers`` backend reads (the prompt as one user turn in the
    model's chat template) and writes (the answer, then end of sequence): SFT on CPU until every
    answer token is the model's first choice, at most ``max_steps`` full-batch steps (usually a
    handful; the prompts hold the test server's port, so each draw differs: the bound is far above).
    """
    import warnings

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from traj.prompt import chat_text

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(model_dir),
            LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
        )
    examples = []
    for prompt, answer in pairs:
        context = tokenizer(chat_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
        target = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([context + target])
        labels = torch.tensor([[-100] * len(context) + target])
        examples.append((ids, labels, len(context)))
    # 1e-3: at 5e-3 the loss of the shipped model rebuilt with the two-digit copying circuit
    # stayed above 2 for all 240 steps (too large a step for it); 1e-3 learns in a few dozen
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    for _ in range(max_steps):
        losses, learned = [], True
        for ids, labels, start in examples:
            output = model(input_ids=ids, labels=labels)
            # greedy decoding gives the answer once every answer token is the most likely one
            predicted = output.logits[0, start - 1 : -1].argmax(-1)
            learned = learned and bool((predicted == labels[0, start:]).all()) and output.loss.item() < 0.05
            losses.append(output.loss)
        if learned:
            break
        # every answer in every step: a step on one answer alone can undo another (two prompts of
        # the same page differ in a few tokens), and the pair then never holds at once
        torch.stack(losses).sum().backward()
        optimizer.step()
        optimizer.zero_grad()
    else:
        raise AssertionError(f"the LoRA did not learn its answers in {max_steps} steps")
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def known_answer_adapter(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Returns ``tune(pairs) -> Path``: a PEFT LoRA over the shipped tiny model, fine-tuned to answer
    each prompt text of ``pairs`` (prompt, answer) with its answer (``--adapter`` takes the path)."""

    def tune(pairs: list[tuple[str, str]]) -> Path:
        return _tune_known_answers(tiny_model, pairs, tmp_path_factory.mktemp("known-answer") / "adapter")

    return tune


@pytest.fixture(scope="session")
def known_answer_policy(tiny_model: Path, known_answer_adapter: Callable[..., Path]) -> Callable[..., Any]:
    """Returns ``tune(pairs) -> Policy``: the shipped tiny model with a LoRA fine-tuned to answer each
    prompt text of ``pairs`` (prompt, answer) with its answer (``known_answer_adapter``), opened through
    ``traj.policy.open_policy`` like any adapter. Close the policy after use."""
    from traj.policy import open_policy

    def tune(pairs: list[tuple[str, str]]) -> Any:
        return open_policy("transformers", tiny_model, adapter=str(known_answer_adapter(pairs)))

    return tune
