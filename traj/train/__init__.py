"""SDFT and SFT training of LoRA adapters (torch + PEFT, MLX) and the small local models."""

from traj.train._dpo import preference_examples, preference_margins
from traj.train._job import KlDiagnosis, TrainResult, model_hash, resume, train, training_examples
from traj.train.sdft import SdftConfig, SdftTrainer, StepMetrics, TrainingExample

__all__ = [
    "KlDiagnosis",
    "SdftConfig",
    "SdftTrainer",
    "StepMetrics",
    "TrainResult",
    "TrainingExample",
    "model_hash",
    "preference_examples",
    "preference_margins",
    "resume",
    "train",
    "training_examples",
]
