"""Policy backends behind one protocol: transformers, mlx, remote, openai."""

from traj.policy._base import Generation, Policy
from traj.policy._open import BACKENDS, Backend, open_policy, resolve_adapter
from traj.policy._transformers import TransformersPolicy, chat_text

__all__ = [
    "BACKENDS",
    "Backend",
    "Generation",
    "Policy",
    "TransformersPolicy",
    "chat_text",
    "open_policy",
    "resolve_adapter",
]
