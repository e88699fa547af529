"""The envelope every event shares, and its Arrow schema (WAL and Parquet alike)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa

from traj.errors import InvalidEventError
from traj.eventlog._ids import new_event_id, normalize_event_id
from traj.eventlog._payloads import Payload, decode_payload, encode_payload, payload_class

__all__ = ["EVENT_SCHEMA", "Event", "NewEvent", "events_from_table", "validate_stream_name"]

EVENT_SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("stream", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("v", pa.int16(), nullable=False),
        pa.field("data", pa.string(), nullable=False),
        pa.field("blobs", pa.list_(pa.string()), nullable=False),
    ]
)
"""Columns of the log. ``position`` is global and gap-free; ``data`` is the payload as JSON."""

_STREAM_RE = re.compile(r"^[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:@=+-]+)*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


def validate_stream_name(stream: str) -> str:
    """Return ``stream`` if it is a valid name like ``demo/<id>``, else raise InvalidEventError."""
    if not isinstance(stream, str) or not stream or len(stream) > 512 or not _STREAM_RE.match(stream):
        raise InvalidEventError(
            f"invalid stream name {stream!r}: use segments of letters, digits and ._:-, "
            "separated by '/', e.g. 'demo/0192f3a1'"
        )
    return stream


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event to append: a typed payload, its id (kept for retries) and blob references."""

    data: Payload
    event_id: str = msgspec.field(default_factory=new_event_id)
    blobs: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        event_type: str,
        data: bytes | str | dict[str, Any],
        *,
        v: int | None = None,
        event_id: str | None = None,
        blobs: Sequence[str] = (),
    ) -> NewEvent:
        """Build an event from untyped input (JSON text or a mapping), validating it."""
        version = payload_class(event_type, v).v
        raw = data if isinstance(data, (bytes, str)) else msgspec.json.encode(data)
        payload = decode_payload(event_type, version, raw)
        return cls(data=payload, event_id=event_id or new_event_id(), blobs=tuple(blobs))

    def encoded(self) -> tuple[str, str, int, str, list[str]]:
        """Validate and return (event_id, type, v, data JSON, blobs) ready for the log."""
        try:
            event_id = normalize_event_id(self.event_id)
        except ValueError:
            raise InvalidEventError(f"event_id {self.event_id!r} is not a UUID") from None
        data = encode_payload(self.data)
        for digest in self.blobs:
            if not isinstance(digest, str) or not _SHA256_RE.match(digest):
                raise InvalidEventError(f"blob reference {digest!r} is not a lowercase sha256 hex digest")
        return event_id, self.data.type, self.data.v, data.decode(), list(self.blobs)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An acknowledged event as read back from the log."""

    position: int
    event_id: str
    stream: str
    seq: int
    type: str
    at: dt.datetime
    v: int
    data: Payload
    blobs: tuple[str, ...] = ()


def events_from_table(table: pa.Table) -> list[Event]:
    """Decode the rows of an events table (EVENT_SCHEMA) into Event objects."""
    rows = table.to_pylist()
    return [
        Event(
            position=row["position"],
            event_id=row["event_id"],
            stream=row["stream"],
            seq=row["seq"],
            type=row["type"],
            at=row["at"],
            v=row["v"],
            data=decode_payload(row["type"], row["v"], row["data"]),
            blobs=tuple(row["blobs"]),
        )
        for row in rows
    ]
