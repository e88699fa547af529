"""The same model and adapter through transformers and through MLX decide the same, greedily."""

from __future__ import annotations

import pytest

from traj.agent import run_on_page
from traj.policy import TransformersPolicy
from traj.policy._mlx import MlxPolicy
from traj.sites import SITES


@pytest.fixture(scope="module")
def adapter(tiny_model, tmp_path_factory, random_adapter):
    targets = ("q_proj", "v_proj", "up_proj", "down_proj")
    path = tmp_path_factory.mktemp("adapter") / "small"
    return random_adapter(tiny_model, path, seed=0, targets=targets, rank=4, std=0.02)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.mark.parametrize("with_adapter", [False, True])
def test_greedy_runs_take_the_same_actions_through_both_backends(
    store, page, sites_server, tiny_model, adapter, with_adapter
):
    url = SITES["expense"].start_url(sites_server.url, 3)
    actions = {}
    for policy in (TransformersPolicy(tiny_model), MlxPolicy(tiny_model)):
        if with_adapter:
            policy.load_adapter("small", adapter)
        result = run_on_page(store, policy, page, task="expense", url=url, max_steps=4)
        actions[policy.backend] = [(s.outcome, s.raw_output, s.error) for s in result.steps]
        policy.close()
    assert actions["transformers"] == actions["mlx"]
    assert actions["transformers"], "no steps ran"


def test_mlx_hot_swap_switches_back_exactly_and_loads_the_base_once(tiny_model, adapter, tmp_path):
    from traj.policy import peft_to_mlx

    policy = MlxPolicy(tiny_model)
    text = "Goal: file the report\nNext action:"
    base = policy.logits(text)
    policy.load_adapter("peft", adapter)
    with_peft = policy.logits(text)
    policy.load_adapter("mlx", peft_to_mlx(adapter, tmp_path / "mlx"))
    assert (policy.logits(text) == with_peft).all()  # the same adapter in either format
    policy.set_adapter(None)
    assert (policy.logits(text) == base).all()
    policy.set_adapter("peft")
    assert (policy.logits(text) == with_peft).all()
    assert abs(with_peft - base).max() > 1e-3
    policy.unload_adapter("peft")
    assert policy.active_adapter is None and (policy.logits(text) == base).all()
    assert policy.base_loads == 1
