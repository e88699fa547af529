"""The write-ahead log: an Arrow IPC stream file, one checksummed record batch per append.

An IPC *stream* has no footer, so a file cut anywhere is still readable up to its last
complete message. Each batch message carries, in its custom metadata, a seal: a CRC32 of the
whole message (framing, flatbuffer metadata and body) and the message's length, so the reader
walks the frames itself and checks every byte before Arrow parses any of them.

What a failed frame means depends on where it is. A crash tears only the end of the file being
written, so a bad *last* frame of the newest file not closed with an end-of-stream marker is
a torn tail: never acknowledged, recovery truncates it. Anywhere else (a verifiable frame after
it, a closed file, an older file) the bytes were acknowledged and damaged afterwards: that is
CorruptWALError and nothing is truncated.

Format versions, told apart by the schema header: 2 (``traj.wal: 2`` in the schema metadata)
seals whole messages as above; 1 (no schema metadata) has a CRC32 of the body alone under
``traj.crc32``, and is still read: its framing is bounds-checked and its body's CRC checked
before decoding, but no checksum covers its metadata, so Arrow parses that unchecked and the
decoded batch is validated in full (a damaged buffer offset there can still decode as other
values: a reason to seal such files into Parquet soon).
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from traj.errors import CorruptWALError, one_line
from traj.eventlog._envelope import EVENT_SCHEMA
from traj.eventlog._fsutil import fsync_dir

__all__ = ["WAL_NAME", "WalScan", "WalWriter", "read_wal", "recover_wal", "wal_header", "wal_name"]

WAL_NAME = re.compile(r"\d{20}\.arrow")
"""How a WAL file is named: its first position (see wal_name); any other ``*.arrow`` is no WAL file."""

_WAL_SCHEMA = EVENT_SCHEMA.with_metadata({b"traj.wal": b"2"})
_SEAL_KEY = b"traj.seal"
_SEAL_MARK = b"traj2:"
"""Starts the seal's value: found by a byte search of the metadata, so no flatbuffer parsing."""
_CRC_DIGITS = 10
_LENGTH_DIGITS = 12
_CRC_PLACEHOLDER = b"4294967296"
"""2**32: as wide as any CRC32 in decimal, and never a valid one (an unpatched batch fails its check).
The CRC is computed with these digits in place of its own."""
_SEAL_PLACEHOLDER = _SEAL_MARK + _CRC_PLACEHOLDER + b"0" * _LENGTH_DIGITS
_V1_CRC = re.compile(rb"\n\x00\x00\x00(\d{10})\x00")
"""Version 1's body CRC: a flatbuffer string of 10 digits (its key ``traj.crc32`` is not digits)."""
_CONTINUATION = b"\xff\xff\xff\xff"
_END_OF_STREAM = _CONTINUATION + b"\x00\x00\x00\x00"
_LEGACY_END_OF_STREAM = b"\x00\x00\x00\x00"
"""What Arrow also reads as the end of a stream (the format before continuation markers)."""
_ALIGNMENT = 8
"""Every IPC message starts on a multiple of 8 bytes: where to look for frames after a bad one."""
_INITIAL_BUFFER = 1 << 20
_KEEP_BUFFER = 64 << 20
_METADATA_SLACK = 64 << 10


def wal_name(first_position: int) -> str:
    """File name of a WAL file whose first event has ``first_position`` (sorts by position)."""
    return f"{first_position:020d}.arrow"


def wal_header() -> bytes:
    """The exact bytes every WAL file of the current format starts with: the schema message."""
    return _schema_message(_WAL_SCHEMA)


def _schema_message(schema: pa.Schema) -> bytes:
    sink = pa.BufferOutputStream()
    pa.ipc.new_stream(sink, schema).close()
    return sink.getvalue().to_pybytes()[: -len(_END_OF_STREAM)]


_HEADER = wal_header()
_HEADER_V1 = _schema_message(EVENT_SCHEMA)


class WalWriter:
    """Appends sealed record batches to a new WAL file; the caller decides when to sync.

    Each batch is serialized into one reusable in-memory buffer and goes to the file in one
    ``write`` call: no per-buffer writes, and no fresh pages to fault in for every append.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "xb", buffering=0)  # noqa: SIM115 -- lives as long as the writer; never reuse a file
        self._size = 0
        self._buffer = bytearray(_INITIAL_BUFFER)
        os.fsync(self._file.fileno())
        fsync_dir(path.parent)

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._size

    def write(self, batch: pa.RecordBatch) -> None:
        """Write one batch (one append call); not durable until ``sync``."""
        self._write_all(self._message(batch))

    def _message(self, batch: pa.RecordBatch) -> memoryview:
        """The IPC message of ``batch`` with its seal (CRC32 and length of the whole message) patched in.

        The message is written once with a placeholder seal of the same width, then the
        length and the CRC are patched in: the flatbuffer layout does not depend on the digits.
        """
        while True:
            sink = pa.FixedSizeBufferWriter(pa.py_buffer(self._buffer))
            try:
                writer = pa.ipc.new_stream(sink, _WAL_SCHEMA)
                writer.write_batch(batch, custom_metadata={_SEAL_KEY: _SEAL_PLACEHOLDER})
                break
            except (pa.ArrowInvalid, pa.ArrowIOError, OSError):  # the buffer is too small
                needed = len(_HEADER) + pa.ipc.get_record_batch_size(batch) + _METADATA_SLACK
                self._buffer = bytearray(max(needed, 2 * len(self._buffer)))
        header, end = len(_HEADER), sink.tell()
        view = memoryview(self._buffer)
        body = header + 8 + int.from_bytes(view[header + 4 : header + 8], "little")
        crc_at = self._buffer.find(_SEAL_PLACEHOLDER, header, body) + len(_SEAL_MARK)
        length_at = crc_at + _CRC_DIGITS
        self._buffer[length_at : length_at + _LENGTH_DIGITS] = b"%012d" % (end - header)
        self._buffer[crc_at:length_at] = b"%010d" % zlib.crc32(view[header:end])
        start = header if self._size else 0  # the header goes out with the first batch
        if len(self._buffer) > _KEEP_BUFFER:  # one huge append should not pin its size forever
            message = memoryview(bytes(view[start:end]))
            view.release()
            self._buffer = bytearray(_INITIAL_BUFFER)
            return message
        return view[start:end]

    def _write_all(self, data: memoryview) -> None:
        while data:
            written = self._file.write(data)
            self._size += written
            data = data[written:]

    def sync(self) -> None:
        """fdatasync: everything written so far is durable when this returns.

        fdatasync flushes the data and the metadata needed to read it back (the file size);
        the file's own creation was made durable when it was created.
        """
        os.fdatasync(self._file.fileno())

    def close(self) -> None:
        """Write the end-of-stream marker, fsync and close."""
        self._write_all(memoryview(_HEADER + _END_OF_STREAM if self._size == 0 else _END_OF_STREAM))
        os.fsync(self._file.fileno())
        self._file.close()


@dataclass(frozen=True)
class WalScan:
    """The readable content of a WAL file."""

    batches: list[pa.RecordBatch]
    good_bytes: int
    """Length of the valid prefix (header plus verified batches)."""
    total_bytes: int
    problem: str = ""
    """Why reading stopped before the end of the file (a torn tail), or '' if it did not."""

    @property
    def torn_bytes(self) -> int:
        """Bytes past the valid prefix (0 for a clean file, ignoring an end-of-stream marker)."""
        return self.total_bytes - self.good_bytes


def read_wal(path: Path, start: int = 0, end: int | None = None) -> WalScan:
    """Read every verified batch of the WAL file at ``path`` between byte offsets ``start`` and ``end``.

    ``start`` is 0 or a ``good_bytes`` returned by an earlier scan of the same file, so a
    reader following a live WAL only decodes what is new; ``end`` (default: end of file)
    keeps a reader from seeing bytes not yet acknowledged, so everything before it must
    verify. Only a torn tail (see the module docstring) ends a scan early; any other damage,
    and a damaged header, raise CorruptWALError naming the file and the byte offset.
    """
    # Listed before reading: a newer file proves this one was final before we read it.
    final = end is not None or _newer_wal_exists(path)
    with open(path, "rb") as f:
        head = f.read(len(_HEADER))
        if head.startswith(_HEADER_V1):
            head = head[: len(_HEADER_V1)]
        offset = max(start, len(head))
        f.seek(offset)
        rest = f.read() if end is None else f.read(max(0, end - offset))
    if head not in (_HEADER, _HEADER_V1):
        # Shorter than a header when read: created, nothing appended yet. Bytes read after it
        # mean a live writer's first append landed in between, never damage.
        if _HEADER.startswith(head) or _HEADER_V1.startswith(head):
            return WalScan([], 0, len(head), "torn header (file created, nothing appended)")
        raise CorruptWALError(
            f"WAL file {path} has a damaged header (at byte 0); its events cannot be read "
            "(restore the file from a backup; the store refuses to write until then)"
        )
    return _Walk(path, offset, rest, version=2 if head == _HEADER else 1).scan(final=final)


def recover_wal(path: Path) -> WalScan:
    """Truncate a WAL file to its last verified batch (fsynced) and return what it holds.

    A file holding only part of its header was created but never appended to; it is
    removed, and the scan comes back empty.
    """
    scan = read_wal(path)
    if scan.good_bytes == 0:
        path.unlink()
        fsync_dir(path.parent)
        return scan
    if scan.torn_bytes and scan.problem:
        with open(path, "r+b") as f:
            f.truncate(scan.good_bytes)
            f.flush()
            os.fsync(f.fileno())
    return scan


def _newer_wal_exists(path: Path) -> bool:
    """Whether a WAL file starting at a later position exists: the writer only opens one after closing this."""
    return any(WAL_NAME.fullmatch(p.name) and p.name > path.name for p in path.parent.iterdir())


class _BadFrameError(Exception):
    """A frame that does not verify; its message says how."""


class _Walk:
    """One pass over the bytes ``data`` of the WAL file ``path``, which start at file offset ``offset``."""

    def __init__(self, path: Path, offset: int, data: bytes, *, version: int) -> None:
        self.path = path
        self.offset = offset
        self.data = data
        self.buffer = pa.py_buffer(data)
        self.version = version
        self.verify = self._verify_v2 if version == 2 else self._verify_v1

    def scan(self, *, final: bool) -> WalScan:
        """Every frame up to the end of the data, an end-of-stream marker or a torn tail."""
        batches: list[pa.RecordBatch] = []
        at, total = 0, len(self.data)
        while at < total:
            try:
                marker = self._end_of_stream(at)
                if marker:
                    if at + marker == total:
                        break  # closed cleanly
                    raise _BadFrameError(f"{total - at - marker} bytes after the end-of-stream marker")
                length = self.verify(at)
                batch = self._decode(at, length)
            except _BadFrameError as bad:
                problem = f"{bad} at byte {self.offset + at}"
                self._refuse_unless_torn(problem, at + _ALIGNMENT, final)
                return WalScan(batches, self.offset + at, self.offset + total, problem)
            batches.append(batch)
            at += length
        return WalScan(batches, self.offset + at, self.offset + total)

    def _end_of_stream(self, at: int) -> int:
        """Length of the end-of-stream marker at ``at`` (0 if there is none)."""
        if self.data.startswith(_END_OF_STREAM, at):
            return len(_END_OF_STREAM)
        return len(_LEGACY_END_OF_STREAM) if self.data.startswith(_LEGACY_END_OF_STREAM, at) else 0

    def _refuse_unless_torn(self, problem: str, after: int, final: bool) -> None:
        """Raise CorruptWALError unless the bad bytes before ``after`` can begin a torn tail.

        (The next frame could start at ``after`` at the earliest: frames are aligned, and an
        end-of-stream marker is at most as long as the alignment.)
        """
        if self._verifiable_frame_from(after):
            why = "an intact batch follows it"
        elif self._closed():
            why = "the file was closed with an end-of-stream marker"
        elif final:
            why = "the file was complete (a newer WAL file exists, or the bytes were acknowledged)"
        else:
            return
        raise CorruptWALError(
            f"WAL file {self.path}: {problem}, but {why}, so it was acknowledged and damaged afterwards; "
            "the file is left as it is (restore it from a backup; the store refuses to open until then)"
        )

    def _closed(self) -> bool:
        """Whether the data ends with the writer's end-of-stream marker, which it writes after its last frame."""
        end = self.offset + len(self.data)
        return self.data.endswith(_END_OF_STREAM) and (end - len(_END_OF_STREAM)) % _ALIGNMENT == 0

    def _verifiable_frame_from(self, at: int) -> bool:
        """Whether any frame at or after ``at`` verifies: proof that the damage is not a torn tail."""
        while (at := self.data.find(_CONTINUATION, at)) >= 0:
            if (self.offset + at) % _ALIGNMENT == 0:
                try:
                    self.verify(at)
                    return True
                except _BadFrameError:
                    pass
            at += 1
        return False

    def _framing(self, at: int) -> int:
        """The metadata length of the frame at ``at``, bounds-checked against the bytes present."""
        data = self.data
        if len(data) - at < 8:
            raise _BadFrameError("incomplete frame")
        if not data.startswith(_CONTINUATION, at):
            raise _BadFrameError("no frame marker")
        metadata = int.from_bytes(data[at + 4 : at + 8], "little")
        if metadata == 0 or metadata % _ALIGNMENT:
            raise _BadFrameError(f"bad metadata length {metadata}")
        if at + 8 + metadata > len(data):
            raise _BadFrameError("incomplete frame")
        return metadata

    def _verify_v2(self, at: int) -> int:
        """The length of the sealed frame at ``at``, once its CRC over every byte of it holds."""
        data = self.data
        metadata = self._framing(at)
        seal = data.find(_SEAL_MARK, at + 8, at + 8 + metadata)
        if seal < 0:
            raise _BadFrameError("no seal")
        crc_at = seal + len(_SEAL_MARK)
        length_at = crc_at + _CRC_DIGITS
        digits = data[crc_at : length_at + _LENGTH_DIGITS]
        if len(digits) != _CRC_DIGITS + _LENGTH_DIGITS or not digits.isdigit():
            raise _BadFrameError("damaged seal")
        length = int(digits[_CRC_DIGITS:])
        if length < 8 + metadata or length % _ALIGNMENT:
            raise _BadFrameError(f"bad message length {length}")
        if at + length > len(data):
            raise _BadFrameError("incomplete frame")
        view = memoryview(data)
        crc = zlib.crc32(view[at:crc_at])
        crc = zlib.crc32(_CRC_PLACEHOLDER, crc)
        crc = zlib.crc32(view[length_at : at + length], crc)
        if crc != int(digits[:_CRC_DIGITS]):
            raise _BadFrameError("checksum mismatch")
        return length

    def _verify_v1(self, at: int) -> int:
        """The length of the version-1 frame at ``at``: framing bounds-checked, then its body's CRC.

        Arrow parses its metadata unchecked (no checksum covers it); its flatbuffer verifier
        and the full validation in ``_decode`` stand in for one.
        """
        metadata = self._framing(at)
        stored = _V1_CRC.search(self.data, at + 8, at + 8 + metadata)
        if stored is None:
            raise _BadFrameError("no checksum")
        source = pa.BufferReader(self.buffer.slice(at))
        try:
            message = pa.ipc.read_message(source)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise _BadFrameError(f"unreadable frame ({one_line(exc)})") from None
        if message.type != "record batch" or zlib.crc32(message.body) != int(stored.group(1)):
            raise _BadFrameError("checksum mismatch")
        return source.tell()

    def _decode(self, at: int, length: int) -> pa.RecordBatch:
        """The batch of the verified frame at ``at``.

        A version-2 frame verified is byte for byte what the writer wrote; a version-1 frame's
        metadata was not covered, so its batch is validated in full before anything trusts it.
        """
        message = pa.ipc.read_message(self.buffer.slice(at, length))
        try:
            batch = pa.ipc.read_record_batch(message, EVENT_SCHEMA)
            if self.version == 1:
                batch.validate(full=True)
        except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
            raise _BadFrameError(f"invalid batch ({one_line(exc)})") from None
        return batch
