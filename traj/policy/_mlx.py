"""The ``mlx`` backend: the same model directory through mlx-lm, adapters hot-swapped in process.

``mlx_lm.server`` reloads the base model on every adapter change. Here the base is loaded once;
each adapter's weights are kept in memory, and switching replaces the LoRA layers
(``remove_lora_layers``, ``linear_to_lora_layers``) and loads that adapter's weights into them.
Removing the layers restores the original linear modules, so the bare base is exact again.
PEFT adapters are converted on load (:mod:`traj.policy._adapter_formats`).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import PolicyError, one_line
from traj.policy._adapter_formats import detect_adapter_format, peft_to_mlx
from traj.policy._adapters import LoadedAdapters
from traj.policy._base import Completion, Generation, TokenText, emit_token, model_text, should_stop
from traj.policy._constrain import Grammars, MlxMasking

if TYPE_CHECKING:
    from traj.prompt import Prompt

__all__ = ["MlxPolicy", "mlx_model_config"]


class MlxPolicy:
    """A local causal LM through mlx-lm (Metal on a Mac, ``mlx[cpu]`` on Linux), with LoRA adapters."""

    backend = "mlx"
    constrains_output = True
    """A ``response_format`` is enforced token by token (:mod:`traj.policy._constrain`, llguidance)."""

    def __init__(self, model_dir: str | Path, *, context_window: int | None = None) -> None:
        try:
            import mlx_lm
        except ImportError as exc:
            raise PolicyError(f"the mlx backend needs mlx-lm: pip install 'mlx-lm[cpu]' on Linux ({exc})") from None

        model_dir = Path(model_dir)
        self.model_id = str(model_dir)
        config = _read_json(model_dir / "config.json")
        try:
            self.model, self.tokenizer = mlx_lm.load(str(model_dir), model_config=_model_config(config))
        except (OSError, ValueError, KeyError) as exc:
            raise PolicyError(f"cannot load the model at {model_dir} with mlx-lm: {one_line(exc)}") from None
        self.base_loads = 1
        self.context_window = context_window or int(config.get("max_position_embeddings") or 2048)
        # prompts are budgeted by the caller: no "longer than the maximum" warning per count
        self.tokenizer._tokenizer.model_max_length = 1 << 30
        self._loaded: LoadedAdapters[tuple[dict[str, Any], list[tuple[str, Any]]]] = LoadedAdapters()
        """name -> the adapter's mlx-lm config and weights."""
        self._vocab_size = int(config.get("vocab_size") or len(self.tokenizer._tokenizer))
        self._grammars: Grammars | None = None  # compiled on the first constrained generation

    @property
    def adapters(self) -> list[str]:
        return self._loaded.names

    @property
    def active_adapter(self) -> str | None:
        return self._loaded.active

    def load_adapter(self, name: str, path: str | Path) -> None:
        import mlx.core as mx

        self._loaded.check_free(name)
        path = Path(path)
        if not path.is_dir():
            raise PolicyError(f"no adapter directory at {path}")
        with tempfile.TemporaryDirectory() as scratch:
            if detect_adapter_format(path) == "peft":
                path = peft_to_mlx(path, Path(scratch) / "mlx", base_model=self.model_id)
            config = _read_json(path / "adapter_config.json")
            try:
                weights = list(mx.load(str(path / "adapters.safetensors")).items())
            except (OSError, ValueError, RuntimeError) as exc:
                raise PolicyError(f"cannot read the adapter weights at {path}: {one_line(exc)}") from None
        if config.get("fine_tune_type", "lora") != "lora":
            raise PolicyError(f"adapter {name!r}: only LoRA adapters hot-swap (this is {config.get('fine_tune_type')})")
        parameters = config.get("lora_parameters") or {}
        if "num_layers" not in config or not {"rank", "scale"} <= parameters.keys():
            raise PolicyError(f"adapter {name!r}: adapter_config.json needs num_layers and lora_parameters rank, scale")
        config["lora_parameters"] = {"dropout": 0.0, **parameters}
        previous = self._loaded.active
        self._loaded.add(name, (config, weights))
        try:
            self.set_adapter(name)
        except PolicyError:
            self._loaded.remove(name)
            self.set_adapter(previous)  # a bad adapter leaves the policy as it was
            raise

    def set_adapter(self, name: str | None) -> None:
        import mlx.core as mx
        from mlx_lm.tuner.utils import linear_to_lora_layers, remove_lora_layers

        if name is not None:
            self._loaded.require(name)  # before the layers go
        remove_lora_layers(self.model)
        self._loaded.active = None
        if name is None:
            return
        config, weights = self._loaded.require(name)
        try:
            linear_to_lora_layers(self.model, int(config["num_layers"]), config["lora_parameters"])
            _check_fit(name, self.model, weights)
            # strict=False: the base weights are not in the adapter; _check_fit saw every tensor land
            self.model.load_weights(weights, strict=False)
        except (ValueError, KeyError, PolicyError) as exc:
            remove_lora_layers(self.model)
            if isinstance(exc, PolicyError):
                raise
            raise PolicyError(f"adapter {name!r} does not fit this model: {one_line(exc)}") from None
        self.model.eval()  # fresh LoRA layers start in training mode (dropout on)
        # Materialise the new layers here: MLX streams belong to a thread, and a lazy array built
        # on this one cannot be evaluated on the thread that generates (the agent's worker).
        mx.eval(self.model.parameters())
        self._loaded.active = name

    def unload_adapter(self, name: str) -> None:
        self._loaded.remove(name)
        if self._loaded.active == name:
            self.set_adapter(None)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        return self.complete(Completion.of_prompt(prompt, max_new_tokens=max_new_tokens, temperature=temperature))

    def prompt_tokens(self, completion: Completion) -> int:
        return self.count_tokens(model_text(self.tokenizer, completion))

    def complete(self, completion: Completion) -> Generation:
        """Through mlx-lm's ``stream_generate``: each token streamed, checked for a stop, and reported with
        the log probabilities of the raw distribution; a seed reseeds MLX's generator first. Under a
        ``response_format`` a logits processor masks the tokens it forbids, so (as in the transformers
        backend) the probabilities are those of the constrained distribution."""
        import mlx.core as mx
        from mlx_lm.generate import stream_generate
        from mlx_lm.sample_utils import make_sampler

        ids = self.tokenizer.encode(model_text(self.tokenizer, completion), add_special_tokens=False)
        started = time.perf_counter()
        made = TokenText(self.tokenizer)
        logprobs: list[float] = []
        top: list[list[tuple[str, float]]] = []
        pieces: list[str] = []
        if completion.max_new_tokens <= 0:  # mlx-lm reads 0 as an error and -1 as "no limit"
            return Generation("", len(ids), 0, 0.0, [])
        if completion.seed is not None:
            mx.random.seed(completion.seed)
        stops = {self.tokenizer.eos_token_id, *getattr(self.tokenizer, "eos_token_ids", ())}
        sampler = make_sampler(temp=completion.temperature, top_p=completion.top_p)
        processors = []
        if completion.response_format is not None:
            if self._grammars is None:
                self._grammars = Grammars(self.tokenizer._tokenizer, self._vocab_size, stops)
            constraint = self._grammars.constraint(completion.response_format)
            processors = [MlxMasking(constraint, len(ids))] if constraint is not None else []
        try:
            # stream_generate yields every token once; an EOS ends it and comes last (its logprob is kept)
            for response in stream_generate(
                self.model,
                self.tokenizer,
                mx.array(ids),
                max_tokens=completion.max_new_tokens,
                sampler=sampler,
                logits_processors=processors,
            ):
                logprobs.append(float(response.logprobs[response.token]))
                if completion.top_logprobs:
                    best = mx.argsort(-response.logprobs)[: completion.top_logprobs].tolist()
                    top.append([(self.tokenizer.decode([i]), float(response.logprobs[i])) for i in best])
                if response.token in stops:
                    pieces.append("")
                    break
                pieces.append(made.add(int(response.token)))  # mlx-lm's own pieces lag behind their tokens
                emit_token(pieces[-1])
                if should_stop():  # a server's client left, it shuts down, or a stop string appeared
                    break
        except (ValueError, RuntimeError) as exc:
            raise PolicyError(f"mlx-lm failed to generate: {one_line(exc)}") from None
        if rest := made.rest():  # a generation that ended inside a character
            pieces[len(made.tokens) - 1] += rest
            emit_token(rest)
        seconds = time.perf_counter() - started
        text = self.tokenizer.decode(made.tokens, skip_special_tokens=True)
        return Generation(text, len(ids), len(made.tokens), seconds, logprobs, pieces, top)

    def logits(self, text: str) -> Any:
        """Next-token logits at every position of ``text`` through the active adapter (a numpy array)."""
        import mlx.core as mx
        import numpy as np

        ids = mx.array([self.tokenizer.encode(text, add_special_tokens=False)])
        out = self.model(ids)[0].astype(mx.float32)
        mx.eval(out)
        return np.array(out)

    def close(self) -> None:
        self._loaded.by_name.clear()
        self.model = None  # type: ignore[assignment]


def mlx_model_config(model_dir: Path) -> dict[str, Any]:
    """The ``model_config`` overrides ``mlx_lm.load`` needs for the model in ``model_dir`` (the MLX
    policy's and the MLX trainer's: see :func:`_model_config`); PolicyError when its config is unreadable."""
    return _model_config(_read_json(model_dir / "config.json"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyError(f"{path} is missing") from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{path} is not valid JSON: {exc}") from None


def _check_fit(name: str, model: Any, weights: list[tuple[str, Any]]) -> None:
    """Every adapter tensor must land on a LoRA parameter of the same shape.

    ``load_weights(strict=False)`` silently skips a tensor whose name is not in the model and
    never checks shapes: an adapter for other layers would leave zero-initialised LoRA layers
    and compute the bare base.
    """
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(model.parameters()))
    for key, tensor in weights:
        if key not in params or key.rsplit(".", 1)[-1] not in ("lora_a", "lora_b"):
            raise PolicyError(
                f"adapter {name!r} does not fit this model: {key} is not a LoRA parameter here "
                "(a different base model, or LoRA on layers other than the last num_layers)"
            )
        if tuple(tensor.shape) != tuple(params[key].shape):
            raise PolicyError(
                f"adapter {name!r} does not fit this model: {key} is {tuple(tensor.shape)}, "
                f"the model expects {tuple(params[key].shape)}"
            )


def _model_config(config: dict[str, Any]) -> dict[str, Any]:
    """Overrides for mlx-lm read from a transformers 5 ``config.json``.

    transformers 5 writes ``rope_theta`` (and any RoPE scaling) inside ``rope_parameters``;
    mlx-lm's Llama/Qwen2 read them only at the top level, assume their own default theta
    (1e6 for Qwen2) and the logits drift. Pass the real values.
    """
    overrides: dict[str, Any] = {}
    rope = config.get("rope_parameters")
    rope = rope if isinstance(rope, dict) else {}
    theta = config.get("rope_theta") or rope.get("rope_theta")
    if theta:
        overrides["rope_theta"] = float(theta)
    if config.get("rope_scaling") is None and rope.get("rope_type", "default") != "default":
        overrides["rope_scaling"] = {key: value for key, value in rope.items() if key != "rope_theta"}
    return overrides
