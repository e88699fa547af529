"""traj serve's OpenAI API seen through the stock ``openai`` client: every parameter honoured or refused.

A real server on 127.0.0.1 over a randomly initialised tiny model (transformers backend) and a
store holding one trained adapter; the answers are checked against the same model called in
process, so a parameter the server ignored would change them.
"""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.test_policy_remote import EchoPolicy
from traj.eventlog import AdapterCreated, Store
from traj.policy import Completion, OpenAIPolicy, TransformersPolicy
from traj.serve import create_app, serve_in_thread
from traj.serve._openai_text import StopCut

NAME = "model"  # the fixture model's directory name: its id in the API
CHAT = [
    {"role": "system", "content": "You are a browser agent."},
    {"role": "user", "content": "Goal: book the cheapest flight."},
    {"role": "assistant", "content": "CLICK e3"},
    {"role": "user", "content": "Next action:"},
]


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory, random_adapter):
    return random_adapter(model_dir, tmp_path_factory.mktemp("adapters") / "lora", seed=1, targets=("q_proj", "v_proj"))


@pytest.fixture(scope="module")
def local(model_dir, adapter_dir):
    """The same model called in process: what the server's answers must equal."""
    policy = TransformersPolicy(model_dir)
    yield policy
    policy.close()


@pytest.fixture(scope="module")
def server(model_dir, adapter_dir, tmp_path_factory):
    """traj's app over the model and a store whose one adapter (``lora``) the policy has not loaded."""
    store = Store.open(tmp_path_factory.mktemp("store"))
    made = AdapterCreated(name="lora", job_id="j1", base_model=str(model_dir), path=str(adapter_dir))
    store.append("adapter/lora", [made], expected_seq=0)
    policy = TransformersPolicy(model_dir)
    with serve_in_thread(create_app(policy, store=store, model_dir=model_dir)) as url:
        yield url, store
    store.close()
    policy.close()


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server[0]}/v1", api_key="unused", max_retries=0) as stock:
        yield stock


def chat(client, **options):
    options = {"model": NAME, "messages": CHAT, "max_tokens": 16, "temperature": 0, **options}
    return client.chat.completions.create(**options)


def streamed(client, **options):
    chunks = list(chat(client, stream=True, **options))
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices), chunks


# ---------------------------------------------------------------------------- models


def test_models_lists_the_base_and_every_adapter_of_the_store_under_stable_ids(client):
    assert [model.id for model in client.models.list()] == [NAME, f"{NAME}:lora"]
    assert client.models.retrieve(f"{NAME}:lora").model_dump()["parent"] == NAME
    assert client.models.retrieve(NAME).owned_by == "traj"
    with pytest.raises(openai.NotFoundError) as refused:
        client.models.retrieve("lora")
    assert refused.value.body["code"] == "model_not_found"


def test_naming_a_stored_adapter_loads_it_and_answers_through_it(client, server, local, adapter_dir):
    message = [{"role": "user", "content": "Goal: book the cheapest flight."}]
    adapted = chat(client, model=f"{NAME}:lora", messages=message).choices[0].message.content
    base = chat(client, messages=message).choices[0].message.content
    local.load_adapter("lora", adapter_dir)
    try:
        expected = local.complete(Completion(tuple(message), max_new_tokens=16)).text
    finally:
        local.unload_adapter("lora")
    assert adapted == expected != base
    loaded = server[1].read(stream="adapter/lora", types=["adapter.loaded"])
    assert loaded.num_rows == 1


# ---------------------------------------------------------------------------- what the model reads


def test_system_messages_and_earlier_turns_go_through_the_chat_template(client, local):
    answer = chat(client)
    templated = local.tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert answer.usage.prompt_tokens == local.count_tokens(templated)
    assert answer.choices[0].message.content == local.complete(Completion(tuple(CHAT), max_new_tokens=16)).text
    last_turn_only = chat(client, messages=CHAT[-1:])
    assert last_turn_only.usage.prompt_tokens < answer.usage.prompt_tokens


def test_text_completions_complete_raw_text_without_the_template(client, local):
    raw = "Goal: book the cheapest flight.\nNext action:"
    answer = client.completions.create(model=NAME, prompt=raw, max_tokens=8, temperature=0, logprobs=2)
    expected = local.complete(Completion(text=raw, max_new_tokens=8, top_logprobs=2))
    choice = answer.choices[0]
    assert choice.text == expected.text
    assert answer.usage.prompt_tokens == local.count_tokens(raw)
    assert choice.logprobs.token_logprobs == pytest.approx(expected.token_logprobs[:8], abs=1e-5)
    assert "".join(choice.logprobs.tokens) == choice.text
    # the legacy shape is a dict by text: alternatives that read the same (two halves of characters
    # both shown as U+FFFD) are one key there
    assert [len(alternatives) for alternatives in choice.logprobs.top_logprobs] == [
        len({text for text, _ in alternatives}) for alternatives in expected.top_logprobs[:8]
    ]
    pieces = client.completions.create(model=NAME, prompt=raw, max_tokens=8, temperature=0, stream=True)
    assert "".join(chunk.choices[0].text for chunk in pieces) == choice.text


# ---------------------------------------------------------------------------- streaming


def test_streamed_text_equals_the_unstreamed_text_at_temperature_zero(client):
    whole = chat(client).choices[0]
    text, chunks = streamed(client, stream_options={"include_usage": True})
    assert text == whole.message.content
    content = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(content) > 1  # token by token, not one block at the end
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == whole.finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 16


def test_the_event_stream_ends_with_the_done_sentinel(server):
    body = {"model": NAME, "messages": CHAT, "max_tokens": 4, "temperature": 0, "stream": True}
    with httpx.stream("POST", f"{server[0]}/v1/chat/completions", json=body, timeout=60) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = [line for line in answer.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]"


class RecordingPolicy(TransformersPolicy):
    """The transformers policy, keeping how many tokens each completion made before it ended."""

    def __init__(self, model_dir) -> None:
        super().__init__(model_dir)
        self.finished: list[int] = []
        self.done = threading.Event()

    def complete(self, completion):
        generation = super().complete(completion)
        self.finished.append(generation.completion_tokens)
        self.done.set()
        return generation


def test_a_stream_stops_generating_when_its_client_leaves(model_dir):
    policy = RecordingPolicy(model_dir)
    body = {"model": NAME, "messages": CHAT, "max_tokens": 1000, "temperature": 0, "stream": True}
    with serve_in_thread(create_app(policy)) as url:
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as answer:
            content = (line for line in answer.iter_lines() if '"content": "' in line and '"content": ""' not in line)
            assert next(content)  # the first token arrived while the rest is being made; then the client leaves
        assert policy.done.wait(120)
    assert 0 < policy.finished[0] < 1000


@given(
    text=st.text("ab\n", max_size=30),
    cuts=st.lists(st.integers(0, 30), max_size=8),
    stops=st.lists(st.text("ab\n", min_size=1, max_size=4), max_size=4),
)
def test_stop_cut_shows_the_text_up_to_the_first_stop_however_it_arrives(text, cuts, stops):
    ends = sorted({min(cut, len(text)) for cut in cuts} | {len(text)})
    pieces = [text[start:end] for start, end in zip([0, *ends], ends, strict=False)]
    cut = StopCut(stops)
    shown = "".join(cut.feed(piece) for piece in pieces) + cut.finish(text)
    first = min((index for index in (text.find(stop) for stop in stops) if index >= 0), default=len(text))
    assert shown == cut.text == text[:first]
    assert cut.stopped == any(stop in text for stop in stops)


# ---------------------------------------------------------------------------- sampling


def test_a_seed_reproduces_a_sampled_answer_and_another_seed_does_not(client):
    first = chat(client, temperature=1.0, seed=11).choices[0].message.content
    assert chat(client, temperature=1.0, seed=11).choices[0].message.content == first
    assert chat(client, temperature=1.0, seed=12).choices[0].message.content != first


def test_top_p_samples_only_from_the_nucleus(client):
    greedy = chat(client).choices[0].message.content
    sampled = {chat(client, temperature=1.0, seed=seed).choices[0].message.content for seed in range(3)}
    assert greedy not in sampled  # an untrained model's distribution is flat: sampling wanders
    nucleus = {chat(client, temperature=1.0, top_p=1e-6, seed=seed).choices[0].message.content for seed in range(3)}
    assert nucleus == {greedy}  # only the most likely token is left to draw


def test_stop_ends_the_text_before_the_stop_string_streamed_or_not(client):
    full = chat(client, temperature=1.0, seed=5)
    text = full.choices[0].message.content
    stop = text[6:10]
    expected = text[: text.find(stop)]
    answer = chat(client, temperature=1.0, seed=5, stop=[stop, "never appears"])
    assert answer.choices[0].message.content == expected
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens < full.usage.completion_tokens  # the model stopped there too
    assert streamed(client, temperature=1.0, seed=5, stop=stop)[0] == expected


def test_top_logprobs_are_the_models_most_likely_tokens(client, local):
    answer = chat(client, logprobs=True, top_logprobs=3)
    tokens = answer.choices[0].logprobs.content
    assert len(tokens) == answer.usage.completion_tokens
    assert "".join(token.token for token in tokens) == answer.choices[0].message.content
    templated = local.tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    first = torch.log_softmax(local.logits(templated)[-1], dim=-1)
    best = torch.topk(first, 3)
    assert [top.logprob for top in tokens[0].top_logprobs] == pytest.approx(best.values.tolist(), abs=1e-4)
    assert tokens[0].top_logprobs[0].token == tokens[0].token  # greedy: the chosen one is the best
    for token in tokens:
        assert len(token.top_logprobs) == 3
        assert [top.logprob for top in token.top_logprobs] == sorted(
            (t.logprob for t in token.top_logprobs), reverse=True
        )


# ---------------------------------------------------------------------------- refusals


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
REFUSED = {
    "image to a text-only model": (
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, IMAGE]}]},
        "messages",
    ),
    "n above 1": ({"n": 2}, "n"),
    "tools": (
        {"tools": [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]},
        "tools",
    ),
    "penalties": ({"frequency_penalty": 0.5}, "frequency_penalty"),
    "top_logprobs without logprobs": ({"top_logprobs": 2}, "top_logprobs"),
    "a tool result": ({"messages": [*CHAT, {"role": "tool", "tool_call_id": "c1", "content": "done"}]}, "messages"),
}


@pytest.mark.parametrize("options, param", REFUSED.values(), ids=REFUSED.keys())
def test_what_cannot_be_honoured_is_refused_in_openais_error_shape(client, options, param):
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, **options)
    assert refused.value.status_code == 400
    assert refused.value.body["param"] == param and refused.value.body["type"] == "invalid_request_error"


def test_an_unknown_parameter_is_refused_not_ignored(client):
    with pytest.raises(openai.BadRequestError) as refused:
        chat(client, extra_body={"repetition_penalty": 1.2})
    assert "repetition_penalty" in refused.value.body["message"]


# ---------------------------------------------------------------------------- a backend that takes one message


@pytest.fixture(scope="module")
def echo_client():
    """A policy without a chat template (it answers with the prompt's last line): the server streams and stops it."""
    with serve_in_thread(create_app(EchoPolicy())) as url, openai.OpenAI(base_url=f"{url}/v1", api_key="x") as stock:
        yield stock


def test_a_backend_without_a_template_refuses_what_it_cannot_read(echo_client):
    message = {"role": "user", "content": "one\nplease echo this line"}
    for options, param in (
        ({"messages": [{"role": "system", "content": "be brief"}, message]}, "messages"),
        ({"messages": [message], "logprobs": True, "top_logprobs": 1}, "top_logprobs"),
        ({"messages": [message], "temperature": 0.7, "seed": 1}, "seed"),
        ({"messages": [message], "response_format": {"type": "json_object"}}, "response_format"),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            echo_client.chat.completions.create(model="echo", **options)
        assert refused.value.body["param"] == param
    with pytest.raises(openai.BadRequestError):
        echo_client.completions.create(model="echo", prompt="raw text")
    answer = echo_client.chat.completions.create(model="echo", messages=[message], stop=["this"])
    assert answer.choices[0].message.content == "please echo "
    stream = echo_client.chat.completions.create(model="echo", messages=[message], stop=["this"], stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "please echo "


def test_the_mlx_backend_honours_the_same_parameters(model_dir):
    from traj.policy import MlxPolicy

    local, served = MlxPolicy(model_dir), MlxPolicy(model_dir)
    with (
        serve_in_thread(create_app(served, model_name="tiny")) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x") as mlx,
    ):
        answer = chat(mlx, model="tiny", logprobs=True, top_logprobs=2)
        assert answer.choices[0].message.content == local.complete(Completion(tuple(CHAT), max_new_tokens=16)).text
        assert all(len(token.top_logprobs) == 2 for token in answer.choices[0].logprobs.content)
        assert streamed(mlx, model="tiny")[0] == answer.choices[0].message.content
        first = chat(mlx, model="tiny", temperature=1.0, seed=3).choices[0].message.content
        assert chat(mlx, model="tiny", temperature=1.0, seed=3).choices[0].message.content == first
        assert chat(mlx, model="tiny", temperature=1.0, top_p=1e-6, seed=4).choices[0].message.content == (
            answer.choices[0].message.content
        )


@pytest.fixture(scope="module")
def relay(server):
    """traj serve in front of another OpenAI API, as in front of vLLM: an openai policy over the server above."""
    upstream = OpenAIPolicy(NAME, base_url=f"{server[0]}/v1", max_retries=0)
    with (
        serve_in_thread(create_app(upstream, model_name="relayed")) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as stock,
    ):
        yield stock


def test_an_openai_backend_hands_every_parameter_to_its_server(client, relay):
    options = {"temperature": 1.0, "seed": 9, "top_p": 0.9, "logprobs": True, "top_logprobs": 2}
    direct, relayed = chat(client, **options).choices[0], chat(relay, model="relayed", **options).choices[0]
    assert relayed.message.content == direct.message.content
    assert [[top.logprob for top in token.top_logprobs] for token in relayed.logprobs.content] == [
        [top.logprob for top in token.top_logprobs] for token in direct.logprobs.content
    ]
    raw = {"prompt": "Goal: book", "max_tokens": 6, "temperature": 0, "logprobs": 1}
    assert relay.completions.create(model="relayed", **raw).choices[0].text == (
        client.completions.create(model=NAME, **raw).choices[0].text
    )
    schema = {
        "type": "object",
        "properties": {"kind": {"enum": ["CLICK", "FINISH"]}},
        "required": ["kind"],
        "additionalProperties": False,  # else a random model may write a key that never closes in 32 tokens
    }
    shape = {"type": "json_schema", "json_schema": {"name": "pick", "schema": schema}}
    constrained = chat(relay, model="relayed", response_format=shape, max_tokens=32).choices[0].message.content
    assert json.loads(constrained)["kind"] in ("CLICK", "FINISH")  # the upstream's model decoded under it
    assert constrained == chat(client, response_format=shape, max_tokens=32).choices[0].message.content
