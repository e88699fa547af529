"""The server is secure by default: tokens everywhere, hostile uploads refused with nothing written, limits."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.test_policy_remote import EchoPolicy
from traj.errors import BundleError, ServerError
from traj.eventlog import Store, export_demos, import_bundle
from traj.serve import ServeLimits, check_bind, create_app, serve_in_thread

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(tmp_path):
    """A token-protected server over an empty store, with small limits so that tests can reach them."""
    store = Store.open(tmp_path / "server")
    limits = ServeLimits(max_upload_bytes=64 << 10, max_unpacked_bytes=256 << 10, max_dataset_bytes=4 << 10)
    app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model", limits=limits)
    with serve_in_thread(app) as url:
        yield url, store, app
    store.close()


@pytest.fixture
def bundle(tmp_path, events) -> Path:
    """A real bundle of one demonstration with a screenshot blob."""
    with Store.open(tmp_path / "laptop") as laptop:
        shot = laptop.put_blob(b"\x89PNG" + b"pixels" * 200)
        demo = events.demo("d1", steps=2)
        demo[1] = events.observation(0, screenshot=shot)
        laptop.append("demo/d1", demo, 0)
        export_demos(laptop, ["d1"], tmp_path / "d1.tar.gz")
    return tmp_path / "d1.tar.gz"


def _tar(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb") as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _link(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _bomb() -> bytes:
    """A 2 MiB member of zeros: a few KiB compressed, over the server's 256 KiB unpack limit."""
    return _tar([("bundle.json", b"{}"), ("events.jsonl", b"\0" * (2 << 20))])


MALICIOUS = {
    "traversal": (_tar([("../../evil.txt", b"owned")]), 400, "path traversal"),
    "absolute path": (_tar([("/tmp/evil.txt", b"owned")]), 400, "absolute path"),
    "symlink": (_tar([_link("blobs/x", tarfile.SYMTYPE, "/etc/passwd")]), 400, "symbolic link"),
    "hard link": (_tar([_link("events.jsonl", tarfile.LNKTYPE, "/etc/passwd")]), 400, "hard link"),
    "device": (_tar([_link("events.jsonl", tarfile.CHRTYPE)]), 400, "device"),
    "decompression bomb": (_bomb(), 413, "decompression limit"),
    "not gzip": (b"definitely not a tarball", 400, "not a readable tar.gz"),
    "unexpected member": (_tar([("run.sh", b"rm -rf /")]), 400, "unexpected member"),
}


def _store_files(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file()}


def test_every_protected_route_answers_401_without_or_with_a_wrong_token(server):
    url, _, app = server
    routes = [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item]
    assert len(routes) == 16 and ("POST", "/feedback") in routes and ("GET", "/v1/models/{model}") in routes
    for method, path in routes:
        concrete = path.replace("{name}", "x").replace("{run_id}", "x").replace("{model}", "x")
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            if path == "/health" and not headers:
                continue  # liveness, below
            answer = httpx.request(method, f"{url}{concrete}", headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}  # anonymous: liveness, nothing else
    assert httpx.get(f"{url}/health", headers=AUTH).json()["backend"] == "echo"


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_bundle_is_refused_and_the_store_is_unchanged(server, bundle, case):
    url, store, _ = server
    assert httpx.post(f"{url}/upload_trajectory", content=bundle.read_bytes(), headers=AUTH).status_code == 200
    before = _store_files(store.home)
    data, status, reason = MALICIOUS[case]
    answer = httpx.post(f"{url}/upload_trajectory", content=data, headers=AUTH)
    assert answer.status_code == status, answer.text
    assert reason in answer.json()["detail"]
    assert _store_files(store.home) == before


def test_a_bundle_with_a_damaged_blob_or_event_writes_nothing(tmp_path, bundle):
    with tarfile.open(bundle) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    blob = next(i for i, (name, _) in enumerate(members) if name.startswith("blobs/"))
    events = next(i for i, (name, _) in enumerate(members) if name == "events.jsonl")
    damaged_blob = list(members)
    damaged_blob[blob] = (members[blob][0], b"other bytes")
    bad_event = list(members)
    bad_event[events] = ("events.jsonl", members[events][1].replace(b'"demo.started"', b'"demo.nonsense"'))
    with Store.open(tmp_path / "target") as target:
        before = _store_files(target.home)
        for name, members_ in (("blob", damaged_blob), ("event", bad_event)):
            path = tmp_path / f"{name}.tar.gz"
            path.write_bytes(_tar(members_))
            with pytest.raises(BundleError):
                import_bundle(target, path)
        assert _store_files(target.home) == before


def test_upload_twice_adds_nothing_the_second_time(server, bundle):
    url, store, _ = server
    first = httpx.post(f"{url}/upload_trajectory", content=bundle.read_bytes(), headers=AUTH).json()
    events, position = first["events"], store.next_position
    assert (first["added_events"], first["added_blobs"]) == (events, 1)
    again = httpx.post(f"{url}/upload_trajectory", content=bundle.read_bytes(), headers=AUTH).json()
    assert (again["added_events"], again["added_blobs"], store.next_position) == (0, 0, position)


def test_the_servers_scratch_directory_lives_only_while_it_serves(tmp_path, bundle, private_tempdir):
    """Uploads are spooled in a private directory made when serving starts and removed when it stops."""
    with Store.open(tmp_path / "server") as store:
        app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model")
        assert list(private_tempdir.iterdir()) == []  # an app never served leaves nothing behind
        with serve_in_thread(app) as url:
            (scratch,) = private_tempdir.iterdir()
            assert scratch.stat().st_mode & 0o777 == 0o700
            answer = httpx.post(f"{url}/upload_trajectory", content=bundle.read_bytes(), headers=AUTH)
            assert answer.status_code == 200 and answer.json()["added_blobs"] == 1
        assert list(private_tempdir.iterdir()) == []


def test_oversized_uploads_get_413(server):
    url, store, _ = server
    position = store.next_position
    big = b"\0" * (65 << 10)
    answer = httpx.post(f"{url}/upload_trajectory", content=big, headers=AUTH)
    assert answer.status_code == 413 and "at most 65536" in answer.json()["detail"]

    def chunks():  # no Content-Length: the cap is enforced while streaming
        for _ in range(80):
            yield b"\0" * 1024

    answer = httpx.post(f"{url}/upload_trajectory", content=chunks(), headers=AUTH)
    assert answer.status_code == 413 and "over 65536 bytes" in answer.json()["detail"]
    assert httpx.put(f"{url}/datasets/big", content=b"{}\n" * 5000, headers=AUTH).status_code == 413
    assert store.next_position == position


def test_names_are_validated_and_errors_are_json(server):
    url, _, _ = server
    for bad in ("..", ".hidden", "a%2Fb", "x" * 200):
        answer = httpx.get(f"{url}/adapters/{bad}", headers=AUTH)
        assert answer.status_code in (404, 422) and "detail" in answer.json(), (bad, answer.text)
    assert httpx.get(f"{url}/adapters/nope", headers=AUTH).status_code == 404
    assert httpx.get(f"{url}/status/nope", headers=AUTH).status_code == 404
    answer = httpx.post(f"{url}/train", json={"steps": "many"}, headers=AUTH)
    assert answer.status_code == 422 and "steps" in answer.json()["detail"]
    answer = httpx.post(f"{url}/train", json={"jobId": "j", "datasetRef": "../etc/passwd", "runId": "r"}, headers=AUTH)
    assert answer.status_code == 422
    answer = httpx.post(f"{url}/train", json={"jobId": "j", "datasetRef": "missing", "runId": "r"}, headers=AUTH)
    assert answer.status_code == 404 and "PUT /datasets/missing" in answer.json()["detail"]
    answer = httpx.post(f"{url}/train", json={"demo_ids": ["nope"]}, headers=AUTH)
    assert answer.status_code == 422 and "no such demo: nope" in answer.json()["detail"]


def test_refuses_to_listen_beyond_loopback_without_a_token():
    for host in ("127.0.0.1", "::1", "localhost"):
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.20", "gpu-box"):
        with pytest.raises(ServerError, match="TRAJ_TOKEN"):
            check_bind(host, None)
        check_bind(host, TOKEN)
    with pytest.raises(ServerError, match="without a token"), serve_in_thread(create_app(EchoPolicy()), "0.0.0.0"):
        pass
