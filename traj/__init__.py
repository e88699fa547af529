"""traj: teach a local browser agent a web task by doing it once.

The public surface is listed in ``__all__``; names load on first use so that
``traj --help`` does not pay for pyarrow, DuckDB or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "NewEvent",
    "Projections",
    "Store",
    "TrajError",
    "__version__",
    "verify_store",
    "write_sample_demos",
]

_LAZY = {
    "NewEvent": "traj.eventlog",
    "Store": "traj.eventlog",
    "verify_store": "traj.eventlog",
    "Projections": "traj.projections",
    "TrajError": "traj.errors",
    "write_sample_demos": "traj.sample",
}

if TYPE_CHECKING:
    from traj.errors import TrajError
    from traj.eventlog import NewEvent, Store, verify_store
    from traj.projections import Projections
    from traj.sample import write_sample_demos


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'traj' has no attribute {name!r}")
