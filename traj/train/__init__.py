"""SDFT (and SFT, DPO) of LoRA adapters with torch + PEFT and MLX, recorded as events.

- :class:`SdftConfig` + :class:`SdftTrainer` (torch; :mod:`traj.train.sdft`), the MLX trainer
  behind ``train(..., backend="mlx")``; :func:`train_config` builds the config from the one
  settings type (:class:`TrainSettings`) the CLI, the server and improvement jobs share;
- :func:`training_examples` (the SDFT feed of :mod:`traj.datasets`) and
  :func:`preference_examples` (DPO pairs) read the data from the log;
- :func:`train` and :func:`resume` run a job and record it (``train/<job>``, ``adapter.created``
  with lineage). The tiny local model is :mod:`traj.tiny`'s.
- :class:`ComputeSettings` says where a machine trains (device, dtype, gradient checkpointing,
  micro-batches, a 4-bit base); :func:`resolve_placement` turns ``auto`` into this machine's
  device and dtype. Under ``torchrun`` the same calls train data-parallel.
"""

from traj.train._config import SdftConfig, StepMetrics, TrainingExample, batches
from traj.train._data import preference_examples, training_examples
from traj.train._device import Placement, resolve_placement
from traj.train._diagnosis import KlDiagnosis, probe_examples
from traj.train._job import TrainResult, model_hash, resume, train
from traj.train._settings import ComputeSettings, TrainSettings, checked_settings, train_config
from traj.train.sdft import SdftTrainer

__all__ = [
    "ComputeSettings",
    "KlDiagnosis",
    "Placement",
    "SdftConfig",
    "SdftTrainer",
    "StepMetrics",
    "TrainResult",
    "TrainSettings",
    "TrainingExample",
    "batches",
    "checked_settings",
    "model_hash",
    "preference_examples",
    "probe_examples",
    "resolve_placement",
    "resume",
    "train",
    "train_config",
    "training_examples",
]
