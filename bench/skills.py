"""Skills vs task knowledge: what the base model does without a demonstration (issue 25, decision 5).

    python bench/skills.py                                  # the shipped tiny model, 20 sites per held-out kind
    python bench/skills.py --instances 10 --tasks expense price --seeds 2 --max-steps 8

Held-out synthetic families (:data:`traj.tiny.HELDOUT_KINDS`: kinds of site no pretraining
family is, :func:`traj.tiny.skill_probes`): every step of ``--instances`` sites per kind, each
answered greedily by the base model without a demonstration (under the page's action constraint
and without it) and, for comparison, with a demonstration of the same site with other values
(constrained). Per kind and per skill: the share of answers in the action format, whose element
exists on the page, with the right kind, the right element, the right value, and exactly right.

Bundled tasks: the base model's next-action accuracy on the scripted demonstrations' states of
unseen seeds (``--probes``), without a demonstration (student) and with the seed-0 one
(teacher), both constrained as the agent decodes; and the agent's task success without a
demonstration on ``--seeds`` unseen seeds (constrained, the agent's default).

The pretraining families' own held-out ids (same kinds of site, families never trained on) are
:func:`traj.tiny.evaluate_tiny`'s; they are reported beside (``--families-n`` decisions).

Ends with a JSON line: ``{"heldout": {KIND: {"none": {...}, "none_unconstrained": {...},
"demo": {...}, "skills": {...}}}, "pretraining_families": {...}, "bundled": {TASK: {...}}}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from traj.browser import launch
from traj.datasets import transfer_items
from traj.demo import measure_agent, record_demonstration
from traj.eventlog import Store
from traj.policy import Completion, TransformersPolicy
from traj.prompt import ParseError, action_response_format, action_schema, action_token_bound, parse_action
from traj.sites import SITES, serve_sites
from traj.tiny import HELDOUT_KINDS, SkillProbe, evaluate_tiny, init_tiny, skill_probes

MEASURES = ("format", "exists", "kind", "target", "value", "exact")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20, help="sites per held-out kind (0: skip them)")
    parser.add_argument("--tasks", nargs="*", default=list(SITES), choices=sorted(SITES), help="none: skip them")
    parser.add_argument("--probes", type=int, default=2, help="unseen seeds whose demonstrated states are probed")
    parser.add_argument("--seeds", type=int, default=3, help="unseen seeds the agent runs on per task")
    parser.add_argument("--max-steps", type=int, default=10, help="agent steps per run")
    parser.add_argument(
        "--families-n", type=int, default=60, help="decisions of held-out pretraining families (0: skip)"
    )
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped tiny model)")
    args = parser.parse_args(argv)

    console = Console()
    model_dir = args.model or init_tiny()
    policy = TransformersPolicy(model_dir)
    heldout = {}
    for kind in HELDOUT_KINDS if args.instances else ():
        heldout[kind] = _heldout(policy, kind, range(args.instances))
        console.print(f"{kind}: {json.dumps(heldout[kind])}", highlight=False)  # each part as it is measured
    families = evaluate_tiny(model_dir, n=args.families_n) if args.families_n else None
    bundled = _bundled(policy, args, console) if args.tasks else {}

    for shown in _tables(heldout, bundled):
        console.print(shown)
    if families is not None:
        console.print(
            f"held-out pretraining families ({families.n} decisions each): without a demo "
            f"{families.accuracy_without_demo:.0%}, with another instance's {families.accuracy_with_demo:.0%}"
        )
    summary = {
        "bench": "skills",
        "model": str(model_dir),
        "instances": args.instances,
        "heldout": heldout,
        "pretraining_families": None
        if families is None
        else {
            "n": families.n,
            "valid_action_rate": families.valid_action_rate,
            "without_demo": families.accuracy_without_demo,
            "with_demo": families.accuracy_with_demo,
        },
        "bundled": bundled,
    }
    print(json.dumps(summary))
    return 0


def _tables(heldout: dict[str, dict], bundled: dict[str, dict[str, float]]) -> list[Table]:
    """The measured parts as tables (a part not measured gives none)."""
    table = Table("kind", "condition", *MEASURES, title="held-out synthetic families: the base model")
    for kind, conditions in heldout.items():
        for condition in ("none", "none_unconstrained", "demo"):
            table.add_row(kind, condition, *(f"{conditions[condition][m]:.0%}" for m in MEASURES))
    skills = Table("kind", "skill", "exact without a demo", "with one", title="per skill (constrained)")
    for kind, conditions in heldout.items():
        for skill, rates in conditions["skills"].items():
            skills.add_row(kind, skill, f"{rates['none']:.0%}", f"{rates['demo']:.0%}")
    tasks = Table("task", "success without a demo", "student step acc", "teacher step acc", title="bundled tasks")
    for task, row in bundled.items():
        tasks.add_row(task, f"{row['success']:.0%}", f"{row['student_step_acc']:.0%}", f"{row['teacher_step_acc']:.0%}")
    return [t for t, rows in ((table, heldout), (skills, heldout), (tasks, bundled)) if rows]


def _heldout(policy: TransformersPolicy, kind: str, instances: range) -> dict[str, object]:
    """The measures of ``kind``'s probes without a demo (constrained or not) and with one, and per skill."""
    bare = skill_probes(kind, instances)
    shown = skill_probes(kind, instances, with_demo=True)
    answers = {
        "none": [_answer(policy, p, constrain=True) for p in bare],
        "none_unconstrained": [_answer(policy, p, constrain=False) for p in bare],
        "demo": [_answer(policy, p, constrain=True) for p in shown],
    }
    out: dict[str, object] = {
        condition: _rates([_scores(p, a) for p, a in zip(bare, texts, strict=True)])
        for condition, texts in answers.items()
    }
    skills: dict[str, dict[str, float]] = {}
    for skill in dict.fromkeys(p.skill for p in bare):
        chosen = [i for i, p in enumerate(bare) if p.skill == skill]
        skills[skill] = {
            condition: _rates([_scores(bare[i], answers[condition][i]) for i in chosen])["exact"]
            for condition in ("none", "demo")
        }
    out["skills"] = skills
    return out


def _answer(policy: TransformersPolicy, probe: SkillProbe, *, constrain: bool) -> str:
    """The model's greedy answer to ``probe``'s prompt, under the page's constraint or not."""
    page = probe.page
    schema = action_schema(probe.goal, page.elements, page.text, url=page.url)
    completion = Completion(
        ({"role": "user", "content": probe.prompt},),
        max_new_tokens=action_token_bound(schema) + 1 if constrain else 64,
        response_format=action_response_format(schema) if constrain else None,
    )
    return policy.complete(completion).text


def _scores(probe: SkillProbe, answer: str) -> dict[str, bool]:
    """Which measures ``answer`` meets against the right action of ``probe``."""
    right = json.loads(probe.target)
    try:
        parsed = parse_action(answer)
    except ParseError:
        return dict.fromkeys(MEASURES, False)
    action = json.loads(parsed.action.to_json())
    ids = {element.agent_id for element in probe.page.elements}
    return {
        "format": parsed.method == "json",
        "exists": action["target"] is None or action["target"] in ids,
        "kind": action["kind"] == right["kind"],
        "target": action["target"] == right["target"],
        "value": action["value"] == right["value"],
        "exact": action == right,
    }


def _rates(scores: list[dict[str, bool]]) -> dict[str, float]:
    return {m: round(sum(s[m] for s in scores) / max(1, len(scores)), 3) for m in MEASURES}


def _bundled(policy: TransformersPolicy, args: argparse.Namespace, console: Console) -> dict[str, dict[str, float]]:
    """Per bundled task: the base agent's success on unseen seeds, and its step accuracy on
    unseen seeds' demonstrated states without (student) and with (teacher) the seed-0 demo."""
    out = {}
    seeds = tuple(range(101, 101 + args.seeds))
    with (
        tempfile.TemporaryDirectory() as scratch,
        serve_sites() as server,
        Store.open(Path(scratch) / "store", create=True) as store,
        contextlib.ExitStack() as stack,  # the agent's browser, closed first
    ):
        recorded = {  # each recording runs its own browser: all of them before the agent's
            task: (
                record_demonstration(store, server.url, task, seed=0),
                [record_demonstration(store, server.url, task, seed=201 + i) for i in range(args.probes)],
            )
            for task in args.tasks
        }
        policy.set_adapter(None)
        session = stack.enter_context(launch(headless=True))
        for task, (shown, probes) in recorded.items():
            items = list(
                transfer_items(store, teacher_demo_id=shown, demo_ids=probes, count_tokens=policy.count_tokens)
            )
            outcomes = measure_agent(
                store, policy, session.page, task=task, server_url=server.url, seeds=seeds,
                max_steps=args.max_steps, label=f"{task} base",
            )  # fmt: skip
            out[task] = {
                "success": sum(o.success for o in outcomes) / len(outcomes),
                "student_step_acc": _step_accuracy(policy, items, teacher=False),
                "teacher_step_acc": _step_accuracy(policy, items, teacher=True),
                "probed_steps": len(items),
            }
            console.print(f"{task}: {json.dumps(out[task])}", highlight=False)
    return out


def _step_accuracy(policy: TransformersPolicy, items: list, *, teacher: bool) -> float:
    """Greedy next-action exact match on the feed ``items``, under each page's constraint."""
    hits = 0
    for item in items:
        schema = json.loads(item.schema)
        completion = Completion(
            ({"role": "user", "content": item.teacher_query if teacher else item.query},),
            max_new_tokens=action_token_bound(schema) + 1,
            response_format=action_response_format(schema),
        )
        with contextlib.suppress(ParseError):
            hits += parse_action(policy.complete(completion).text).action.to_json() == item.target
    return round(hits / max(1, len(items)), 3)


if __name__ == "__main__":
    sys.exit(main())
