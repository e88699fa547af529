"""A store is one directory: copied (``cp -a``) and with the original moved away, the copy still
finds its adapters by name, serves them and resumes its training jobs into itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from conftest import EventFactory

from tests.test_policy_remote import EchoPolicy
from traj.errors import PolicyError
from traj.eventlog import AdapterCreated, NewEvent, Store
from traj.policy import TransformersPolicy, open_policy, resolve_adapter
from traj.projections import Projections
from traj.serve import create_app, serve_in_thread
from traj.serve._client import train_remote
from traj.train import SdftConfig, resume, train, training_examples

CONFIG = SdftConfig(objective="sft", rank=4, lora_alpha=8, batch_size=2, max_steps=1)  # the cheapest adapter


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A copy of a store whose original was then moved away (``cp -a store copy; mv store elsewhere``).

    The original held adapter ``tiny``; ``legacy``, the same files recorded the way versions
    before relative paths did (an absolute path into the store); and job ``next``, started from
    ``tiny`` and stopped after its first step's checkpoint.
    """
    original = tmp_path_factory.mktemp("moved") / "store"
    with Store.open(original) as store:
        store.append("demo/d1", EventFactory(seed=3).demo("d1", steps=2, words=12), expected_seq=0)
        examples = training_examples(store, verified_only=False)
        train(store, examples, model_dir=model_dir, config=CONFIG, name="tiny")
        old = AdapterCreated(
            name="legacy", job_id="j", base_model=str(model_dir), path=str(original / "adapters/tiny/peft")
        )
        store.append("adapter/legacy", [NewEvent(data=old)], expected_seq=0)
        config = SdftConfig(**{**CONFIG.__dict__, "max_steps": 2, "checkpoint_every": 1})
        with pytest.raises(KeyboardInterrupt):
            train(store, examples, model_dir=model_dir, config=config, name="next", start_from="tiny", on_step=_stop)
    return copy_then_move_away(original)


def copy_then_move_away(original: Path) -> Path:
    """``cp -a store copy; mv store elsewhere``: returns the copy; nothing is left at ``original``."""
    copy = Path(shutil.copytree(original, original.with_name("copy"), symlinks=True))
    original.rename(original.with_name("elsewhere"))
    return copy


@pytest.fixture
def copy(moved: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``moved`` (a copy of a copy: the original is gone either way)."""
    return Path(shutil.copytree(moved, tmp_path / "store", symlinks=True))


def _stop(metrics) -> None:
    if metrics.step == 0:
        raise KeyboardInterrupt  # what Ctrl-C leaves: a job with a checkpoint and no adapter yet


def test_adapter_paths_inside_the_store_are_recorded_relative_to_it(copy):
    with Store.open(copy, readonly=True) as store, Projections(store) as projections:
        paths = projections.query("SELECT format, path FROM adapters WHERE name = 'tiny' ORDER BY format").to_pylist()
    assert paths == [{"format": "mlx", "path": "adapters/tiny/mlx"}, {"format": "peft", "path": "adapters/tiny/peft"}]


@pytest.mark.parametrize("adapter", ["tiny", "legacy"])
def test_a_copied_store_loads_its_adapter_by_name_once_the_original_is_gone(copy, model_dir, adapter):
    with Store.open(copy, readonly=True) as store:
        assert resolve_adapter(adapter, store) == (adapter, copy / "adapters/tiny/peft")
        policy = open_policy("transformers", model_dir, adapter=adapter, store=store)
    assert policy.active_adapter == adapter


@pytest.mark.parametrize("adapter", ["tiny", "legacy"])
def test_a_server_on_a_copied_store_loads_its_adapter_by_name(copy, model_dir, adapter):
    with Store.open(copy) as store, serve_in_thread(create_app(TransformersPolicy(model_dir), store=store)) as url:
        response = httpx.post(f"{url}/adapters/{adapter}/load", timeout=60)
    assert response.status_code == 200, response.text


def test_an_adapter_recorded_outside_any_store_and_gone_is_still_a_clear_error(store, tmp_path, one_line):
    gone = tmp_path / "scratch" / "adapters" / "x" / "peft"
    store.append("adapter/x", [NewEvent(data=AdapterCreated(name="x", job_id="j", base_model="m", path=str(gone)))], 0)
    with pytest.raises(PolicyError) as raised:
        resolve_adapter("x", store)
    assert one_line(raised.value).endswith(f"recorded at {gone}, which no longer exists")


def test_a_job_stopped_in_the_original_resumes_into_the_copy(moved, copy):
    """Job ``next`` reads its parent adapter from the copy and writes its own there; nothing is
    written where the original was."""
    with Store.open(copy) as store:
        result = resume(store)
        assert resolve_adapter("next", store)[1] == copy / "adapters/next/peft"
    assert result.peft_path == copy / "adapters/next/peft"
    assert (copy / "adapters/next/peft/adapter_model.safetensors").is_file()
    assert not (moved.parent / "store").exists()


def test_an_adapter_trained_on_a_server_is_recorded_relative_to_the_local_store(model_dir, tmp_path):
    """``traj train --remote`` installs the download under ``<home>/adapters/<name>`` and records it
    relative to the store, so the laptop's store can be copied like any other."""
    with Store.open(tmp_path / "laptop") as laptop:
        laptop.append("demo/d1", EventFactory(seed=3).demo("d1", steps=2, words=12), expected_seq=0)
    settings = {"objective": "sft", "steps": 1, "batch_size": 2, "rank": 4, "unverified": True}
    with (
        Store.open(tmp_path / "gpu-box") as server_store,
        serve_in_thread(create_app(EchoPolicy(), store=server_store, model_dir=model_dir)) as url,
        Store.open(tmp_path / "laptop") as laptop,
    ):
        train_remote(laptop, url, demo_ids=["d1"], hyperparameters=settings, name="remote", poll_s=0.1)
    copy = copy_then_move_away(tmp_path / "laptop")
    with Store.open(copy, readonly=True) as store, Projections(store) as projections:
        paths = projections.query("SELECT path FROM adapters WHERE name = 'remote' ORDER BY format").to_pylist()
        assert paths == [{"path": "adapters/remote/mlx"}, {"path": "adapters/remote/peft"}]
        assert resolve_adapter("remote", store) == ("remote", copy / "adapters/remote/peft")
