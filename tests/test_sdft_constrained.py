"""SDFT under the page's action constraint: the student's rollouts are valid actions, as the
agent's are, and the divergence is taken over the tokens the constraint allowed, renormalised.

Both trainers (torch and MLX) are checked against one hand computation written from the base
model's logits: at step 0 the student and the EMA teacher are the base model (LoRA starts at
zero), so the trainer's KL must equal the KL of the base model's two prompts' next-token
distributions, each renormalised over the allowed tokens, and must differ from the KL over the
full vocabulary.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.constrained_pages import Page, check_valid, random_page
from traj.policy import Grammars
from traj.prompt import action_response_format, action_schema, action_token_bound, build_prompt, chat_text
from traj.train import SdftConfig, SdftTrainer, TrainingExample
from traj.train._sdft_mlx import MlxSdftTrainer

TRAINERS = {"torch": SdftTrainer, "mlx": MlxSdftTrainer}


def _example(page: Page) -> TrainingExample:
    query = build_prompt(page.goal, page).text
    schema = action_schema(page.goal, page.elements, page.text)
    return TrainingExample(
        query=query,
        teacher_query=f"Demonstration: the first element was clicked.\n{query}",
        target="",
        schema=json.dumps(schema, separators=(",", ":")),
    )


def _pages(seed: int, count: int) -> list[Page]:
    rng = random.Random(seed)
    return [random_page(rng) for _ in range(count)]


def _room(pages: list[Page]) -> int:
    """Tokens enough for the longest valid action on any of ``pages`` (as the agent gives)."""
    return max(action_token_bound(action_schema(p.goal, p.elements, p.text)) for p in pages) + 1


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_an_untrained_students_rollouts_are_valid_actions_on_their_pages(model_dir, backend):
    pages = _pages(11, 6)
    config = SdftConfig(rank=4, lora_alpha=8, temperature=1.0, max_new_tokens=_room(pages))
    trainer = TRAINERS[backend](model_dir, config)
    examples = [_example(page) for page in pages]
    answers = trainer.rollouts([e.query for e in examples], schemas=[e.schema for e in examples])
    eos = trainer.tokenizer.eos_token_id
    for answer, page in zip(answers, pages, strict=True):
        assert answer[-1] == eos  # the action ended: nothing was cut short
        check_valid(trainer.tokenizer.decode(answer[:-1]), page)


def test_without_the_constraint_the_same_student_writes_no_valid_action(model_dir):
    pages = _pages(11, 6)
    config = SdftConfig(rank=4, lora_alpha=8, temperature=1.0, max_new_tokens=_room(pages), constrain=False)
    trainer = SdftTrainer(model_dir, config)
    examples = [_example(page) for page in pages]
    answers = trainer.rollouts([e.query for e in examples], schemas=[e.schema for e in examples])
    invalid = 0
    for answer, page in zip(answers, pages, strict=True):
        try:
            check_valid(trainer.tokenizer.decode(answer, skip_special_tokens=True), page)
        except Exception:
            invalid += 1
    assert invalid == len(pages)


def _hand_kls(
    model_dir, examples: list[TrainingExample], responses: list[list[int]], skip: int, *, constrained: bool = True
) -> tuple[float, float]:
    """(renormalised, full-vocabulary) reverse KL(student || teacher) of the base model, the mean
    over the kept response tokens, computed in float64 from the logits and fresh matchers
    (unconstrained: the full-vocabulary KL twice)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = tokenizer.eos_token_id
    grammars = Grammars(tokenizer, model.config.vocab_size, [eos])
    everything = np.ones(model.config.vocab_size, dtype=bool)
    totals, kept = [0.0, 0.0], 0
    for example, response in zip(examples, responses, strict=True):
        logits = []
        for query in (example.query, example.teacher_query):
            prompt = tokenizer(chat_text(tokenizer, query), add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                out = model(input_ids=torch.tensor([prompt + response])).logits[0].double().numpy()
            logits.append(out[len(prompt) - 1 : len(prompt) - 1 + len(response)])
        constraint = grammars.constraint(action_response_format(json.loads(example.schema))) if constrained else None
        for position, token in enumerate(response):
            allowed = everything if constraint is None else constraint.allowed()
            assert allowed[token], "the rollout drew a token its constraint forbids"
            if constraint is not None and token != eos:
                constraint.accept(token)
            if position < skip:
                continue
            kept += 1
            for index, support in enumerate((allowed, everything)):
                student, teacher = (row[position][support] for row in logits)
                log_p = student - np.logaddexp.reduce(student)
                log_q = teacher - np.logaddexp.reduce(teacher)
                totals[index] += float(np.sum(np.exp(log_p) * (log_p - log_q)))
    return totals[0] / kept, totals[1] / kept


def _greedy_config(**changes) -> SdftConfig:
    return SdftConfig(rank=4, lora_alpha=8, temperature=0.0, max_new_tokens=24, mask_first_tokens=2, **changes)


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_the_trainers_kl_is_the_kl_renormalised_over_the_allowed_tokens(tiny_model, backend):
    examples = [_example(page) for page in _pages(5, 3)]
    trainer = TRAINERS[backend](tiny_model, _greedy_config())
    responses = trainer.rollouts([e.query for e in examples], schemas=[e.schema for e in examples])
    renormalised, full = _hand_kls(tiny_model, examples, responses, trainer.config.mask_first_tokens)
    kl = trainer.step(examples).kl  # greedy: the step's rollouts are these; its KL is taken before the update
    assert kl == pytest.approx(renormalised, rel=2e-3)
    assert abs(full - renormalised) > 0.05 * renormalised  # the wrong support would fail the line above


def test_unconstrained_training_takes_the_kl_over_the_full_vocabulary(tiny_model):
    examples = [_example(page) for page in _pages(5, 3)]
    trainer = SdftTrainer(tiny_model, _greedy_config(constrain=False))
    responses = trainer.rollouts([e.query for e in examples], schemas=[e.schema for e in examples])
    _, full = _hand_kls(tiny_model, examples, responses, trainer.config.mask_first_tokens, constrained=False)
    assert trainer.step(examples).kl == pytest.approx(full, rel=2e-3)
