"""``traj demo``: the product's promise in one call, measured.

Serve a bundled site on 127.0.0.1, record its scripted demonstration, replay it (which verifies
the steps for training), replay it observed on a few training seeds (other instances, whose
states teach the student where each value comes from), enrich it, build or reuse the tiny local
model, run the agent on unseen seeds, train an SDFT adapter on the one demonstration and its
observed instances, run the agent on the same seeds again, and report success before and after.
Every phase writes events to one store, so the report is also a set of rows anyone can query
afterwards.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from traj.errors import TrajError
from traj.eventlog import Store
from traj.train import SdftConfig, StepMetrics

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.policy import Policy

__all__ = [
    "DEMO_TRAINING",
    "DemoReport",
    "DemoSettings",
    "SeedOutcome",
    "SeedResult",
    "measure_agent",
    "observe_instances",
    "record_demonstration",
    "run_demo",
    "verify_demonstration",
]

DEMO_TRAINING = SdftConfig(
    rank=16, lora_alpha=32.0, learning_rate=3e-3, max_steps=60, batch_size=4, ema_alpha=0.0, warmup_ratio=0.1
)
"""SDFT settings for one demonstration (and its observed instances) on the tiny model: a learning
rate a few-million-parameter model needs in 60 steps, and a teacher that stays the base model
with the demonstration (EMA alpha 0; 0.2 let the teacher drift with the student it should be
teaching). Student next-action accuracy on 5 unseen expense seeds' states after 60 steps: 40% at
a learning rate of 1e-3, 60% at 3e-3, 10% at 5e-3 (the adapter overshoots); 58% and 62% after
100 and 150 steps at 3e-3, 28% at rank 32. With the goal's values written as ``$N`` and the
forward KL (the config's default; the reverse KL left the student where it was sure and wrong:
price 65%), the student reaches its teacher: expense 100%, price 95%."""


@dataclass(frozen=True)
class DemoSettings:
    """What :func:`run_demo` does; the defaults are the README's ``traj demo``."""

    task: str = "expense"
    """A bundled site (``traj sites list``); the default is the repetitive form."""
    demo_seed: int = 0
    """The seed of the one demonstration."""
    eval_seeds: tuple[int, ...] = (101, 102, 103, 104, 105, 106)
    """Unseen seeds (other names, dates and amounts) the agent is measured on, before and after."""
    train_seeds: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    """Instances the demonstration is replayed on, observed, before training: no one demonstrates
    them, and their states show the student the task with other values."""
    training: SdftConfig = DEMO_TRAINING
    model: Path | None = None
    """A model directory; default: the tiny model, built on first use and cached."""
    max_steps: int = 15


@dataclass(frozen=True)
class SeedResult:
    """One unseen seed: did the agent succeed before and after training, in how many steps."""

    seed: int
    before: bool
    after: bool
    before_steps: int
    after_steps: int


@dataclass
class DemoReport:
    """Everything ``traj demo`` prints, and where to find it in the store."""

    home: Path
    task: str
    demo_id: str
    adapter: str
    job_id: str
    enrichment: str
    instances: int
    """Training seeds whose observed replay succeeded: their states were trained on."""
    seeds: list[SeedResult]
    kl: list[float]
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase, in the order they ran."""
    turnaround_s: float = 0.0
    """From the end of recording to the adapter answering the agent's first prompt."""
    tokens_per_s: float = 0.0
    """Generated tokens per second of the agent with the adapter (action generation)."""

    @property
    def success_before(self) -> float:
        return sum(seed.before for seed in self.seeds) / len(self.seeds)

    @property
    def success_after(self) -> float:
        return sum(seed.after for seed in self.seeds) / len(self.seeds)

    def queries(self) -> list[str]:
        """Three ``traj query`` lines that show what happened, from the events."""
        home = f" --home {self.home}"
        return [
            f'traj query{home} "SELECT adapter, count(*) AS runs, avg(success::INT) AS success FROM runs '
            f"WHERE task = '{self.task}' GROUP BY adapter\"",
            f"traj query{home} \"SELECT step, kl, loss FROM kl_metrics WHERE job_id = '{self.job_id}' ORDER BY step\"",
            f"traj query{home} \"SELECT step, kind, target, value FROM steps WHERE stream = 'demo/{self.demo_id}' "
            'ORDER BY step"',
        ]


def run_demo(
    home: str | Path, settings: DemoSettings | None = None, *, progress: bool = True, log: Callable[[str], None] = print
) -> DemoReport:
    """Teach the agent ``settings.task`` from one scripted demonstration and measure it.

    ``home`` should be a fresh store directory: the report compares runs it made itself, but
    an existing store is used as it is (nothing in it is changed). ``log`` receives one line
    per phase as it ends.
    """
    from traj.browser import launch
    from traj.policy import TransformersPolicy
    from traj.sites import SITES, serve_sites
    from traj.tiny import init_tiny
    from traj.train import train, training_examples

    settings = settings or DemoSettings()
    site = SITES.get(settings.task)
    if site is None:
        raise TrajError(f"{settings.task!r} is not a bundled task; choose one of {', '.join(SITES)}")
    if seen := sorted({settings.demo_seed, *settings.train_seeds} & set(settings.eval_seeds)):
        raise TrajError(f"seeds {seen} are trained on: the evaluation seeds must be unseen")
    phases: dict[str, float] = {}
    timer = _Timer(phases, log)
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(Store.open(home))
        server = stack.enter_context(serve_sites())
        with timer("record"):
            demo_id = record_demonstration(store, server.url, settings.task, settings.demo_seed)
        recorded_at = time.perf_counter()
        session = stack.enter_context(launch(headless=True))  # after record(), which runs its own
        with timer("replay"):
            verify_demonstration(store, demo_id, session.page)
        with timer("instances"):
            observed = observe_instances(
                store, demo_id, session.page, task=settings.task, server_url=server.url, seeds=settings.train_seeds
            )
        with timer("enrich"):
            enrichment = _enrich(store, demo_id)
        with timer("model"):
            model_dir = settings.model or init_tiny(progress=progress)
            policy = TransformersPolicy(model_dir)

        def evaluate(label: str) -> list[SeedOutcome]:
            return measure_agent(
                store,
                policy,
                session.page,
                task=settings.task,
                server_url=server.url,
                seeds=settings.eval_seeds,
                max_steps=settings.max_steps,
                label=f"agent {label} training",
                progress=progress,
            )

        with timer("before"):
            before = evaluate("before")
        with timer("train"):
            examples = training_examples(store, demo_ids=[demo_id], model=model_dir)
            if not examples:
                raise TrajError(f"the demonstration {demo_id} has no verified steps to train on")
            steps: list[StepMetrics] = []
            with _step_bar(settings.training.max_steps, progress) as advance:
                trained = train(
                    store,
                    examples,
                    model_dir=model_dir,
                    config=settings.training,
                    task=settings.task,
                    on_step=lambda metrics: (steps.append(metrics), advance(metrics)),
                )
        with timer("load"):
            policy.load_adapter(trained.adapter, trained.peft_path)
            policy.set_adapter(trained.adapter)
        turnaround = time.perf_counter() - recorded_at - phases["before"]
        with timer("after"):
            after = evaluate("after")
        tokens_per_s = _tokens_per_s(store, trained.adapter)
    seeds = [SeedResult(b.seed, b.success, a.success, b.steps, a.steps) for b, a in zip(before, after, strict=True)]
    return DemoReport(
        home=Path(home),
        task=settings.task,
        demo_id=demo_id,
        adapter=trained.adapter,
        job_id=trained.job_id,
        enrichment=enrichment,
        instances=observed,
        seeds=seeds,
        kl=[metrics.kl for metrics in steps],
        phases=phases,
        turnaround_s=turnaround,
        tokens_per_s=tokens_per_s,
    )


def record_demonstration(store: Store, server_url: str, task: str, seed: int) -> str:
    """Record the bundled scripted demonstration of ``task`` at ``seed``, headless; its demo id.

    ``server_url`` is a running :func:`traj.sites.serve_sites`. The page's parameters are marked
    at record time, so replay and training see which values came from the goal.
    """
    from traj.browser import record
    from traj.sites import SITES, run_script

    demo = record(
        store,
        SITES[task].start_url(server_url, seed),
        task=task,
        seed=seed,
        demonstrator=lambda page: run_script(task, page, server_url, seed),
        headless=True,
    )
    return demo.demo_id


def verify_demonstration(store: Store, demo_id: str, page: Page) -> None:
    """Replay ``demo_id`` on ``page``: training uses only steps a replay verified."""
    from traj.replay import replay_demo

    if not replay_demo(store, demo_id, page).success:
        raise TrajError(f"the demonstration {demo_id} did not replay; its steps cannot be verified")


def observe_instances(
    store: Store, demo_id: str, page: Page, *, task: str, server_url: str, seeds: tuple[int, ...]
) -> int:
    """Replay ``demo_id`` observed on each of bundled ``task``'s ``seeds`` (each page states its
    goal, which binds the values); how many succeeded. Their states join the demo's in
    :func:`traj.train.training_examples`; a failed one teaches nothing."""
    from traj.replay import replay_demo
    from traj.sites import SITES

    succeeded = 0
    for seed in seeds:
        url = SITES[task].start_url(server_url, seed, reset=True)  # judged on this replay alone
        succeeded += replay_demo(store, demo_id, page, url=url, heal=False, timeout_s=5.0, observe=True).success is True
    return succeeded


@dataclass(frozen=True)
class SeedOutcome:
    """One agent run on an unseen seed."""

    seed: int
    success: bool
    steps: int


def measure_agent(
    store: Store,
    policy: Policy,
    page: Page,
    *,
    task: str,
    server_url: str,
    seeds: tuple[int, ...],
    max_steps: int = 15,
    label: str = "agent",
    progress: bool = True,
    variant: str | None = None,
) -> list[SeedOutcome]:
    """Run the agent with ``policy`` (and its active adapter) once per seed of bundled ``task``
    (of its ``variant`` page, e.g. ``shuffled``, when given).

    Each run is a ``run/<id>`` stream in ``store``, so success rates can also be read back
    from the ``runs`` view, grouped by adapter. Each starts from the seed's state cleared: on one
    page, the report an earlier run (another adapter's, another variant's) submitted for the same
    seed would otherwise be this run's success.
    """
    from traj.agent import run_on_page
    from traj.sites import SITES

    outcomes = []
    for seed in _bar(seeds, label, progress):
        result = run_on_page(
            store,
            policy,
            page,
            task=task,
            url=SITES[task].start_url(server_url, seed, variant=variant, reset=True),
            seed=seed,
            max_steps=max_steps,
        )
        outcomes.append(SeedOutcome(seed, bool(result.success), len(result.steps)))
    return outcomes


def _enrich(store: Store, demo_id: str) -> str:
    """Enrich the demo through the configured endpoint (NIM with ``NVIDIA_API_KEY``); without a
    key every step records why it was not enriched and the teacher sees its raw action."""
    from traj.enrich import enrich

    result = enrich(store, demo_id)
    explained = len(result.steps) - result.count("failed")
    if explained:
        return f"{explained}/{len(result.steps)} steps enriched by {result.model}"
    reasons = sorted({step.reason or "unknown" for step in result.failed})
    return f"raw actions ({', '.join(reasons)})"


def _tokens_per_s(store: Store, adapter: str) -> float:
    """Action generation speed with ``adapter``, from the runs' ``run.step`` events."""
    from traj.projections import Projections

    with Projections(store) as projections:
        row = projections.query(
            "SELECT sum(completion_tokens) AS tokens, sum(generate_ms) AS ms FROM run_steps WHERE adapter = $adapter",
            {"adapter": adapter},
        ).to_pylist()[0]
    return float(row["tokens"] or 0) / max(1e-9, float(row["ms"] or 0) / 1000)


class _Timer:
    """Times named phases into ``phases`` and logs each as it ends."""

    def __init__(self, phases: dict[str, float], log: Callable[[str], None]) -> None:
        self.phases, self.log = phases, log

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.phases[name] = time.perf_counter() - started
        self.log(f"{name}: {self.phases[name]:.1f} s")


def _bar(items: tuple[int, ...], label: str, show: bool) -> Iterator[int]:
    from rich.progress import track

    if not show:
        yield from items
        return
    yield from track(items, description=label, transient=True)


@contextlib.contextmanager
def _step_bar(total: int | None, show: bool) -> Iterator[Callable[[StepMetrics], None]]:
    if not show:
        yield lambda metrics: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("SDFT training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("kl {task.fields[kl]:.4f}"),
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=total, kl=float("nan"))
        yield lambda metrics: bar.update(task, advance=1, kl=metrics.kl)
