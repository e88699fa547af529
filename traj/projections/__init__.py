"""DuckDB projections over the event log: demos, steps, enrichments, datasets, lineage.

Every projection is a view over ``events``; rebuilt from scratch it gives the same rows.
"""

from __future__ import annotations

from traj.projections._connection import Projections
from traj.projections._export import FORMATS, STRATEGIES, Export, export_bytes, export_dataset, write_export
from traj.projections._views import VIEWS, create_views

__all__ = [
    "FORMATS",
    "STRATEGIES",
    "VIEWS",
    "Export",
    "Projections",
    "create_views",
    "export_bytes",
    "export_dataset",
    "write_export",
]
