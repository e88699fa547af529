"""The append-only event log: typed events, a checksummed Arrow WAL, Parquet segments, blobs.

Layout of a store directory (default ``./.traj``, or ``$TRAJ_HOME``)::

    LOCK                         single-writer lock (flock)
    manifest.json                the sealed segments, replaced atomically
    wal/<first position>.arrow   Arrow IPC stream files, one checksummed batch per append
    segments/<first>-<last>.parquet   immutable zstd Parquet segments
    blobs/sha256/ab/cd/<sha256>  content-addressed blobs (screenshots, adapter files)

Knows nothing about browsers or models.
"""

from __future__ import annotations

from traj.eventlog._blobs import blob_digest
from traj.eventlog._bundle import (
    BundleLimits,
    BundleSummary,
    clipped,
    export_demos,
    import_bundle,
    import_stream_lines,
    safe_member_name,
    stream_lines,
)
from traj.eventlog._envelope import EVENT_SCHEMA, Event, NewEvent
from traj.eventlog._fsutil import fsync_dir, write_durably
from traj.eventlog._ids import new_event_id
from traj.eventlog._paths import resolve_store_path, store_relative_path
from traj.eventlog._payloads import (
    Action,
    ActionV1,
    AdapterCreated,
    AdapterLoaded,
    AdapterUnloaded,
    BoundingBox,
    DatasetSnapshot,
    DemoFinished,
    DemoStarted,
    DemoSuccess,
    DemoVariables,
    DemoVariablesV1,
    Element,
    Enrichment,
    EnrichmentFailed,
    EnrichmentFailureReason,
    Feedback,
    ImprovementJobCreated,
    ImprovementJobRan,
    ImprovementJobUpdated,
    LocatorsHealed,
    LocatorsHealedV1,
    LocatorStrategy,
    Observation,
    Payload,
    ReplayFinished,
    ReplayFinishedV1,
    ReplayStarted,
    ReplayStep,
    ReplayStepV1,
    RunFinished,
    RunStarted,
    RunStartedV1,
    RunStep,
    RunStepV1,
    Secret,
    SpecialistRegistered,
    SpecialistRolledBack,
    SuccessSpec,
    TrainCheckpoint,
    TrainDiagnosis,
    TrainFinished,
    TrainResumed,
    TrainStarted,
    TrainStep,
    payload_class,
    registered_types,
)
from traj.eventlog._repair import ManifestRepair, repair_manifest
from traj.eventlog._retry import append_at_end
from traj.eventlog._segments import Manifest, Segment
from traj.eventlog._stats import StoreStats, store_stats
from traj.eventlog._store import AppendResult, Snapshot, Store, default_home
from traj.eventlog._tar import read_tar_gz
from traj.eventlog._verify import VerifyReport, verify_store

__all__ = [
    "EVENT_SCHEMA",
    "Action",
    "ActionV1",
    "AdapterCreated",
    "AdapterLoaded",
    "AdapterUnloaded",
    "AppendResult",
    "BoundingBox",
    "BundleLimits",
    "BundleSummary",
    "DatasetSnapshot",
    "DemoFinished",
    "DemoStarted",
    "DemoSuccess",
    "DemoVariables",
    "DemoVariablesV1",
    "Element",
    "Enrichment",
    "EnrichmentFailed",
    "EnrichmentFailureReason",
    "Event",
    "Feedback",
    "ImprovementJobCreated",
    "ImprovementJobRan",
    "ImprovementJobUpdated",
    "LocatorStrategy",
    "LocatorsHealed",
    "LocatorsHealedV1",
    "Manifest",
    "ManifestRepair",
    "NewEvent",
    "Observation",
    "Payload",
    "ReplayFinished",
    "ReplayFinishedV1",
    "ReplayStarted",
    "ReplayStep",
    "ReplayStepV1",
    "RunFinished",
    "RunStarted",
    "RunStartedV1",
    "RunStep",
    "RunStepV1",
    "Secret",
    "Segment",
    "Snapshot",
    "SpecialistRegistered",
    "SpecialistRolledBack",
    "Store",
    "StoreStats",
    "SuccessSpec",
    "TrainCheckpoint",
    "TrainDiagnosis",
    "TrainFinished",
    "TrainResumed",
    "TrainStarted",
    "TrainStep",
    "VerifyReport",
    "append_at_end",
    "blob_digest",
    "clipped",
    "default_home",
    "export_demos",
    "fsync_dir",
    "import_bundle",
    "import_stream_lines",
    "new_event_id",
    "payload_class",
    "read_tar_gz",
    "registered_types",
    "repair_manifest",
    "resolve_store_path",
    "safe_member_name",
    "store_relative_path",
    "store_stats",
    "stream_lines",
    "verify_store",
    "write_durably",
]
