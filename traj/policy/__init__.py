"""Policy backends behind one protocol: transformers, mlx, remote, openai, vllm.

Also constrained decoding (llguidance matchers, shared with the trainers' rollouts), the HTTP
plumbing every client of a model server shares (retries with ``Retry-After``, loopback
detection, one-line error details) and PEFT <-> mlx-lm adapter conversion.
"""

from traj.errors import (
    AdapterFormatError,
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyRequestError,
    PolicyServerError,
    PolicyTimeoutError,
)
from traj.policy._adapter_formats import detect_adapter_format, mlx_to_peft, peft_to_mlx
from traj.policy._base import (
    ChatPolicy,
    Completion,
    Generation,
    Policy,
    TokenText,
    emit_token,
    stopping_when,
    streaming_to,
)
from traj.policy._constrain import Grammars, MlxMasking, TokenConstraint
from traj.policy._http import RETRY_STATUSES, is_loopback, response_detail, retry_delay
from traj.policy._mlx import MlxPolicy, mlx_model_config
from traj.policy._open import BACKENDS, Backend, open_policy, resolve_adapter
from traj.policy._openai import NIM_BASE_URL, OpenAIPolicy
from traj.policy._remote import RemotePolicy
from traj.policy._transformers import TransformersPolicy
from traj.policy._vllm import VLLMPolicy, start_vllm

__all__ = [
    "BACKENDS",
    "NIM_BASE_URL",
    "RETRY_STATUSES",
    "AdapterFormatError",
    "Backend",
    "ChatPolicy",
    "Completion",
    "Generation",
    "Grammars",
    "MlxMasking",
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
    "TokenConstraint",
    "TokenText",
    "TransformersPolicy",
    "VLLMPolicy",
    "detect_adapter_format",
    "emit_token",
    "is_loopback",
    "mlx_model_config",
    "mlx_to_peft",
    "open_policy",
    "peft_to_mlx",
    "resolve_adapter",
    "response_detail",
    "retry_delay",
    "start_vllm",
    "stopping_when",
    "streaming_to",
]
