"""Specialist models: improvement jobs scoped to a task or an agent, the adapter registered as a
task's specialist (what ``traj run --task`` loads by default), and rollback to an earlier one.

Everything is an event (``improve/<job>``, ``specialist/<task>``) read back through the
projections ``improvement_jobs``, ``improvement_runs``, ``specialists``, ``specialist_history``
and ``task_adapters``.
"""

from traj.specialists._jobs import (
    ImprovementJob,
    JobRun,
    JobSettings,
    create_job,
    get_job,
    list_jobs,
    run_job,
    update_job,
)
from traj.specialists._registry import (
    AdapterChoice,
    AdapterSummary,
    SpecialistChange,
    adapter_summaries,
    choose_adapter,
    register_specialist,
    rollback_specialist,
    specialist_of,
    specialists,
)

__all__ = [
    "AdapterChoice",
    "AdapterSummary",
    "ImprovementJob",
    "JobRun",
    "JobSettings",
    "SpecialistChange",
    "adapter_summaries",
    "choose_adapter",
    "create_job",
    "get_job",
    "list_jobs",
    "register_specialist",
    "rollback_specialist",
    "run_job",
    "specialist_of",
    "specialists",
    "update_job",
]
