"""Demo bundles: imports are bounded and all-or-nothing, exports are byte-identical.

A bundle is hostile until proven otherwise. A tar header may announce a gigabyte-long name that
a careless reader loads whole before looking at the member; an import that fails part way must
leave the log as it was; and two exports of the same demos must be the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.test_policy_remote import EchoPolicy
from tests.test_serve_security import AUTH, TOKEN
from traj.cli import app
from traj.errors import BundleError, BundleTooLargeError, ServerError
from traj.eventlog import BundleLimits, NewEvent, Store, export_demos, import_bundle, verify_store
from traj.eventlog._bundle import import_stream_lines, stream_lines
from traj.serve import create_app, serve_in_thread
from traj.serve._client import _unpack_adapter

GIB = 1 << 30
MIB = 1 << 20


# ---------------------------------------------------------------------------- header bombs


def _write_gzip_of_repeats(path: Path, head: bytes, filler: bytes, repeats: int, tail: bytes) -> None:
    """gzip ``head + filler * repeats + tail`` into ``path`` without compressing the filler more than once.

    After a full flush deflate starts over with no history, so the filler's compressed bytes
    decompress alike wherever they stand: a gigabyte of input costs one megabyte of work.
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc, size = zlib.crc32(head), len(head)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # no name, mtime 0
        out.write(deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH))
        packed = deflate.compress(filler) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(repeats):
            out.write(packed)
            crc, size = zlib.crc32(filler, crc), size + len(filler)
        out.write(deflate.compress(tail) + deflate.flush(zlib.Z_FINISH))
        crc, size = zlib.crc32(tail, crc), size + len(tail)
        out.write((crc & 0xFFFFFFFF).to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _header_bomb(path: Path, kind: str) -> Path:
    """A ~1 MiB tar.gz whose first member's name is 1 GiB of 'a', as a GNU long name or a pax path."""
    filler = b"a" * MIB
    member = _header("events.jsonl", tarfile.REGTYPE, 0) + b"\0" * 1024  # the member it names, then the end
    if kind == "gnu long name":
        head = _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, GIB)
        tail = b"a" * (MIB - 1) + b"\0"
    else:  # one pax record "<length> path=<value>\n" of exactly 1 GiB
        head = _header("PaxHeader/events.jsonl", tarfile.XHDTYPE, GIB) + b"%d path=" % GIB
        tail = b"a" * (MIB - len(b"%d path=" % GIB) - 1) + b"\n"
    _write_gzip_of_repeats(path, head, filler, GIB // MIB - 1, tail + member)
    return path


_IMPORT_AND_MEASURE = """
import json, sys
from traj.errors import TrajError
from traj.eventlog import Store, import_bundle

def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) << 10 for line in status if line.startswith("VmHWM"))

with Store.open(sys.argv[1]) as store:
    before = peak()
    try:
        import_bundle(store, sys.argv[2])
        error = ""
    except TrajError as exc:
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"grew": peak() - before, "length": len(error), "error": error[:300]}))
"""


@pytest.mark.parametrize("kind", ["gnu long name", "pax path"])
def test_a_gigabyte_tar_header_is_refused_before_it_is_read(tmp_path, kind):
    """The header's size is checked before its body is read: memory stays flat, the error is one short line."""
    bomb = _header_bomb(tmp_path / "bomb.tar.gz", kind)
    assert bomb.stat().st_size < 2 * MIB
    Store.open(tmp_path / "store").close()
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_MEASURE, str(tmp_path / "store"), str(bomb)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["error"].startswith("BundleTooLargeError"), outcome
    assert "extended header" in outcome["error"] and outcome["length"] < 300
    assert outcome["grew"] < 100 * MIB, outcome
    with Store.open(tmp_path / "store", readonly=True) as store:
        assert store.next_position == 0


def test_the_server_answers_a_header_bomb_with_a_short_413(tmp_path):
    """Over HTTP too: the default limits, a 1 MiB upload, an answer of one short line."""
    bomb = _header_bomb(tmp_path / "bomb.tar.gz", "gnu long name")
    with Store.open(tmp_path / "server") as store:
        app = create_app(EchoPolicy(), token=TOKEN, store=store, model_dir=tmp_path / "no-model")
        with serve_in_thread(app) as url:
            answer = httpx.post(f"{url}/upload_trajectory", content=bomb.read_bytes(), headers=AUTH)
        assert answer.status_code == 413 and len(answer.content) < 300, answer.content[:300]
        assert "extended header" in answer.json()["detail"] and store.next_position == 0


def _tar(members: list[tuple[tarfile.TarInfo, bytes]], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=fmt) as tar,
    ):
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_a_long_member_name_is_cut_in_the_error(tmp_path, store, fmt):
    path = tmp_path / "long.tar.gz"
    path.write_bytes(_tar([_file("x" * 5000, b"data")], fmt=fmt))
    with pytest.raises(BundleError, match="unexpected member") as refused:
        import_bundle(store, path)
    assert len(str(refused.value)) < 300 and "5000 characters" in str(refused.value)


def test_extended_headers_count_against_the_unpacked_limit(tmp_path, store):
    """Many small pax headers (each under the per-header cap) cannot add up past the limit."""
    members = []
    for k in range(64):
        data = str(k).encode()
        info, _ = _file(f"blobs/{hashlib.sha256(data).hexdigest()}", data)
        info.pax_headers = {"comment": "c" * (16 << 10)}
        members.append((info, data))
    path = tmp_path / "many.tar.gz"
    path.write_bytes(_tar(members))
    with pytest.raises(BundleTooLargeError, match="decompression limit"):
        import_bundle(store, path, limits=BundleLimits(max_unpacked_bytes=256 << 10))


def test_a_bundle_of_long_pax_names_still_imports(tmp_path, store, events):
    """Names under the cap keep working: a long pax path names a member like a short one does."""
    with Store.open(tmp_path / "laptop") as laptop:
        laptop.append("demo/d1", events.demo("d1", steps=1), 0)
        export_demos(laptop, ["d1"], tmp_path / "d1.tar.gz")
    with tarfile.open(tmp_path / "d1.tar.gz") as tar:
        members = [_file("./" * 60 + m.name, tar.extractfile(m).read()) for m in tar]
    path = tmp_path / "long-names.tar.gz"
    path.write_bytes(_tar(members))
    assert import_bundle(store, path).added_events == 4


def test_a_gnu_sparse_member_is_refused(tmp_path, store):
    info, data = _file("events.jsonl", b"")
    info.type = tarfile.GNUTYPE_SPARSE
    path = tmp_path / "sparse.tar.gz"
    path.write_bytes(_tar([(info, data)], fmt=tarfile.GNU_FORMAT))
    with pytest.raises(BundleError, match="sparse"):
        import_bundle(store, path)


def test_an_archive_cut_at_a_member_boundary_is_refused(tmp_path, store, events):
    """Without its end-of-archive blocks an archive may have lost members: it is truncated, not short."""
    with Store.open(tmp_path / "laptop") as laptop:
        laptop.append("demo/d1", events.demo("d1", steps=1), 0)
        export_demos(laptop, ["d1"], tmp_path / "d1.tar.gz")
    with tarfile.open(tmp_path / "d1.tar.gz") as tar:
        events_member = tar.getmember("events.jsonl")
    end_of_events = events_member.offset_data + -(-events_member.size // 512) * 512
    raw = gzip.decompress((tmp_path / "d1.tar.gz").read_bytes())
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(gzip.compress(raw[:end_of_events], mtime=0))
    with pytest.raises(BundleError, match="truncated"):
        import_bundle(store, path)
    assert store.next_position == 0


# ---------------------------------------------------------------------------- all or nothing


def _lines(bundle: Path) -> tuple[list[tuple[str, bytes]], list[dict]]:
    with tarfile.open(bundle) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar]
    events = next(data for name, data in members if name == "events.jsonl")
    return members, [json.loads(line) for line in events.splitlines()]


def _rebuild(path: Path, members: list[tuple[str, bytes]], lines: list[dict]) -> Path:
    events = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    replaced = [(name, events if name == "events.jsonl" else data) for name, data in members]
    path.write_bytes(_tar([_file(name, data) for name, data in replaced]))
    return path


@pytest.fixture
def two_demos(tmp_path, events) -> Path:
    """A bundle of two demos (two streams, d1's events first in the file) with a screenshot blob on d2."""
    with Store.open(tmp_path / "laptop") as laptop:
        shot = laptop.put_blob(b"\x89PNG" + b"pixels" * 200)
        laptop.append("demo/d1", events.demo("d1", steps=1), 0)
        second = events.demo("d2", steps=2)
        second[1] = events.observation(0, screenshot=shot)
        laptop.append("demo/d2", second, 0)
        export_demos(laptop, ["d1", "d2"], tmp_path / "two.tar.gz")
    return tmp_path / "two.tar.gz"


def _log(store: Store) -> list[dict]:
    return store.read(columns=["position", "event_id", "stream", "seq", "type", "data"]).to_pylist()


def _id_of_first_line_of(lines: list[dict], stream: str) -> str:
    return next(line["event_id"] for line in lines if line["stream"] == stream)


def _break(case: str, lines: list[dict], store: Store) -> list[dict]:
    """The bundle's lines changed so that the second stream (demo/d2) fails, d1 being fine."""
    d1_first = _id_of_first_line_of(lines, "demo/d1")
    d2 = [k for k, line in enumerate(lines) if line["stream"] == "demo/d2"]
    if case == "an event id of the first stream repeated in the second":
        lines[d2[2]]["event_id"] = d1_first
    elif case == "an event id repeated within the second stream":
        lines[d2[3]]["event_id"] = lines[d2[2]]["event_id"]
    elif case == "an event id of the second stream already elsewhere in the store":
        elsewhere = NewEvent.parse(lines[d2[0]]["type"], json.dumps(lines[d2[0]]["data"]))
        store.append("demo/other", [elsewhere], 0)
        lines[d2[2]]["event_id"] = elsewhere.event_id
    elif case == "the second stream's events invalid":
        lines[d2[-1]]["type"] = "demo.nonsense"
    elif case == "the second stream contradicts the store":
        store.append("demo/d2", [NewEvent.parse(lines[d2[0]]["type"], json.dumps(lines[d2[0]]["data"]))], 0)
    elif case == "the second stream not whole":
        lines[d2[1]]["seq"] = 7
    return lines


PARTIAL = [
    "an event id of the first stream repeated in the second",
    "an event id repeated within the second stream",
    "an event id of the second stream already elsewhere in the store",
    "the second stream's events invalid",
    "the second stream contradicts the store",
    "the second stream not whole",
]


@pytest.mark.parametrize("case", PARTIAL)
def test_a_bundle_failing_on_a_later_stream_appends_nothing(tmp_path, store, two_demos, case):
    members, lines = _lines(two_demos)
    path = _rebuild(tmp_path / "broken.tar.gz", members, _break(case, lines, store))
    before = _log(store)
    with pytest.raises(BundleError):
        import_bundle(store, path)
    assert _log(store) == before
    assert verify_store(store.home).ok


def _damaged_blob(members: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(name, b"other bytes" if name.startswith("blobs/") else data) for name, data in members]


def _truncated_in_the_blob(members: list[tuple[str, bytes]]) -> bytes:
    whole = _tar([_file(name, data) for name, data in members])
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        blob = next(m for m in tar if m.name.startswith("blobs/"))
    raw = gzip.decompress(whole)
    return gzip.compress(raw[: blob.offset_data + blob.size // 2], mtime=0)


def test_late_archive_failures_append_nothing(tmp_path, store, two_demos):
    """A damaged blob, a truncated archive or a member over the limit, each after events.jsonl."""
    members, _ = _lines(two_demos)
    assert [name for name, _ in members][:2] == ["bundle.json", "events.jsonl"]
    (tmp_path / "blob.tar.gz").write_bytes(_tar([_file(n, d) for n, d in _damaged_blob(members)]))
    (tmp_path / "cut.tar.gz").write_bytes(_truncated_in_the_blob(members))
    big = [*members, ("blobs/" + "0" * 64, b"\0" * (512 << 10))]
    (tmp_path / "big.tar.gz").write_bytes(_tar([_file(n, d) for n, d in big]))
    before = _log(store)
    for name in ("blob", "cut", "big"):
        with pytest.raises(BundleError):
            import_bundle(store, tmp_path / f"{name}.tar.gz", limits=BundleLimits(max_unpacked_bytes=256 << 10))
        assert _log(store) == before, name
    assert verify_store(store.home).ok


def test_a_whole_bundle_imports_after_a_failed_one(tmp_path, store, two_demos):
    members, lines = _lines(two_demos)
    broken = _rebuild(tmp_path / "broken.tar.gz", members, _break(PARTIAL[0], lines, store))
    with pytest.raises(BundleError):
        import_bundle(store, broken)
    summary = import_bundle(store, two_demos)
    assert (summary.added_events, summary.events, summary.streams) == (10, 10, 2)
    assert store.stream_seq("demo/d1") == 4 and store.stream_seq("demo/d2") == 6


def test_stream_lines_import_once_and_all_or_nothing(tmp_path, store, events):
    """The server's train/<job> lines (stream_lines) go through the same checks as a bundle."""
    with Store.open(tmp_path / "server") as server:
        server.append("demo/d1", events.demo("d1", steps=1), 0)
        server.append("demo/d2", events.demo("d2", steps=1), 0)
        (tmp_path / "lines.jsonl").write_bytes(stream_lines(server, ["demo/d1", "demo/d2"]))
    lines = [json.loads(line) for line in (tmp_path / "lines.jsonl").read_text().splitlines()]
    lines[-1]["event_id"] = lines[0]["event_id"]  # d2's last event reuses d1's first id
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.raises(BundleError, match="appears twice"):
        import_stream_lines(store, tmp_path / "bad.jsonl")
    assert store.next_position == 0
    assert import_stream_lines(store, tmp_path / "lines.jsonl") == 8
    assert import_stream_lines(store, tmp_path / "lines.jsonl") == 0


# ---------------------------------------------------------------------------- byte-identical export


def test_exporting_the_same_demos_twice_gives_the_same_bytes(tmp_path, events):
    """Two exports, to different file names and with the demos named in another order."""
    home = str(tmp_path / "store")
    with Store.open(home) as store:
        shot = store.put_blob(b"\x89PNG" + b"pixels" * 200)
        store.append("demo/d1", events.demo("d1", steps=1), 0)
        second = events.demo("d2", steps=1)
        second[1] = events.observation(0, screenshot=shot)
        store.append("demo/d2", second, 0)
    runner = CliRunner()
    first = runner.invoke(
        app, ["export", "--demo", "d1", "--demo", "d2", "--tar", f"{tmp_path}/a.tar.gz", "--home", home]
    )
    again = runner.invoke(app, ["export", "--demo", "d2", "--demo", "d1", "--tar", f"{tmp_path}/b.tgz", "--home", home])
    assert first.exit_code == 0 and again.exit_code == 0, (first.output, again.output)
    data = (tmp_path / "a.tar.gz").read_bytes()
    assert data == (tmp_path / "b.tgz").read_bytes()
    assert data[3] == 0 and data[4:8] == b"\0\0\0\0"  # gzip: no file name, mtime 0
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        infos = tar.getmembers()
    assert [m.name for m in infos][:2] == ["bundle.json", "events.jsonl"]
    assert [m.name for m in infos][2:] == sorted(m.name for m in infos[2:])
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in infos} == {(0, 0, 0, "", "", 0o644)}


def test_a_downloaded_adapter_archive_with_a_header_bomb_is_refused_before_it_is_read(tmp_path):
    bomb = _header_bomb(tmp_path / "adapter.tar.gz", "gnu long name")
    with pytest.raises(ServerError, match=r"extended header|too large|over") as refused:
        _unpack_adapter(bomb, tmp_path / "unpacked")
    assert len(str(refused.value)) < 400
