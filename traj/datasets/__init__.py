"""Training and export datasets rendered from the projections: what a model is taught on.

- the SDFT feed (:func:`sdft_items`): per demonstrated decision the student's prompt, the
  teacher's privileged context and prompt, and the target action; :func:`transfer_items`
  gives other instances' decisions with one demonstration as the teacher's context, and
  :func:`instance_items` the states of observed replays of a demo on other instances, the
  teacher reading the demonstration as it went there;
- exports (:func:`export_dataset`): ``from_feedback``, ``from_runs``, ``sdft`` and
  ``preference`` datasets in the columns and conversational form TRL's trainers take as they
  are , reproducible to the byte for a log
  position.

Every prompt is :func:`traj.prompt.build_prompt` over a recorded observation: a dataset
teaches on exactly the text the agent reads.
"""

from traj.datasets._export import (
    FORMATS,
    STRATEGIES,
    Export,
    export_bytes,
    export_dataset,
    write_export,
)
from traj.datasets._feed import (
    TEACHER_LAYOUTS,
    SdftItem,
    TeacherLayout,
    instance_items,
    sdft_action_ids,
    sdft_items,
    transfer_items,
)

__all__ = [
    "FORMATS",
    "STRATEGIES",
    "TEACHER_LAYOUTS",
    "Export",
    "SdftItem",
    "TeacherLayout",
    "export_bytes",
    "export_dataset",
    "instance_items",
    "sdft_action_ids",
    "sdft_items",
    "transfer_items",
    "write_export",
]
