"""Demonstration enrichment: a vision model explains each step; the SDFT teacher's context is made of it.

``enrich(store, demo_id)`` asks an OpenAI-compatible endpoint (default: NVIDIA NIM,
``meta/llama-3.2-90b-vision-instruct``) about each step and records an ``enrichment`` or an
``enrichment.failed`` event per step; ``enrichment_coverage`` says which steps the teacher
sees explained. The teacher's context made of these events is rendered by
:func:`traj.prompt.render_teacher_context` (enriched where available, the raw action otherwise).
"""

from __future__ import annotations

from traj.enrich._answer import StepExplanation
from traj.enrich._client import NIM_BASE_URL
from traj.enrich._coverage import DemoCoverage, StepCoverage, enrichment_coverage
from traj.enrich._request import PROMPT_VERSION
from traj.enrich._run import DEFAULT_MODEL, EnrichConfig, EnrichResult, StepOutcome, enrich

__all__ = [
    "DEFAULT_MODEL",
    "NIM_BASE_URL",
    "PROMPT_VERSION",
    "DemoCoverage",
    "EnrichConfig",
    "EnrichResult",
    "StepCoverage",
    "StepExplanation",
    "StepOutcome",
    "enrich",
    "enrichment_coverage",
]
