"""Reading an untrusted tar.gz as a stream, every size checked before its bytes are read.

Python's ``tarfile`` reads a GNU long name (``././@LongLink``) or a pax header whole into memory
before its caller sees the member it belongs to: a 1 MiB bundle naming its member with 1 GiB of
'a' cost the importing process 3 GiB and raised an error 1 GiB long. Here the 512-byte headers
are parsed one at a time (by ``tarfile.TarInfo.frombuf``); an extended header over
:data:`MAX_EXTENDED_HEADER` is refused before its body is read, and every byte the archive
unpacks to, headers included, counts against the caller's limit before it is read.

Only what a bundle or an adapter archive holds is understood: files and directories (other
member types are handed to the caller, which refuses them), named by their header, a GNU long
name or a pax ``path`` record (pax ``size`` and ``linkpath`` are honoured too). GNU sparse
members are refused: their data is not laid out as their header says. An archive must end with
its end-of-archive block, so one cut at a member boundary is not taken for a shorter archive.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from traj.errors import BundleError, BundleTooLargeError, one_line

__all__ = ["MAX_EXTENDED_HEADER", "read_tar_gz"]

MAX_EXTENDED_HEADER = 64 << 10
"""The largest GNU long name or pax header read, in bytes (a Linux path is at most 4 KiB)."""

_BLOCK = tarfile.BLOCKSIZE
_END = bytes(_BLOCK)
_CHUNK = 1 << 20
_PAX = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)
_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XGLTYPE, *_PAX)
_PAX_FIELDS = ("path", "linkpath", "size")


def read_tar_gz(
    source: str | Path, *, max_unpacked_bytes: int, max_members: int
) -> Iterator[tuple[tarfile.TarInfo, io.RawIOBase]]:
    """Each member of the tar.gz ``source``, with a reader of its data.

    Read a member's data (or leave it) before asking for the next member. Raises BundleError
    when the archive is not a whole, readable tar.gz, and BundleTooLargeError, before reading
    the bytes concerned, when it would unpack to more than ``max_unpacked_bytes`` (headers
    included), holds more than ``max_members`` members or an extended header over the cap.
    """
    with gzip.open(source, "rb") as raw:
        archive = _Unpacked(raw, max_unpacked_bytes)
        members = 0
        while (info := _next_member(archive)) is not None:
            members += 1
            if members > max_members:
                raise BundleTooLargeError(f"the archive holds more than {max_members} files")
            # tarfile's rule: only files (and types it does not know) are followed by data.
            size = info.size if info.isreg() or info.type not in tarfile.SUPPORTED_TYPES else 0
            archive.charge(_padded(size))
            data = _MemberData(archive, size)
            yield info, data
            archive.skip(data.remaining + _padded(size) - size)


class _Unpacked:
    """The decompressed archive, read forward, with what is read counted against the limit."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self.charged = 0
        self.offset = 0
        """Bytes read so far: where the next read starts."""

    def charge(self, size: int) -> None:
        """Count ``size`` more bytes against the limit, before reading them."""
        self.charged += size
        if self.charged > self._limit:
            raise BundleTooLargeError(f"the archive unpacks to more than {self._limit} bytes (decompression limit)")

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes; BundleError when the archive ends first."""
        try:
            data = self._raw.read(size)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise BundleError(f"not a readable tar.gz archive: {one_line(exc)}") from None
        if len(data) < size:
            raise BundleError(f"the archive is truncated at byte {self.offset + len(data)}")
        self.offset += size
        return data

    def skip(self, size: int) -> None:
        while size > 0:
            size -= len(self.read(min(size, _CHUNK)))


class _MemberData(io.RawIOBase):
    """One member's data, read straight from the archive (its size was charged already)."""

    def __init__(self, archive: _Unpacked, size: int) -> None:
        super().__init__()
        self._archive = archive
        self.remaining = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self.remaining)
        data = self._archive.read(size)
        buffer[:size] = data
        self.remaining -= size
        return size


def _next_member(archive: _Unpacked) -> tarfile.TarInfo | None:
    """The next member's header with its extended headers applied; None at the end-of-archive block."""
    fields: dict[str, str] = {}
    while True:
        at = archive.offset
        archive.charge(_BLOCK)
        block = archive.read(_BLOCK)
        if block == _END:
            return None
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise BundleError(f"not a readable tar.gz archive: {one_line(exc)} in the header at byte {at}") from None
        if info.size < 0:
            raise BundleError(f"not a readable tar.gz archive: negative size in the header at byte {at}")
        if info.type == tarfile.GNUTYPE_SPARSE:
            raise BundleError(f"a GNU sparse member at byte {at}: not supported")
        if info.type not in _EXTENDED:
            return _with_fields(info, fields, at)
        if info.size > MAX_EXTENDED_HEADER:
            raise BundleTooLargeError(
                f"a tar extended header (long name or pax) of {info.size} bytes at byte {at}; "
                f"at most {MAX_EXTENDED_HEADER} are read"
            )
        archive.charge(_padded(info.size))
        body = archive.read(_padded(info.size))[: info.size]
        if info.type == tarfile.GNUTYPE_LONGNAME:
            fields["path"] = _text(body.split(b"\0", 1)[0])
        elif info.type == tarfile.GNUTYPE_LONGLINK:
            fields["linkpath"] = _text(body.split(b"\0", 1)[0])
        elif info.type in _PAX:  # a global header (g) says nothing a bundle member needs
            fields.update(_pax_records(body, at))


def _with_fields(info: tarfile.TarInfo, fields: dict[str, str], at: int) -> tarfile.TarInfo:
    """``info`` named and sized by the extended headers before it, as tarfile would."""
    if "path" in fields:
        info.name = fields["path"]
    if "linkpath" in fields:
        info.linkname = fields["linkpath"]
    if "size" in fields:
        if not fields["size"].isdigit():
            raise BundleError(f"not a readable tar.gz archive: a pax size that is not a number before byte {at}")
        info.size = int(fields["size"])
    if info.isdir():
        info.name = info.name.rstrip("/")
    return info


def _pax_records(body: bytes, at: int) -> dict[str, str]:
    """The records of a pax header (``"<length> <key>=<value>\\n"``) that name or size a member."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(body) and body[pos] != 0:  # some writers pad the body with NULs
        space = body.find(b" ", pos)
        digits = body[pos:space] if space > pos else b""
        end = pos + int(digits) if digits.isdigit() else pos
        key, equals, value = body[space + 1 : end - 1].partition(b"=")
        if end <= space + 1 or end > len(body) or body[end - 1 : end] != b"\n" or not equals:
            raise BundleError(f"not a readable tar.gz archive: a malformed pax header at byte {at}")
        name = _text(key)
        if name.startswith("GNU.sparse."):
            raise BundleError(f"a GNU sparse member after byte {at}: not supported")
        if name in _PAX_FIELDS:
            records[name] = _text(value)
        pos = end
    return records


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _padded(size: int) -> int:
    return -(-size // _BLOCK) * _BLOCK
