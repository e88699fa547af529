"""Blobs are checked against their sha256 whenever they are read, served or downloaded, and a
blob that cannot be written is one clear error with nothing left behind."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import EventFactory, serve_directory
from typer.testing import CliRunner

from tests.test_policy_remote import EchoPolicy
from traj.cli import app
from traj.errors import CorruptBlobError, ServerError
from traj.eventlog import Store
from traj.serve import create_app, serve_in_thread
from traj.serve._client import TrainingClient
from traj.train import SdftConfig, train, training_examples

ADAPTER = "tiny"
CONFIG = SdftConfig(objective="sft", rank=4, lora_alpha=8, batch_size=2, max_steps=1)  # the cheapest adapter


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Path:
    """A store holding one adapter trained for a step on an untrained tiny model."""
    root = tmp_path_factory.mktemp("trained")
    with Store.open(root / "store") as store:
        store.append("demo/d1", EventFactory(seed=3).demo("d1", steps=2, words=12), expected_seq=0)
        train(store, training_examples(store, verified_only=False), model_dir=model_dir, config=CONFIG, name=ADAPTER)
    return root / "store"


@pytest.fixture
def home(trained_home: Path, tmp_path: Path) -> Path:
    """A copy of the trained store this test may damage."""
    return Path(shutil.copytree(trained_home, tmp_path / "store"))


@pytest.fixture
def server(home: Path) -> Iterator[str]:
    with Store.open(home) as store, serve_in_thread(create_app(EchoPolicy(), store=store)) as url:
        yield url


def recorded_files(home: Path) -> dict[str, dict[str, str]]:
    """Format -> adapter file -> the sha256 its ``adapter.created`` event recorded."""
    with Store.open(home, readonly=True) as store:
        table = store.read(types=["adapter.created"], columns=["data"])
    return {d["format"]: d["files"] for d in map(msgspec.json.decode, table["data"].to_pylist())}


def flip_one_bit(path: Path, at: int = 200) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_get_blob_refuses_bytes_that_no_longer_match_their_hash(store, one_line):
    digest = store.put_blob(b"a screenshot" * 100)
    flip_one_bit(store.blobs.path(digest), at=7)
    with pytest.raises(CorruptBlobError) as raised:
        store.get_blob(digest)
    assert digest in one_line(raised.value)
    assert "damaged" in str(raised.value)


def test_a_flipped_bit_in_an_adapter_weight_is_refused_by_get_blob_the_download_and_verify(home, server, one_line):
    weights = recorded_files(home)["peft"]["adapter_model.safetensors"]
    with Store.open(home, readonly=True) as store:
        flip_one_bit(store.blobs.path(weights))
        with pytest.raises(CorruptBlobError):
            store.get_blob(weights)

    response = httpx.get(f"{server}/adapters/{ADAPTER}")
    assert response.status_code >= 500, response.status_code
    assert "x-content-sha256" not in response.headers
    detail = response.json()["detail"]
    assert weights in detail and "\n" not in detail

    with TrainingClient(server, max_retries=0) as client, pytest.raises(ServerError) as raised:
        client.download(ADAPTER, home.parent / "download" / "tiny.tar.gz")
    assert weights in one_line(raised.value)
    assert not (home.parent / "download" / "tiny.tar.gz").exists()

    verified = CliRunner().invoke(app, ["verify", "--home", str(home)])
    assert verified.exit_code == 1
    assert f"blob {weights} is damaged" in verified.output


def test_an_adapter_download_carries_the_hashes_recorded_at_training(home, server, tmp_path):
    with TrainingClient(server) as client:
        archive = client.download(ADAPTER, tmp_path / "tiny.tar.gz")
    with tarfile.open(archive) as tar:
        meta = json.loads(tar.extractfile("adapter.json").read())  # type: ignore[union-attr]
    assert meta["files"] == recorded_files(home)


def test_a_cached_download_damaged_on_disk_is_rebuilt_not_served(private_tempdir, home, server):
    first = httpx.get(f"{server}/adapters/{ADAPTER}")
    assert first.status_code == 200
    (cached,) = private_tempdir.glob("traj-serve-*/downloads/*.tar.gz")
    flip_one_bit(cached, at=len(first.content) // 2)

    again = httpx.get(f"{server}/adapters/{ADAPTER}")
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["x-content-sha256"] == first.headers["x-content-sha256"]


def test_the_client_refuses_an_archive_whose_files_differ_from_the_recorded_hashes(tmp_path, one_line):
    """A server that builds a consistent archive around damaged weights (what traj served before
    it checked blobs): the archive's own checksum passes, the recorded hash does not."""
    config, weights = b"{}", b"\x00" * 64
    recorded = {
        "peft": {"adapter_config.json": hashlib.sha256(config).hexdigest(), "adapter_model.safetensors": "0" * 64}
    }
    members = {
        "adapter.json": json.dumps({"name": ADAPTER, "job_id": "j", "base_model": "m", "files": recorded}).encode(),
        "peft/adapter_config.json": config,
        "peft/adapter_model.safetensors": weights,
        "lineage.jsonl": b"",
    }
    site = tmp_path / "site"
    (site / "adapters").mkdir(parents=True)
    (site / "adapters" / ADAPTER).write_bytes(_targz(members))

    dest = tmp_path / "incoming" / "tiny.tar.gz"
    with (
        serve_directory(site) as url,
        TrainingClient(url, max_retries=0) as client,
        pytest.raises(ServerError) as raised,
    ):
        client.download(ADAPTER, dest)
    message = one_line(raised.value)
    assert "peft/adapter_model.safetensors" in message and "recorded" in message
    assert list(dest.parent.iterdir()) == []  # neither the archive nor its .part


def test_put_blob_on_a_full_disk_is_one_store_error_and_leaves_no_temp_file(home, tmp_path):
    """RLIMIT_FSIZE with SIGXFSZ ignored makes a write fail with EFBIG, as a full disk fails with ENOSPC."""
    script = (
        "import resource, signal, sys\n"
        "from traj.errors import StoreError\n"
        "from traj.eventlog import Store\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "store = Store.open(sys.argv[1])\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))\n"
        "try:\n"
        "    store.put_blob(bytes(range(256)) * 4096)\n"
        "except StoreError as exc:\n"
        "    print('StoreError:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("StoreError: ") and done.stdout.count("\n") == 1, done.stdout
    assert "File too large" in done.stdout
    assert [p for p in (home / "blobs").rglob("*") if p.name.endswith(".tmp")] == []


def _targz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
