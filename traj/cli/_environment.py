"""The environment variables traj reads: one table, shown in each reading command's ``--help``.

The README's table and ``traj --help`` come from the same entries; a test checks that every
variable the package reads is here, so a new one cannot stay undocumented.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENVIRONMENT", "EnvVar", "environment_epilog"]


@dataclass(frozen=True)
class EnvVar:
    """One variable: its name, what it sets, and the commands that read it."""

    name: str
    meaning: str
    commands: tuple[str, ...]


_BROWSER = ("record", "replay", "eval", "run", "demo")
ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("TRAJ_HOME", "the store directory when --home is not given (default ./.traj)", ("every command",)),
    EnvVar("TRAJ_CACHE", "where the tiny model is cached (default ~/.cache/traj)", ("demo", "train", "run", "serve")),
    EnvVar("TRAJ_CHROMIUM", "the Chromium binary (default /usr/bin/chromium)", _BROWSER),
    EnvVar("DISPLAY", "with WAYLAND_DISPLAY: a display exists, so the browser opens headed", _BROWSER),
    EnvVar("WAYLAND_DISPLAY", "see DISPLAY", _BROWSER),
    EnvVar("TRAJ_SECRET_<NAME>", "the value of a secret a demonstration types", ("record", "replay", "run")),
    EnvVar("TRAJ_OPENAI_BASE_URL", "--backend openai: the endpoint when --base-url is not given", ("run",)),
    EnvVar("OPENAI_BASE_URL", "--backend openai: the endpoint after TRAJ_OPENAI_BASE_URL", ("run",)),
    EnvVar("TRAJ_OPENAI_API_KEY", "--backend openai: the API key (first choice)", ("run",)),
    EnvVar("OPENAI_API_KEY", "--backend openai: the API key of a remote endpoint", ("run",)),
    EnvVar("NVIDIA_API_KEY", "the NIM key: enrichment, and --backend openai on NIM", ("enrich", "demo", "run")),
    EnvVar("TRAJ_ENRICH_API_KEY", "the enrichment endpoint's key (before NVIDIA_API_KEY)", ("enrich", "demo")),
    EnvVar("TRAJ_VLLM_URL", "--backend vllm: the vLLM server when --base-url is not given", ("run",)),
    EnvVar(
        "TRAJ_VLLM_PYTHON", "--backend vllm: the interpreter of the vLLM environment (default .venv-vllm)", ("run",)
    ),
    EnvVar(
        "VLLM_CPU_KVCACHE_SPACE", "--backend vllm: GiB of KV cache of a vLLM server traj starts (default 1)", ("run",)
    ),
    EnvVar("TRAJ_SERVER_URL", "--backend remote: the traj server when --base-url is not given", ("run",)),
    EnvVar(
        "TRAJ_SERVER_TOKEN", "the token sent to a traj server (run --backend remote, train --remote)", ("run", "train")
    ),
    EnvVar("WORLD_SIZE", "set by torchrun/accelerate: the processes training data-parallel", ("train",)),
    EnvVar("RANK", "set by torchrun/accelerate: this process's rank (only rank 0 writes the store)", ("train",)),
    EnvVar("LOCAL_RANK", "set by torchrun/accelerate: this process's GPU on its machine", ("train",)),
    EnvVar(
        "TRAJ_TOKEN",
        "serve: the token clients must send; else the client token after TRAJ_SERVER_TOKEN",
        ("serve", "run", "train"),
    ),
)


def environment_epilog(command: str | None = None) -> str | None:
    """The ``Environment:`` section of ``command``'s help (every variable for ``traj --help``)."""
    chosen = [v for v in ENVIRONMENT if command is None or command in v.commands]
    if not chosen:
        return None
    # Paragraphs (blank lines): rich help joins single line breaks.
    return "Environment:\n\n" + "\n\n".join(f"{v.name}: {v.meaning}" for v in chosen)
