"""The ``vllm`` backend: the ``openai`` backend plus adapter management on a vLLM server.

vLLM serves LoRA adapters as extra model names and loads them at runtime through
``POST /v1/load_lora_adapter`` when started with ``--enable-lora`` and
``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``. Each adapter version is served under a unique name,
``<name>-<adapter id>`` (the id is a digest of the adapter's files), loaded before the version
it replaces is unloaded: reloading in place under one name lets vLLM reuse stale prefix-cache
entries. Requests select the adapter by that model name.

:func:`start_vllm` runs a vLLM server from its own virtual environment (vLLM pins its own torch
and transformers; ``bash scripts/setup-vllm.sh`` builds ``.venv-vllm``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from traj.errors import PolicyError, one_line
from traj.policy._adapters import LoadedAdapters
from traj.policy._openai import OpenAIPolicy

__all__ = ["VLLMPolicy", "start_vllm", "vllm_python"]

DEFAULT_VLLM_URL = "http://127.0.0.1:8000/v1"
_ID_LENGTH = 12


class VLLMPolicy(OpenAIPolicy):
    """A vLLM server's OpenAI API, with traj adapters loaded onto it and unloaded as versions change."""

    backend = "vllm"

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60,
        max_retries: int = 2,
        vision: bool | None = None,
        context_window: int | None = None,
    ) -> None:
        """``base_url`` defaults to ``$TRAJ_VLLM_URL``, then ``http://127.0.0.1:8000/v1``.

        ``model`` defaults to the base model the server serves, ``context_window`` to its
        ``max_model_len``; both are asked of ``/v1/models`` here, so an unreachable server
        fails now, not at the first prompt.
        """
        url = base_url or os.environ.get("TRAJ_VLLM_URL") or DEFAULT_VLLM_URL
        super().__init__(
            model or "", base_url=url, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries, vision=vision
        )
        base = self._base_entry(model)
        self.model_id = str(base["id"])
        if vision is None:
            self.vision = False  # a name-based guess would need the served name, which is a path here
        self.context_window = context_window or int(base.get("max_model_len") or 2048)
        self._served: LoadedAdapters[str] = LoadedAdapters()
        """Adapter name -> the model name its loaded version is served under."""

    def count_tokens(self, text: str) -> int:
        """Exact: the server's ``/tokenize`` of ``text`` as one user turn, chat template included.

        Prompts are budgeted against the server's ``max_model_len``, which rejects a prompt one
        token over, so an estimate is not enough (falls back to it where ``/tokenize`` fails).
        """
        import httpx

        body = {"model": self.model_id, "messages": [{"role": "user", "content": text}], "add_generation_prompt": True}
        try:
            response = httpx.post(self.base_url.removesuffix("/v1") + "/tokenize", json=body, timeout=self.timeout_s)
            return int(response.raise_for_status().json()["count"])
        except (httpx.HTTPError, KeyError, ValueError):
            return super().count_tokens(text)

    # ------------------------------------------------------------------ adapters

    @property
    def adapters(self) -> list[str]:
        """The adapters this policy loaded (by name; each is served as ``<name>-<adapter id>``)."""
        return self._served.names

    @property
    def active_adapter(self) -> str | None:
        return self._served.active

    def served_name(self, name: str) -> str:
        """The model name the loaded version of adapter ``name`` answers to on the server."""
        return self._served.require(name)

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load the PEFT adapter at ``path`` (a directory the vLLM server can read) as adapter ``name``.

        A new version of ``name`` is loaded under its own served name and becomes active; the
        previous versions of ``name`` on the server are unloaded afterwards. Loading the same
        files again changes nothing.
        """
        path = Path(path).resolve()
        rank = _adapter_rank(path)
        served = f"{name}-{adapter_id(path)}"
        on_server = self._model_ids()
        if served not in on_server:
            self._lora_call("load_lora_adapter", {"lora_name": served, "lora_path": str(path)}, rank=rank)
        self._served.add(name, served)
        self.set_adapter(name)
        stale = re.compile(rf"{re.escape(name)}-[0-9a-f]{{{_ID_LENGTH}}}")
        for old in on_server:
            if old != served and stale.fullmatch(old):
                self._lora_call("unload_lora_adapter", {"lora_name": old})

    def set_adapter(self, name: str | None) -> None:
        """Ask for adapter ``name``'s served version from now on (``None``: the base model)."""
        self._active = None if name is None else self.served_name(name)
        self._served.active = name

    def unload_adapter(self, name: str) -> None:
        """Unload adapter ``name``'s version from the server; the base model becomes active if it was."""
        served = self.served_name(name)
        self._lora_call("unload_lora_adapter", {"lora_name": served})
        self._served.remove(name)
        if self._served.active == name:
            self.set_adapter(None)

    # ------------------------------------------------------------------ the server's API

    def _base_entry(self, model: str | None) -> dict[str, Any]:
        """``/v1/models``'s entry for the base model (``model``, or the one entry without a parent)."""
        entries = self._models()
        bases = [entry for entry in entries if not entry.get("parent")]
        for entry in bases:
            if model is None or entry["id"] == model:
                return entry
        served = ", ".join(str(entry["id"]) for entry in bases) or "none"
        raise PolicyError(f"the vLLM server at {self.base_url} does not serve {model!r} (serves: {served})")

    def _models(self) -> list[dict[str, Any]]:
        import httpx

        try:
            response = self._client.get("/models", cast_to=httpx.Response)
            return list(response.json()["data"])
        except PolicyError:
            raise
        except Exception as exc:
            raise self._translate(exc, what="listing models") from None

    def _model_ids(self) -> list[str]:
        return [str(entry["id"]) for entry in self._models()]

    def _lora_call(self, route: str, body: dict[str, str], *, rank: int | None = None) -> None:
        """``POST /v1/<route>``, its refusals explained: runtime updating off, rank over the server's maximum."""
        import httpx
        import openai

        try:
            self._client.post(f"/{route}", body=body, cast_to=httpx.Response)
        except openai.APIStatusError as exc:
            detail = _detail(exc)
            if exc.status_code in (404, 405) and "lora" not in detail.lower():
                raise PolicyError(
                    f"the vLLM server at {self.base_url} does not load adapters at runtime (HTTP {exc.status_code} "
                    f"on /{route}): start it with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
                ) from None
            if "rank" in detail.lower() and rank is not None:
                raise PolicyError(
                    f"the vLLM server at {self.base_url} refused adapter {body['lora_name']!r} of rank {rank}: "
                    f"raise the server's --max-lora-rank to at least {rank} ({detail})"
                ) from None
            if exc.status_code >= 500 or exc.status_code in (401, 403, 429):
                raise self._translate(exc, what=route.replace("_", " ")) from None
            raise PolicyError(
                f"the vLLM server at {self.base_url} refused {route} of {body['lora_name']!r}: {detail}"
            ) from None
        except Exception as exc:
            raise self._translate(exc, what=route.replace("_", " ")) from None


def adapter_id(path: Path) -> str:
    """A digest of the adapter's config and weights: the same files give the same id, new weights a new one."""
    digest = hashlib.sha256()
    for file in sorted(path.iterdir()):
        if file.is_file() and (file.name == "adapter_config.json" or file.name.startswith("adapter_model")):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:_ID_LENGTH]


def _adapter_rank(path: Path) -> int:
    """The largest LoRA rank in a PEFT adapter's config (its ``r`` and any per-module ``rank_pattern``)."""
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise PolicyError(f"no PEFT adapter at {path} (adapter_config.json is missing)")
    try:
        config = json.loads(config_file.read_text())
        return max([int(config.get("r", 8)), *(int(r) for r in (config.get("rank_pattern") or {}).values())])
    except (ValueError, TypeError, AttributeError) as exc:
        raise PolicyError(f"cannot read {config_file}: {one_line(exc)}") from None


def _detail(exc: Any) -> str:
    """vLLM's error text: ``{"error": {"message": ...}}``, ``{"message": ...}`` or the raw body."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return " ".join(str(inner["message"]).split())
        if isinstance(inner, str):
            return " ".join(inner.split())
    text = getattr(getattr(exc, "response", None), "text", "") or str(exc)
    return " ".join(text.split())[:300]


# ---------------------------------------------------------------------- running a vLLM server


def vllm_python() -> Path:
    """The interpreter of the vLLM environment: ``$TRAJ_VLLM_PYTHON``, else ``.venv-vllm`` of this checkout."""
    configured = os.environ.get("TRAJ_VLLM_PYTHON")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".venv-vllm" / "bin" / "python"


@contextlib.contextmanager
def start_vllm(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_lora_rank: int = 16,
    max_model_len: int = 512,
    dtype: str = "float32",
    runtime_lora: bool = True,
    log_path: str | Path | None = None,
    startup_timeout_s: float = 600.0,
    python: str | Path | None = None,
) -> Iterator[str]:
    """Run a vLLM server on ``model_dir`` until the block ends; yields its OpenAI base URL (``.../v1``).

    ``port=0`` picks a free one. ``runtime_lora=False`` starts it without runtime adapter
    loading (for checking that path's error). The server's output goes to ``log_path`` (default:
    a temporary file), whose tail a failed start quotes. It runs in its own process group,
    stopped with SIGTERM (SIGKILL after 30 s) when the block ends; its scratch files (sockets,
    the distributed-init file) go in a temporary directory of their own, removed then.
    """
    import tempfile

    interpreter = Path(python) if python is not None else vllm_python()
    if not interpreter.is_file():
        raise PolicyError(
            f"no vLLM environment at {interpreter}: build it with 'bash scripts/setup-vllm.sh' "
            "(or point $TRAJ_VLLM_PYTHON at a Python that has vllm)"
        )
    if not (Path(model_dir) / "config.json").is_file():
        raise PolicyError(f"no model at {model_dir} (config.json is missing)")
    port = port or _free_port(host)
    command = [
        str(interpreter),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--host",
        host,
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--dtype",
        dtype,
        # guided JSON without free whitespace: an action is compact JSON, and a sampled model
        # otherwise spent its few tokens on blanks between the fields and was cut mid-action
        "--structured-outputs-config",
        '{"backend": "xgrammar", "disable_any_whitespace": true}',
    ]
    if runtime_lora:
        command += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", "2"]
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"))
    env.pop("VLLM_ALLOW_RUNTIME_LORA_UPDATING", None)
    if runtime_lora:
        env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] = "True"
    log_file = Path(log_path) if log_path is not None else Path(tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
    url = f"http://{host}:{port}"
    # vLLM leaves its ZMQ sockets and its distributed-init file in the temp dir when stopped
    with tempfile.TemporaryDirectory(prefix="traj-vllm-", ignore_cleanup_errors=True) as scratch:
        env["TMPDIR"] = scratch
        with open(log_file, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            _wait_until_healthy(process, url, log_file, startup_timeout_s)
            yield f"{url}/v1"
        finally:
            _stop(process)


def _wait_until_healthy(process: subprocess.Popen[bytes], url: str, log_file: Path, timeout_s: float) -> None:
    """Poll ``/health`` once a second until it answers 200; a server that exits or outlasts
    ``timeout_s`` first is an error quoting its log's tail."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise PolicyError(f"the vLLM server exited with {process.returncode} while starting: {_tail(log_file)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise PolicyError(f"the vLLM server on {url} did not start within {timeout_s:g} s: {_tail(log_file)}")
        time.sleep(1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (vLLM runs an engine core process beside the API), then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # children that outlived the API process
        os.killpg(process.pid, signal.SIGKILL)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(log_file: Path, lines: int = 5) -> str:
    text = log_file.read_text(errors="replace").strip().splitlines()
    return " | ".join(line.strip() for line in text[-lines:]) or f"(no output; see {log_file})"
