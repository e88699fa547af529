"""Policy backends behind one protocol: transformers, mlx, remote, openai."""

from traj.policy._base import Generation, Policy

__all__ = ["Generation", "Policy"]
