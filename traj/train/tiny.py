"""Small local models: a Llama-style causal LM of a few million parameters, built here.

No model can be downloaded on the machines traj is tested on, so the tests and the bundled
demo use a model the project builds itself: a byte-level BPE tokenizer trained locally with
``tokenizers``, a Llama config (head_dim 64: vLLM's CPU attention rejects 16), and weights,
saved as an ordinary Hugging Face directory that ``AutoModelForCausalLM.from_pretrained``,
``mlx_lm.load`` and vLLM load exactly as they load a real checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from traj.agent import RULES

__all__ = ["CHAT_TEMPLATE", "EOS", "SPECIAL_TOKENS", "TinyConfig", "build_tokenizer", "build_untrained"]

EOS = "<|end|>"
SPECIAL_TOKENS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", EOS]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


class TinyConfig:
    """Shape of the tiny model: small enough to train on 2 CPU cores in minutes."""

    vocab_size = 2048
    hidden_size = 256
    intermediate_size = 768
    num_hidden_layers = 4
    num_attention_heads = 4
    num_key_value_heads = 4
    head_dim = 64
    max_position_embeddings = 2048
    rope_theta = 10000.0

    @classmethod
    def llama_config(cls, tokenizer_vocab: int, *, pad_id: int, eos_id: int) -> dict[str, object]:
        """The ``config.json`` contents for a tokenizer of ``tokenizer_vocab`` tokens."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": tokenizer_vocab,
            "hidden_size": cls.hidden_size,
            "intermediate_size": cls.intermediate_size,
            "num_hidden_layers": cls.num_hidden_layers,
            "num_attention_heads": cls.num_attention_heads,
            "num_key_value_heads": cls.num_key_value_heads,
            "head_dim": cls.head_dim,
            "max_position_embeddings": cls.max_position_embeddings,
            "rope_theta": cls.rope_theta,
            "rms_norm_eps": 1e-5,
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
            "torch_dtype": "float32",
        }


def build_tokenizer(corpus: list[str], *, vocab_size: int = TinyConfig.vocab_size):
    """Train a byte-level BPE tokenizer on ``corpus``; returns a ``PreTrainedTokenizerFast``.

    Deterministic for a given corpus: BPE merges are ordered by count, then lexically.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS,
        pad_token="<|pad|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=TinyConfig.max_position_embeddings,
    )


def build_untrained(path: str | Path, *, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """Write a randomly initialised tiny model (tokenizer, config, weights) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus or [RULES])
    config = TinyConfig.llama_config(
        len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")  # rope_theta at top level (mlx-lm)
    return path
