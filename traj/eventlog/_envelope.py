"""The envelope every event shares, and its Arrow schema (WAL and Parquet alike)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import pyarrow as pa

from traj.errors import InvalidEventError
from traj.eventlog._ids import CANONICAL_ID, new_event_id, normalize_event_id
from traj.eventlog._payloads import Payload, decode_payload, encode_payloads, payload_class

__all__ = [
    "EVENT_SCHEMA",
    "EncodedEvents",
    "Event",
    "NewEvent",
    "encode_events",
    "events_from_table",
    "validate_stream_name",
]

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

_STREAM_RE = re.compile(r"[A-Za-z0-9_.:-]+(/[A-Za-z0-9_.:@=+-]+)*")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def validate_stream_name(stream: str) -> str:
    """Return ``stream`` if it is a valid name like ``demo/<id>``, else raise InvalidEventError."""
    if not isinstance(stream, str) or not stream or len(stream) > 512 or not _STREAM_RE.fullmatch(stream):
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

    def __post_init__(self) -> None:
        # Checked here, once, so that appending (and retrying) a batch need not re-check.
        if not (isinstance(self.event_id, str) and CANONICAL_ID.match(self.event_id)):
            try:
                msgspec.structs.force_setattr(self, "event_id", normalize_event_id(self.event_id))
            except ValueError:
                raise InvalidEventError(f"event_id {self.event_id!r} is not a UUID") from None
        if self.blobs and not all(isinstance(d, str) and _SHA256_RE.fullmatch(d) for d in self.blobs):
            raise InvalidEventError(f"blob references must be lowercase sha256 hex digests, got {self.blobs!r}")

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


@dataclass(frozen=True)
class EncodedEvents:
    """A validated batch of events in column form, ready to become one WAL record batch."""

    event_ids: list[str]
    types: list[str]
    versions: list[int]
    data: pa.StringArray
    blobs: list[list[str]]

    def __len__(self) -> int:
        return len(self.event_ids)


def encode_events(events: Sequence[NewEvent | Payload]) -> EncodedEvents:
    """Validate ``events`` (payload shape, event ids, blob references) and encode them.

    Plain payloads get a fresh event id (NewEvent checked its own id and blob references);
    raises InvalidEventError naming the first bad event.
    """
    items = [e if isinstance(e, NewEvent) else NewEvent(data=e) for e in events]
    payloads = [e.data for e in items]
    data = encode_payloads(payloads)  # first: it refuses anything that is not a registered payload
    return EncodedEvents(
        [e.event_id for e in items],
        [p.type for p in payloads],
        [p.v for p in payloads],
        data,
        [list(e.blobs) for e in items],
    )


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
