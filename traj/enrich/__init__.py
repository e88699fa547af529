"""Demonstration enrichment: a vision model explains each step; the SDFT teacher's context is made of it.

``enrich(store, demo_id)`` asks an OpenAI-compatible endpoint (default: NVIDIA NIM,
``meta/llama-3.2-90b-vision-instruct``) about each step and records an ``enrichment`` or an
``enrichment.failed`` event per step; ``render_teacher_context`` turns a demonstration into
the teacher's privileged context (enriched where available, the raw action otherwise);
``enrichment_coverage`` says which steps the teacher sees explained.
"""

from __future__ import annotations

from traj.enrich._answer import StepExplanation
from traj.enrich._context import TEACHER_CONTEXT_VERSION, TeacherStep, render_teacher_context
from traj.enrich._coverage import DemoCoverage, StepCoverage, enrichment_coverage
from traj.enrich._request import PROMPT_VERSION
from traj.enrich._run import DEFAULT_MODEL, EnrichConfig, EnrichResult, StepOutcome, enrich

__all__ = [
    "DEFAULT_MODEL",
    "PROMPT_VERSION",
    "TEACHER_CONTEXT_VERSION",
    "DemoCoverage",
    "EnrichConfig",
    "EnrichResult",
    "StepCoverage",
    "StepExplanation",
    "StepOutcome",
    "TeacherStep",
    "enrich",
    "enrichment_coverage",
    "render_teacher_context",
]
