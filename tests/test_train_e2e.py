"""The product's CI test: from a recorded bundled demo to an adapter that changes the agent, on CPU.

Record the expense site's scripted demonstration in Chromium, replay it (which verifies its
steps for training), train an SDFT adapter on the tiny model, find it in ``traj adapters list``
and ``traj query``, load it into the agent's policy and see the agent decide differently.
"""

from __future__ import annotations

from typer.testing import CliRunner

from traj.browser import record
from traj.cli import app
from traj.datasets import sdft_items
from traj.demo import record_demonstration
from traj.policy import TransformersPolicy, open_policy
from traj.projections import Projections, load_demo
from traj.prompt import HistoryEntry, Prompt, action_json, build_prompt, prompt_budget
from traj.replay import replay
from traj.sites import SITES, run_script
from traj.train import SdftConfig, train, training_examples

SEED = 5


def test_record_replay_train_register_load_and_the_agent_changes(store, home, sites_server, tiny_model):
    url = SITES["expense"].start_url(sites_server.url, SEED)
    demo = record(
        store,
        url,
        task="expense",
        seed=SEED,
        demonstrator=lambda page: run_script("expense", page, sites_server.url, SEED),
        headless=True,
    )
    assert replay(store, demo.demo_id, headless=True).success is True

    examples = training_examples(store, task="expense")
    assert len(examples) == demo.actions + 1, "each step, and the FINISH where the recording stopped"
    config = SdftConfig(rank=8, lora_alpha=16, learning_rate=2e-3, max_steps=6, batch_size=4, ema_alpha=0.1)
    result = train(store, examples, model_dir=tiny_model, config=config, task="expense")
    assert len(result.steps) == 6 and result.diagnosis is not None
    # the only instance of the task in the store: the accuracies are on its own first batch, and say so
    assert (result.diagnosis.accuracy_on, result.diagnosis.accuracy_steps) == ("own_states", 4)
    # the step-0 loss is the forward KL (the default), the logged KL the reverse, both from step 0
    assert result.steps[0].loss > 0 and result.steps[0].kl > 0 and result.steps[0].kl != result.steps[0].loss

    listed = CliRunner().invoke(app, ["adapters", "list", "--home", str(home)])
    assert listed.exit_code == 0 and result.adapter[:8] in listed.output, listed.output
    with Projections(store) as projections:
        lineage = projections.query(
            "SELECT DISTINCT st.stream_id AS demo FROM adapters a JOIN train_runs t USING (job_id), "
            "unnest(CAST(json_extract(t.dataset, '$.event_ids') AS VARCHAR[])) AS u(action_id) "
            "JOIN steps st ON st.action_id = u.action_id WHERE a.name = $name",
            {"name": result.adapter},
        ).to_pylist()
        steps = projections.query(
            "SELECT count(*) AS n, min(step) AS first FROM kl_metrics WHERE job_id = $job", {"job": result.job_id}
        ).to_pylist()[0]
    assert lineage == [{"demo": demo.demo_id}]
    assert steps == {"n": 6, "first": 0}

    policy = open_policy("transformers", tiny_model, adapter=result.adapter, store=store)
    assert isinstance(policy, TransformersPolicy) and policy.active_adapter == result.adapter
    prompts = [Prompt(example.query, 0) for example in examples]
    tuned = [policy.logits(p.text)[-1] for p in prompts]
    policy.set_adapter(None)
    base = [policy.logits(p.text)[-1] for p in prompts]
    changed = max(float((t - b).abs().max()) for t, b in zip(tuned, base, strict=True))
    assert changed > 1e-2, "the adapter did not change the agent's next-token distribution"


def test_training_prompts_are_the_agents_prompts_for_the_model_and_fit_it(store, sites_server, tiny_model):
    """The calendar's week grid overflows the tiny model's 2048 tokens unless it is cut: with the
    model named, each student prompt is exactly what the agent builds on that page for that
    model, and the teacher's (with the demonstration) fits the same budget."""
    demo_id = record_demonstration(store, sites_server.url, "calendar", SEED)
    policy = TransformersPolicy(tiny_model)
    budget = prompt_budget(policy.context_window)
    estimated = training_examples(store, task="calendar", verified_only=False)
    assert max(policy.count_tokens(e.teacher_query) for e in estimated) > budget, "the page is long enough to cut"

    examples = training_examples(store, task="calendar", verified_only=False, model=tiny_model)

    demo = load_demo(store, demo_id)
    steps, goal = demo.steps, demo.started.goal
    assert len(examples) == len(steps) + 1 and demo.final is not None
    pages = [step.observation for step in steps] + [demo.final]  # the FINISH is decided on the page it ended on
    for index, (example, page) in enumerate(zip(examples, pages, strict=True)):
        history = [HistoryEntry(action_json(earlier.action)) for earlier in steps[:index]]
        agent = build_prompt(goal, page, history, budget_tokens=budget, count_tokens=policy.count_tokens)
        assert example.query == agent.text
        assert policy.count_tokens(example.teacher_query) <= budget
        assert "Demonstration of:" in example.teacher_query

    # A budget the demonstration does not fit beside the page: the teacher's page is cut to keep it.
    def teacher_sizes(fit_teacher: bool) -> list[int]:
        items = sdft_items(
            store, verified_only=False, budget_tokens=650, count_tokens=policy.count_tokens, fit_teacher=fit_teacher
        )
        return [policy.count_tokens(item.teacher_query) for item in items]

    assert max(teacher_sizes(fit_teacher=False)) > 650
    assert max(teacher_sizes(fit_teacher=True)) <= 650  # the rules, demonstration, goal and values stay whole
