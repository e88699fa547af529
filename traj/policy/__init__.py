"""Policy backends behind one protocol: transformers, mlx, remote, openai, vllm."""

from traj.policy._adapter_formats import AdapterFormatError, detect_adapter_format, mlx_to_peft, peft_to_mlx
from traj.policy._base import Generation, Policy, stopping_when
from traj.policy._http import (
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyRequestError,
    PolicyServerError,
    PolicyTimeoutError,
)
from traj.policy._mlx import MlxPolicy, mlx_model_config
from traj.policy._open import BACKENDS, Backend, open_policy, resolve_adapter
from traj.policy._openai import OpenAIPolicy
from traj.policy._remote import RemotePolicy
from traj.policy._transformers import TransformersPolicy
from traj.policy._vllm import VLLMPolicy, start_vllm

__all__ = [
    "BACKENDS",
    "AdapterFormatError",
    "Backend",
    "Generation",
    "MlxPolicy",
    "OpenAIPolicy",
    "Policy",
    "PolicyAuthError",
    "PolicyConnectionError",
    "PolicyNotFoundError",
    "PolicyRateLimitError",
    "PolicyRequestError",
    "PolicyServerError",
    "PolicyTimeoutError",
    "RemotePolicy",
    "TransformersPolicy",
    "VLLMPolicy",
    "detect_adapter_format",
    "mlx_model_config",
    "mlx_to_peft",
    "open_policy",
    "peft_to_mlx",
    "resolve_adapter",
    "start_vllm",
    "stopping_when",
]
