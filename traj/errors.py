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
    │   └── ActionFailedError      an action could not be carried out on the page
    ├── SecretMissingError         a secret a step types is not set (TRAJ_SECRET_<NAME>)
    ├── ReplayError                a demonstration could not be replayed
    │   ├── VariableError          an unknown --var name, or a goal the demo's variables cannot be bound from
    │   └── TargetNotFoundError    no locator found exactly the demonstrated element
    ├── PolicyError                a policy backend failed to produce an action
    │   ├── ParseError             the model's text holds no action
    │   ├── AdapterFormatError     an adapter directory cannot be read or converted
    │   └── PolicyRequestError     a request to a policy's server failed
    │       ├── PolicyConnectionError   unreachable
    │       ├── PolicyTimeoutError      no answer in time
    │       ├── PolicyAuthError         key or token refused (401, 403)
    │       ├── PolicyNotFoundError     model or adapter not served (404)
    │       ├── PolicyRateLimitError    still rate limited after the retries (429)
    │       └── PolicyServerError       server failure after the retries (5xx)
    ├── FeedbackError              feedback that cannot be recorded
    │   └── UnknownTargetError     the judged run or demo is not in the store
    ├── EnrichmentError            enrichment could not start (bad options); failed steps are events
    ├── TrainingError              training could not start or failed
    ├── QueueFullError             the server's training queue is full; try again later
    ├── SpecialistError            an improvement job or specialist change does not fit the log
    └── ServerError                the traj server answered with an error

Backend errors (DuckDB, pyarrow, OS errors) are translated at the boundary. The packages
that raise an error may name it in their own ``__all__`` too (``traj.policy.PolicyAuthError``
is this module's class).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ActionFailedError",
    "AdapterFormatError",
    "BlobNotFoundError",
    "BrowserError",
    "BundleError",
    "BundleTooLargeError",
    "ConflictError",
    "CorruptBlobError",
    "CorruptSegmentError",
    "CorruptWALError",
    "EnrichmentError",
    "FeedbackError",
    "IdempotencyError",
    "InvalidEventError",
    "ParseError",
    "PolicyAuthError",
    "PolicyConnectionError",
    "PolicyError",
    "PolicyNotFoundError",
    "PolicyRateLimitError",
    "PolicyRequestError",
    "PolicyServerError",
    "PolicyTimeoutError",
    "QueryError",
    "QueueFullError",
    "ReplayError",
    "SecretMissingError",
    "ServerError",
    "SpecialistError",
    "StoreError",
    "StoreLockedError",
    "TargetNotFoundError",
    "TrainingError",
    "TrajError",
    "UnknownTargetError",
    "VariableError",
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


class ActionFailedError(BrowserError):
    """The action could not be carried out on the page (message fit for the agent's history)."""

    def __init__(self, message: str, locators: Sequence[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.locators = list(locators or [])
        """The element's locators, when it was found before the action failed."""


class SecretMissingError(TrajError):
    """A step types a secret that is not set (``TRAJ_SECRET_<NAME>``), or a secret is unusable."""


class ReplayError(TrajError):
    """A demonstration could not be replayed."""


class VariableError(ReplayError):
    """A demo's variables cannot be bound: an unknown ``--var`` name, or a goal whose values cannot be found."""


class TargetNotFoundError(ReplayError):
    """No locator strategy found exactly the demonstrated element."""

    def __init__(self, message: str, tried: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.tried = list(tried)
        """What each rung of the locator ladder found, and why it did not do."""


class PolicyError(TrajError):
    """A policy backend failed to produce an action."""


class ParseError(PolicyError):
    """The model's text holds no action; the message says what was wrong, for the history."""


class AdapterFormatError(PolicyError):
    """An adapter directory is missing files or holds something that cannot be converted."""


class PolicyRequestError(PolicyError):
    """A request to a policy's server failed; ``url`` is where it went, ``status`` the HTTP status if any."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class PolicyConnectionError(PolicyRequestError):
    """The policy's server could not be reached (connection refused, unknown host, reset)."""


class PolicyTimeoutError(PolicyRequestError):
    """The policy's server did not answer within the timeout."""


class PolicyAuthError(PolicyRequestError):
    """The policy's server refused the API key or token (HTTP 401 or 403)."""


class PolicyNotFoundError(PolicyRequestError):
    """The model or adapter asked for is not served there (HTTP 404)."""


class PolicyRateLimitError(PolicyRequestError):
    """The policy's server was still rate limiting (HTTP 429) after the retries."""


class PolicyServerError(PolicyRequestError):
    """The policy's server failed (HTTP 5xx) after the retries."""


class FeedbackError(TrajError):
    """Feedback that cannot be recorded: unknown target, step out of range, malformed correction."""


class UnknownTargetError(FeedbackError):
    """The judged run or demo is not in the store."""


class EnrichmentError(TrajError):
    """Enrichment could not start: bad options. A step that fails is an event, never this error."""


class TrainingError(TrajError):
    """Training could not start or failed."""


class QueueFullError(TrajError):
    """The training queue holds as many jobs as it may; try again later."""


class SpecialistError(TrajError):
    """An improvement job or specialist change does not fit the log (unknown adapter, no earlier adapter)."""


class ServerError(TrajError):
    """The traj server answered with an error."""
