"""The small local model the tests and the bundled demo use, built here since nothing can be downloaded.

A Llama-style causal LM of a few million parameters with a locally trained tokenizer, started
from a hand-built copying circuit and pretrained briefly on synthetic browser decisions in the
agent's exact prompt format (:mod:`traj.tiny._synthetic`: one module per family of made-up
sites), then taught to look values up in the goal (:func:`continue_tiny`, skill families of
:mod:`traj.tiny._lookup`, with replay of the first stage's mixture). :func:`init_tiny`
returns the shipped model (``traj/tiny/shipped``, made by :func:`build_tiny`, ``traj model
build``) or builds and caches another seed, recipe or shape (:data:`SHAPES`: larger ones are
for a GPU, ``device="cuda"``). It is
an ordinary Hugging Face directory that transformers, mlx-lm and vLLM load like any checkpoint. :func:`evaluate_tiny`
measures it on sites it never saw; :func:`skill_probes` gives the decisions of held-out kinds
of site (:data:`HELDOUT_KINDS`, none of the pretraining families) that ``bench/skills.py`` reports.
"""

from traj.tiny._heldout import HELDOUT_KINDS, SkillProbe, heldout_episode, skill_probes
from traj.tiny._model import (
    CHAT_TEMPLATE,
    DEFAULT_STEPS,
    EOS,
    SHAPES,
    SHIPPED,
    SPECIAL_TOKENS,
    TinyConfig,
    TinyReport,
    TinyShape,
    build_tiny,
    build_tokenizer,
    build_untrained,
    continue_tiny,
    default_tiny_path,
    evaluate_tiny,
    init_tiny,
    recipe_key,
    shipped_tiny,
)

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_STEPS",
    "EOS",
    "HELDOUT_KINDS",
    "SHAPES",
    "SHIPPED",
    "SPECIAL_TOKENS",
    "SkillProbe",
    "TinyConfig",
    "TinyReport",
    "TinyShape",
    "build_tiny",
    "build_tokenizer",
    "build_untrained",
    "continue_tiny",
    "default_tiny_path",
    "evaluate_tiny",
    "heldout_episode",
    "init_tiny",
    "recipe_key",
    "shipped_tiny",
    "skill_probes",
]
