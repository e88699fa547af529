"""Every error traj raises, so callers catch traj's errors and never a backend's.

    TrajError
    ├── StoreError                 the event store refused or could not do something
    │   ├── ConflictError          an append stated a stale expected seq
    │   ├── IdempotencyError       re-used event ids that are not an exact retry
    │   ├── InvalidEventError      a payload of the wrong shape or an unknown type
    │   ├── StoreLockedError       another process holds the store's writer lock
    │   ├── CorruptSegmentError    a sealed Parquet segment is missing or damaged
    │   ├── CorruptWALError        a write-ahead-log file is damaged where no crash can tear it
    │   ├── BlobNotFoundError      a referenced blob is not in the store
    │   ├── CorruptBlobError       a blob's bytes no longer match its sha256
    │   └── BundleError            a demo bundle (tar.gz) is malformed or unsafe
    │       └── BundleTooLargeError    it is over a size limit
    ├── QueryError                 a projection query failed (bad SQL, unknown view)
    ├── BrowserError               Chromium or Playwright failed
    ├── PolicyError                a policy backend failed to produce an action
    ├── EnrichmentError            enrichment could not start (bad options); failed steps are events
    ├── TrainingError              training could not start or failed
    ├── SpecialistError            an improvement job or specialist change does not fit the log
    └── ServerError                the traj server answered with an error

Backend errors (DuckDB, pyarrow, OS errors) are translated at the boundary.
"""

from __future__ import annotations

__all__ = [
    "BlobNotFoundError",
    "BrowserError",
    "BundleError",
    "BundleTooLargeError",
    "ConflictError",
    "CorruptBlobError",
    "CorruptSegmentError",
    "CorruptWALError",
    "EnrichmentError",
    "IdempotencyError",
    "InvalidEventError",
    "PolicyError",
    "QueryError",
    "ServerError",
    "SpecialistError",
    "StoreError",
    "StoreLockedError",
    "TrainingError",
    "TrajError",
    "first_line",
    "one_line",
]


def one_line(exc: BaseException) -> str:
    """A backend's error message with its whitespace collapsed: errors print as one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def first_line(exc: BaseException) -> str:
    """The first line of a backend's message (Playwright appends a multi-line call log)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class TrajError(Exception):
    """Base class of every error raised by traj."""


class StoreError(TrajError):
    """The event store refused or could not complete an operation."""


class ConflictError(StoreError):
    """An append stated an expected seq that is not the stream's next seq."""

    def __init__(self, stream: str, expected_seq: int, actual_seq: int) -> None:
        self.stream = stream
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        super().__init__(
            f"conflict on stream {stream!r}: append expected seq {expected_seq}, "
            f"but the stream's next seq is {actual_seq}"
        )


class IdempotencyError(StoreError):
    """Event ids already in the log were re-used in a way that is not an exact retry."""


class InvalidEventError(StoreError):
    """An event payload has the wrong shape, or its type is unknown."""


class StoreLockedError(StoreError):
    """Another process already holds the store's single-writer lock."""


class CorruptSegmentError(StoreError):
    """A sealed Parquet segment is missing, truncated or fails its checksum."""


class CorruptWALError(StoreError):
    """A write-ahead-log file is damaged where a crash cannot tear it: header, acknowledged batches."""


class BlobNotFoundError(StoreError):
    """A blob referenced by hash is not present in the store."""


class CorruptBlobError(StoreError):
    """A blob's bytes no longer hash to the sha256 it is stored (and referenced) under."""


class BundleError(StoreError):
    """A demo bundle (tar.gz of events and blobs) is malformed or unsafe; nothing was imported."""


class BundleTooLargeError(BundleError):
    """A demo bundle is over a size limit (compressed, unpacked or in member count)."""


class QueryError(TrajError):
    """A projection query failed: bad SQL, unknown view or column."""


class BrowserError(TrajError):
    """Chromium or Playwright failed."""


class PolicyError(TrajError):
    """A policy backend failed to produce an action."""


class EnrichmentError(TrajError):
    """Enrichment could not start: bad options. A step that fails is an event, never this error."""


class TrainingError(TrajError):
    """Training could not start or failed."""


class SpecialistError(TrajError):
    """An improvement job or specialist change does not fit the log (unknown adapter, no earlier adapter)."""


class ServerError(TrajError):
    """The traj server answered with an error."""
