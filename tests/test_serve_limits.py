"""The server does no work for strangers and no unbounded work for anyone.

Real servers on 127.0.0.1 (uvicorn in a thread, or ``traj serve`` as its own process): the token
is checked before a body is read, JSON bodies are capped, generations are bounded by the
server's limit and the model's context and stop when their client leaves or the server stops,
the API's schema wants the token, weak tokens are refused at startup, and text that is not
Unicode is bad input.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_export import run_events
from typer.testing import CliRunner

from tests.test_policy_remote import EchoPolicy
from traj.cli import app as cli
from traj.errors import ServerError
from traj.eventlog import Store
from traj.policy import TransformersPolicy
from traj.serve import ServeLimits, check_bind, check_token, create_app, serve_in_thread

TOKEN = "limits-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON_CAP = 64 << 10
MAX_NEW_TOKENS = 100


@pytest.fixture
def server(tmp_path):
    """A token-protected echo server over a store, with a small JSON cap and generation limit."""
    store = Store.open(tmp_path / "server")
    store.append("run/r1", run_events("r1", [True, False]), expected_seq=0)  # for feedback
    limits = ServeLimits(max_json_bytes=JSON_CAP, max_new_tokens=MAX_NEW_TOKENS)
    app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model", limits=limits)
    with serve_in_thread(app) as url:
        yield url
    store.close()


def _head_only(url: str, head: str) -> tuple[int, str]:
    """Send ``head`` (request line and headers) and none of the body it promises; the answer's status and text.

    The socket's timeout makes a server that waits for the promised body fail the test.
    """
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    text = answer.decode("utf-8", "replace")
    return int(text.split(" ", 2)[1]), text


def _length(answer: bytes) -> int:
    """The Content-Length of an answer whose head has arrived."""
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


# ---------------------------------------------------------------------------- who may send a body


@pytest.mark.parametrize("path", ["/act", "/v1/chat/completions", "/feedback", "/upload_trajectory"])
def test_an_anonymous_request_is_refused_before_its_body_is_read(server, path):
    """A 200 MiB promise, not one byte of it sent: the server answers 401 at once and closes."""
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {200 << 20}\r\n"
    status, answer = _head_only(server, head)
    assert status == 401, answer
    assert "connection: close" in answer.lower() and "www-authenticate: bearer" in answer.lower()
    assert "bearer token" in answer


def test_malformed_json_from_a_stranger_gets_401_not_422(server):
    for path in ("/act", "/v1/chat/completions", "/train"):
        answer = httpx.post(f"{server}{path}", content=b'{"prompt": ', headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, (path, answer.text)
    answer = httpx.post(f"{server}/v1/chat/completions", content=b"{", headers={"Authorization": "Bearer wrong"})
    assert answer.json()["error"]["code"] == "invalid_api_key"


def test_the_api_schema_and_docs_want_the_token_when_one_is_set(server):
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(f"{server}{path}").status_code == 401, path
        assert httpx.get(f"{server}{path}", headers=AUTH).status_code == 200, path
    assert httpx.get(f"{server}/openapi.json", headers=AUTH).json()["info"]["title"] == "traj"
    # without a token a server only listens on loopback, and there the docs stay open
    with serve_in_thread(create_app(EchoPolicy())) as url:
        assert httpx.get(f"{url}/openapi.json").status_code == 200


# ---------------------------------------------------------------------------- how big a body


def test_a_json_body_over_the_cap_is_413_whether_declared_or_streamed(server):
    big = json.dumps({"prompt": "x" * JSON_CAP}).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    answer = httpx.post(f"{server}/act", content=big, headers=headers)  # declared: refused before it is read
    assert answer.status_code == 413
    assert answer.json() == {
        "detail": f"the request body is {len(big)} bytes; this server takes at most {JSON_CAP} bytes of JSON "
        "(--max-json-mb)"
    }

    def chunks():  # no Content-Length: counted as it streams in
        yield b'{"prompt": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    answer = httpx.post(f"{server}/act", content=chunks(), headers=headers)
    assert answer.status_code == 413
    assert answer.json()["detail"].startswith(f"the request body is over {JSON_CAP} bytes; this server takes at most")
    chat = {"model": "echo", "messages": [{"role": "user", "content": "x" * JSON_CAP}]}
    error = httpx.post(f"{server}/v1/chat/completions", json=chat, headers=AUTH).json()["error"]
    assert error["type"] == "invalid_request_error" and "at most 65536 bytes" in error["message"]
    assert httpx.post(f"{server}/act", json={"prompt": "x" * 1000}, headers=AUTH).status_code == 200


def test_uploads_keep_their_own_caps_above_the_json_cap(server):
    rows = b'{"prompt": "p", "target": "t"}\n' * (3 * JSON_CAP // 30)
    answer = httpx.put(f"{server}/datasets/big", content=rows, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["bytes"] == len(rows) > JSON_CAP


# ---------------------------------------------------------------------------- how long a generation


def test_new_tokens_over_the_servers_limit_are_refused(server):
    answer = httpx.post(f"{server}/act", json={"prompt": "hi", "max_new_tokens": MAX_NEW_TOKENS + 1}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json() == {"detail": "max_new_tokens: at most 100 new tokens on this server (--max-new-tokens)"}
    assert httpx.post(f"{server}/act", json={"prompt": "hi", "max_new_tokens": 100}, headers=AUTH).status_code == 200
    for field in ("max_tokens", "max_completion_tokens"):
        chat = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], field: 101}
        answer = httpx.post(f"{server}/v1/chat/completions", json=chat, headers=AUTH)
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == field and "at most 100" in answer.json()["error"]["message"]


def test_the_prompt_and_its_new_tokens_must_fit_the_models_context(server):
    """EchoPolicy counts words and has a 512-token context."""
    prompt = " ".join(["word"] * 480)
    answer = httpx.post(f"{server}/act", json={"prompt": prompt, "max_new_tokens": 40}, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "max_new_tokens: the prompt's 480 tokens and 40 new ones exceed the model's context window of 512 tokens"
    )
    assert httpx.post(f"{server}/act", json={"prompt": prompt, "max_new_tokens": 32}, headers=AUTH).status_code == 200
    chat = {"model": "echo", "messages": [{"role": "user", "content": prompt}]}
    assert httpx.post(f"{server}/v1/chat/completions", json=chat, headers=AUTH).status_code == 200  # default: the rest
    chat["messages"][0]["content"] = " ".join(["word"] * 600)
    answer = httpx.post(f"{server}/v1/chat/completions", json=chat, headers=AUTH)
    assert answer.status_code == 400 and "context window of 512" in answer.json()["error"]["message"]


LONG = {"prompt": "Page: calendar. Next action:", "max_new_tokens": 1000, "temperature": 0.0}
"""A request within the default limits whose generation takes the tiny model many seconds."""


class RecordingPolicy(TransformersPolicy):
    """The transformers policy, keeping every generation it finished so a test can see how far it went."""

    def __init__(self, model_dir: Path) -> None:
        super().__init__(model_dir)
        self.finished: list[int] = []
        self.done = threading.Event()

    def generate(self, prompt, **options):
        generation = super().generate(prompt, **options)
        self.finished.append(generation.completion_tokens)
        self.done.set()
        return generation


def test_a_generation_stops_when_its_client_leaves(model_dir):
    policy = RecordingPolicy(model_dir)
    with serve_in_thread(create_app(policy, token=TOKEN)) as url:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes its connection
            httpx.post(f"{url}/act", json=LONG, headers=AUTH, timeout=httpx.Timeout(10, read=1.0))
        assert policy.done.wait(120)
        assert 0 < policy.finished[0] < LONG["max_new_tokens"]
        short = httpx.post(f"{url}/act", json={**LONG, "max_new_tokens": 3}, headers=AUTH, timeout=60)
        assert short.status_code == 200 and short.json()["completion_tokens"] <= 3


def test_the_transformers_policy_stops_at_the_next_token_when_asked(model_dir):
    from traj.policy import stopping_when
    from traj.prompt import Prompt

    policy = TransformersPolicy(model_dir)
    prompt = Prompt(LONG["prompt"], policy.count_tokens(LONG["prompt"]))
    stop = threading.Event()
    stop.set()
    with stopping_when(stop):
        assert policy.generate(prompt, max_new_tokens=20).completion_tokens == 1
    assert policy.generate(prompt, max_new_tokens=20).completion_tokens == 20  # outside the block: the whole answer


def test_sigterm_stops_traj_serve_while_it_generates(tmp_path, model_dir):
    env = {**os.environ, "TRAJ_TOKEN": TOKEN}
    command = [sys.executable, "-m", "traj", "serve", "--port", "0", "--model", str(model_dir)]
    options = ["--home", str(tmp_path / "box")]
    log = tmp_path / "serve.log"
    with log.open("w") as errors:
        process = subprocess.Popen([*command, *options], env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
    answers: list[httpx.Response | Exception] = []

    def ask(url: str) -> None:
        try:
            answers.append(httpx.post(f"{url}/act", json=LONG, headers=AUTH, timeout=120))
        except httpx.HTTPError as exc:
            answers.append(exc)

    try:
        line = process.stdout.readline()
        assert "listening on" in line, f"traj serve did not start: {line!r} {log.read_text()}"
        client = threading.Thread(target=ask, args=(line.split("listening on ")[1].split()[0],))
        client.start()
        time.sleep(2)  # the generation is under way (1,000 tokens take the tiny model many seconds)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
        client.join(60)
        (answer,) = answers
        assert isinstance(answer, httpx.Response), answer
        assert answer.status_code == 503
        assert answer.json() == {"detail": "the server is shutting down; the generation was stopped"}
        assert "traj serve: stopped" in process.stdout.read()
    finally:
        process.kill()
        process.wait()


# ---------------------------------------------------------------------------- weak tokens


@pytest.mark.parametrize("token", [" ", "short-token", " padded-token-0123456789 ", "tab\tinside-0123456789", "é" * 20])
def test_weak_or_unsendable_tokens_are_refused(token):
    with pytest.raises(ServerError, match="TRAJ_TOKEN"):
        check_token(token)
    with pytest.raises(ServerError, match="TRAJ_TOKEN"):
        check_bind("0.0.0.0", token)


def test_traj_serve_refuses_a_weak_token_before_loading_the_model(tmp_path):
    arguments = ["serve", "--model", str(tmp_path / "no-model"), "--home", str(tmp_path / "home")]
    result = CliRunner().invoke(cli, arguments, env={"TRAJ_TOKEN": " "})
    assert (result.exit_code, result.stderr.strip()) == (
        1,
        "error: TRAJ_TOKEN must be printable ASCII without spaces around it",
    )
    result = CliRunner().invoke(cli, arguments, env={"TRAJ_TOKEN": "abc"})
    assert result.exit_code == 1 and "error: TRAJ_TOKEN is 3 characters; use at least 16" in result.stderr
    assert not (tmp_path / "home").exists()
    check_token(TOKEN)


# ---------------------------------------------------------------------------- text that is not Unicode


def _post_raw_json(url: str, path: str, body: str) -> httpx.Response:
    """POST ``body`` as written: JSON's ``\\udc00`` escape goes over the wire as six ASCII characters."""
    return httpx.post(f"{url}{path}", content=body.encode(), headers={**AUTH, "Content-Type": "application/json"})


LONE = "\\udc00"  # as JSON writes it; in a str written by json.dumps, "LONE" is swapped for it
USER = {"role": "user", "content": "hi"}
SURROGATE_CASES = {
    "act prompt": ("/act", {"prompt": "hi LONE"}, 422),
    "act adapter": ("/act", {"prompt": "hi", "adapter": "LONE"}, 422),
    "chat content": ("/v1/chat/completions", {"model": "echo", "messages": [{**USER, "content": "LONE"}]}, 400),
    "chat part": (
        "/v1/chat/completions",
        {"model": "echo", "messages": [{**USER, "content": [{"type": "text", "text": "a LONE"}]}]},
        400,
    ),
    "chat model": ("/v1/chat/completions", {"model": "LONE", "messages": [USER]}, 400),
    "adapter path": ("/adapters/a/load", {"path": "/tmp/LONE"}, 422),
    "feedback correction": (
        "/feedback",
        {"run": "r1", "label": "bad", "step": 0, "correction": {"kind": "TYPE", "target": "1", "value": "LONE"}},
        422,
    ),
    "feedback note": ("/feedback", {"run": "r1", "label": "bad", "note": "LONE"}, 422),
    "train task": ("/train", {"task": "LONE"}, 422),
}


@pytest.mark.parametrize("case", sorted(SURROGATE_CASES))
def test_a_lone_surrogate_is_bad_input_not_a_server_error(server, case):
    path, body, status = SURROGATE_CASES[case]
    answer = _post_raw_json(server, path, json.dumps(body).replace("LONE", LONE))
    assert answer.status_code == status, answer.text
    message = answer.json()["error"]["message"] if path.startswith("/v1/") else answer.json()["detail"]
    assert "unicode" in message.lower() and "\n" not in message
    pair = _post_raw_json(server, "/act", '{"prompt": "a surrogate pair is fine: \\ud83d\\ude00"}')
    assert pair.status_code == 200 and pair.json()["text"].endswith("\U0001f600")
