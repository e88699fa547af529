"""Learning efficacy: does one demonstration teach the agent the task, and what does it forget?

    python bench/learning.py                                   # five tasks, 20 unseen seeds each
    python bench/learning.py --tasks expense calendar --seeds 5 --steps 20

For each bundled task: record its one scripted demonstration (seed 0), verify it by replay,
replay it observed on the training seeds 1..8 (``--instances``; nobody demonstrates them: their
states show the student the task with other values), then measure the agent's task success on
unseen seeds with the base model, with an SFT adapter and with an SDFT adapter trained on that
one demonstration and its observed instances (same settings, same data path). Targets: SDFT >= 90%
after one demonstration on at least three of the five tasks; the base model <= 20%.

The gate of SDFT is its teacher (and what the student learns of it: each adapter's next-action
accuracy on the same states is reported too): on the states of scripted demonstrations of unseen seeds
(``--probes`` of them), the next-action accuracy of the base model, decoding under the page's
constraint as the agent does, with the demonstration in context as SDFT's teacher reads it on
an instance (the seed-0 demonstration as it would go there: that goal, its values; ``teacher``),
with the seed-0 demonstration as recorded (``teacher_demo0``), and without one (student). The
SDFT adapter is also measured on the ``shuffled`` variant (the layout varies by seed: the hard
split). On the same states' TYPE and SELECT steps, the value accuracy (``*_value_acc``) pins the
demonstrated kind and element through the constraint, so the model only chooses the value: the
skill of looking a value up in the goal, measured apart from the procedure.

Continual learning: an adapter trained on task A is trained further on task B, and A's
success is measured again; the loss on A is reported for SDFT and SFT side by side (target:
SDFT loses <= 5 points). Turnaround (end of recording -> adapter serving the agent) and action
generation tokens/s are reported per task.

Prints a table, writes bar charts as PNG (``--plots DIR``) and ends with a JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from traj.browser import launch
from traj.datasets import SdftItem, transfer_items
from traj.demo import (
    DEMO_TRAINING,
    DemoSettings,
    measure_agent,
    observe_instances,
    record_demonstration,
    verify_demonstration,
)
from traj.eventlog import Store
from traj.policy import Completion, TransformersPolicy
from traj.projections import load_demo
from traj.prompt import ParseError, action_response_format, action_token_bound, parse_action
from traj.replay import instance_demonstrations
from traj.sites import SITES, serve_sites
from traj.tiny import init_tiny
from traj.train import SdftConfig, train, training_examples

OBJECTIVES = ("sdft", "sft")
TARGET_SDFT = 0.9
TARGET_BASE = 0.2
TARGET_TASKS = 3
TARGET_FORGETTING = 0.05


@dataclass
class TaskResult:
    """Success rates on one task's unseen seeds, per model (``base`` or an objective)."""

    task: str
    success: dict[str, float] = field(default_factory=dict)
    step_accuracy: dict[str, float] = field(default_factory=dict)
    """Next-action accuracy on unseen seeds' demonstrated states: the base model as ``teacher``,
    ``teacher_demo0`` and ``student``, and the student with each objective's adapter."""
    value_accuracy: dict[str, float] = field(default_factory=dict)
    """The same, on the TYPE and SELECT steps only, with the kind and element pinned (the value
    alone decides): ``teacher``, ``student`` and each objective's adapter."""
    instances: int = 0
    """Training seeds whose observed replay succeeded (trained on beside the demo)."""
    turnaround_s: dict[str, float] = field(default_factory=dict)
    adapters: dict[str, tuple[str, Path]] = field(default_factory=dict)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(SITES), choices=sorted(SITES))
    parser.add_argument("--seeds", type=int, default=20, help="unseen seeds per task (101, 102, ...)")
    parser.add_argument("--steps", type=int, default=DEMO_TRAINING.max_steps, help="training steps per adapter")
    parser.add_argument("--max-steps", type=int, default=15, help="agent steps per run")
    parser.add_argument("--probes", type=int, default=5, help="unseen seeds whose demonstrated steps probe the teacher")
    parser.add_argument(
        "--instances", type=int, default=len(DemoSettings().train_seeds), help="training seeds replayed observed (1..N)"
    )
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the tiny model)")
    parser.add_argument("--continual", nargs=2, metavar=("A", "B"), default=None, help="default: the first two tasks")
    parser.add_argument("--plots", type=Path, default=Path("bench-learning"), help="where the PNG charts go")
    parser.add_argument("--home", type=Path, default=None, help="store directory (default: a temporary one)")
    args = parser.parse_args(argv)

    console = Console()
    seeds = tuple(range(101, 101 + args.seeds))
    config = replace(DEMO_TRAINING, max_steps=args.steps)
    model_dir = args.model or init_tiny()
    continual = tuple(args.continual or args.tasks[:2])
    if len(continual) < 2 or not set(continual) <= set(args.tasks):
        parser.error("continual learning needs two of the --tasks run (--continual A B, or two tasks)")
    with tempfile.TemporaryDirectory() as scratch, serve_sites() as server:
        home = args.home or Path(scratch) / "store"
        with Store.open(home, create=True) as store:
            policy = TransformersPolicy(model_dir)
            results: dict[str, TaskResult] = {}
            demos: dict[str, str] = {}
            for task in args.tasks:
                demos[task] = record_demonstration(store, server.url, task, seed=0)
                probes = [record_demonstration(store, server.url, task, seed=s) for s in seeds[: args.probes]]
                recorded_at = time.perf_counter()
                result = results[task] = TaskResult(task)
                with launch(headless=True) as session:
                    verify_demonstration(store, demos[task], session.page)
                    result.instances = observe_instances(
                        store, demos[task], session.page, task=task, server_url=server.url,
                        seeds=tuple(range(1, 1 + args.instances)),
                    )  # fmt: skip
                    verified_s = time.perf_counter() - recorded_at

                    def success(adapter: str | None, task: str = task, page: object = session.page) -> float:
                        policy.set_adapter(adapter)
                        outcomes = measure_agent(
                            store, policy, page, task=task, server_url=server.url, seeds=seeds,
                            max_steps=args.max_steps, label=f"{task} {adapter or 'base'}",
                        )  # fmt: skip
                        return sum(o.success for o in outcomes) / len(outcomes)

                    items, recorded = _probe_items(store, policy, demos[task], probes)
                    policy.set_adapter(None)
                    result.step_accuracy = {
                        "teacher": _accuracy(policy, [i.teacher_query for i in items], items),
                        "teacher_demo0": _accuracy(policy, [i.teacher_query for i in recorded], items),
                        "student": _accuracy(policy, [i.query for i in items], items),
                    }
                    result.value_accuracy = {
                        "teacher": _value_accuracy(policy, [i.teacher_query for i in items], items),
                        "student": _value_accuracy(policy, [i.query for i in items], items),
                    }
                    result.success["base"] = success(None)
                    for objective in OBJECTIVES:
                        started = time.perf_counter()
                        name, path = _train(store, model_dir, [demos[task]], replace(config, objective=objective), task)
                        policy.load_adapter(name, path)
                        result.turnaround_s[objective] = verified_s + time.perf_counter() - started
                        result.adapters[objective] = (name, path)
                        result.success[objective] = success(name)
                        result.step_accuracy[objective] = _accuracy(policy, [i.query for i in items], items)
                        result.value_accuracy[objective] = _value_accuracy(policy, [i.query for i in items], items)
                    policy.set_adapter(result.adapters["sdft"][0])
                    shuffled = measure_agent(
                        store, policy, session.page, task=task, server_url=server.url, seeds=seeds,
                        max_steps=args.max_steps, label=f"{task} sdft shuffled", variant="shuffled",
                    )  # fmt: skip
                    result.success["shuffled_sdft"] = sum(o.success for o in shuffled) / len(shuffled)
                console.print(_row_text(result))
            forgetting = _continual(store, policy, model_dir, config, server.url, demos, results, continual, args)
            tokens_per_s = _tokens_per_s(store)

    table = Table(
        "task", "instances", "base", "SFT", "SDFT", "SDFT shuffled", "teacher step acc", "teacher (demo 0 as is)",
        "student step acc", "SFT step acc", "SDFT step acc", "student value acc", "SDFT value acc",
        "turnaround SDFT (s)",
        title="agent success on unseen seeds",
    )  # fmt: skip
    for result in results.values():
        table.add_row(
            result.task,
            f"{result.instances}/{args.instances}",
            *(f"{result.success[key]:.0%}" for key in ("base", "sft", "sdft", "shuffled_sdft")),
            *(f"{result.step_accuracy[key]:.0%}" for key in ("teacher", "teacher_demo0", "student", "sft", "sdft")),
            *(f"{result.value_accuracy[key]:.0%}" for key in ("student", "sdft")),
            f"{result.turnaround_s['sdft']:.0f}",
        )
    console.print(table)
    console.print(
        f"continual {continual[0]} -> {continual[1]}: success on {continual[0]} lost "
        + ", ".join(f"{objective.upper()} {points:+.0%}" for objective, points in forgetting.items())
    )
    args.plots.mkdir(parents=True, exist_ok=True)
    _bar_chart(args.plots / "success.png", "success on unseen seeds", results)
    solved = sum(result.success["sdft"] >= TARGET_SDFT for result in results.values())
    summary = {
        "bench": "learning",
        "model": str(model_dir),
        "seeds": args.seeds,
        "train_steps": args.steps,
        "tasks": {
            task: {
                **{key: result.success[key] for key in ("base", "sft", "sdft", "shuffled_sdft")},
                "teacher_step_acc": result.step_accuracy["teacher"],
                "teacher_demo0_step_acc": result.step_accuracy["teacher_demo0"],
                "student_step_acc": result.step_accuracy["student"],
                "sft_step_acc": result.step_accuracy["sft"],
                "sdft_step_acc": result.step_accuracy["sdft"],
                **{f"{key}_value_acc": result.value_accuracy[key] for key in ("teacher", "student", "sft", "sdft")},
                "instances": result.instances,
            }
            for task, result in results.items()
        },
        "turnaround_s": {task: result.turnaround_s for task, result in results.items()},
        "tokens_per_s": round(tokens_per_s, 1),
        "continual": {"tasks": list(continual), "loss_on_a": forgetting},
        "plots": str(args.plots / "success.png"),
        "met": {
            "sdft_tasks_at_90": solved >= TARGET_TASKS,
            "base_at_most_20": all(result.success["base"] <= TARGET_BASE for result in results.values()),
            "sdft_forgetting_at_most_5": forgetting.get("sdft", 1.0) <= TARGET_FORGETTING,
        },
    }
    print(json.dumps(summary))
    return 0


def _train(
    store: Store, model_dir: Path, demo_ids: list[str], config: SdftConfig, task: str, **extra: object
) -> tuple[str, Path]:
    """Train one adapter on ``demo_ids``; its name and PEFT directory."""
    examples = training_examples(store, demo_ids=demo_ids, model=model_dir)
    trained = train(store, examples, model_dir=model_dir, config=config, task=task, **extra)  # type: ignore[arg-type]
    return trained.adapter, trained.peft_path


def _probe_items(
    store: Store, policy: TransformersPolicy, demo_id: str, probes: list[str]
) -> tuple[list[SdftItem], list[SdftItem]]:
    """The probes' demonstrated states, the teacher reading ``demo_id`` as on each instance (SDFT's
    teacher) and as recorded."""
    contexts = instance_demonstrations(store, load_demo(store, demo_id), probes)
    count = policy.count_tokens
    items = list(transfer_items(store, teacher_demo_id=demo_id, demo_ids=probes, count_tokens=count, contexts=contexts))
    recorded = list(transfer_items(store, teacher_demo_id=demo_id, demo_ids=probes, count_tokens=count))
    return items, recorded


def _accuracy(policy: TransformersPolicy, queries: list[str], items: list[SdftItem]) -> float:
    """Next-action exact match of ``policy`` (its active adapter) on ``queries``, decoded under each
    item's page constraint as the agent decodes."""
    cases = [(query, item, json.loads(item.schema)) for query, item in zip(queries, items, strict=True)]
    return _matches(policy, cases)


def _value_accuracy(policy: TransformersPolicy, queries: list[str], items: list[SdftItem]) -> float:
    """:func:`_accuracy` on the items whose action is a TYPE or SELECT, the constraint pinned to
    its kind and element: only the value is the model's to choose."""
    pinned = []
    for query, item in zip(queries, items, strict=True):
        action = json.loads(item.target)
        if action["kind"] in ("TYPE", "SELECT"):
            schema = json.loads(item.schema)
            narrowed = _pinned(schema, action["kind"], action["target"])
            # a target the page's constraint does not offer stays a miss, as it is for the agent
            pinned.append((query, item, narrowed if narrowed["anyOf"] else schema))
    return _matches(policy, pinned)


def _pinned(schema: dict[str, object], kind: str, target: str) -> dict[str, object]:
    """The branches of ``schema`` (an action schema) for ``kind``, their target fixed to ``target``."""
    branches = []
    for branch in schema["anyOf"]:  # type: ignore[attr-defined]
        properties = branch["properties"]
        if properties["kind"]["const"] == kind and target in properties["target"].get("enum", ()):
            branches.append({**branch, "properties": {**properties, "target": {"const": target}}})
    return {"anyOf": branches}


def _matches(policy: TransformersPolicy, cases: list[tuple[str, SdftItem, dict[str, object]]]) -> float:
    """The share of ``cases`` (query, item, schema) where ``policy`` decodes the item's target under the schema."""
    hits = 0
    for query, item, schema in cases:
        completion = Completion(
            messages=({"role": "user", "content": query},),
            response_format=action_response_format(schema),
            max_new_tokens=action_token_bound(schema),
        )
        with contextlib.suppress(ParseError):
            hits += parse_action(policy.complete(completion).text).action.to_json() == item.target
    return hits / max(1, len(cases))


def _continual(
    store: Store,
    policy: TransformersPolicy,
    model_dir: Path,
    config: SdftConfig,
    server_url: str,
    demos: dict[str, str],
    results: dict[str, TaskResult],
    tasks: tuple[str, ...],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Train each objective's task-A adapter further on task B; the points of success lost on A."""
    first, second = tasks
    seeds = tuple(range(101, 101 + args.seeds))
    lost: dict[str, float] = {}
    with launch(headless=True) as session:
        for objective in OBJECTIVES:
            parent, _ = results[first].adapters[objective]
            name, path = _train(
                store, model_dir, [demos[second]], replace(config, objective=objective), second,
                start_from=parent,
            )  # fmt: skip
            policy.load_adapter(name, path)
            policy.set_adapter(name)
            outcomes = measure_agent(
                store, policy, session.page, task=first, server_url=server_url, seeds=seeds,
                max_steps=args.max_steps, label=f"{first} after {second} ({objective})",
            )  # fmt: skip
            after = sum(o.success for o in outcomes) / len(outcomes)
            lost[objective] = results[first].success[objective] - after
    return lost


def _tokens_per_s(store: Store) -> float:
    """Action generation speed over every agent run of the benchmark, from ``run.step`` events."""
    from traj.projections import Projections

    with Projections(store) as projections:
        row = projections.query("SELECT sum(completion_tokens) AS t, sum(generate_ms) AS ms FROM run_steps").to_pylist()
    tokens, ms = row[0]["t"] or 0, row[0]["ms"] or 0
    return float(tokens) / max(1e-9, float(ms) / 1000)


def _row_text(result: TaskResult) -> str:
    rates = ", ".join(f"{key} {value:.0%}" for key, value in result.success.items())
    return f"{result.task}: {rates}; recording -> SDFT adapter serving {result.turnaround_s['sdft']:.0f} s"


def _bar_chart(path: Path, title: str, results: dict[str, TaskResult]) -> None:
    """Grouped bars (base, SFT, SDFT) per task, drawn with Pillow: no plotting dependency."""
    from PIL import Image, ImageDraw

    colors = {"base": (150, 150, 150), "sft": (70, 130, 200), "sdft": (220, 110, 40)}
    width, height, margin = 120 * max(1, len(results)) + 80, 320, 40
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 8), title, fill="black")
    floor = height - margin
    draw.line([(margin, floor), (width - 10, floor)], fill="black")
    for index, result in enumerate(results.values()):
        left = margin + 10 + index * 120
        for offset, key in enumerate(("base", "sft", "sdft")):
            top = floor - (floor - margin) * result.success[key]
            draw.rectangle([left + offset * 30, top, left + offset * 30 + 24, floor], fill=colors[key])
        draw.text((left, floor + 6), result.task, fill="black")
    for offset, (key, color) in enumerate(colors.items()):
        draw.rectangle([width - 70, 10 + offset * 14, width - 60, 20 + offset * 14], fill=color)
        draw.text((width - 55, 8 + offset * 14), key, fill="black")
    image.save(path)


if __name__ == "__main__":
    sys.exit(main())
