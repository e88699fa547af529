"""Typed, versioned payloads: one msgspec Struct per event type.

A payload class names its event ``type`` and schema version ``v``. Every (type, v) pair
ever shipped stays registered so old events remain readable; a new version is a new
class registered under the same type with a higher ``v``.
"""

from __future__ import annotations

import array
from typing import Any, ClassVar, Literal

import msgspec
import pyarrow as pa

from traj.errors import InvalidEventError

__all__ = [
    "Action",
    "ActionKind",
    "ActionV1",
    "AdapterCreated",
    "AdapterLoaded",
    "AdapterUnloaded",
    "BoundingBox",
    "DatasetSnapshot",
    "DemoFinished",
    "DemoStarted",
    "DemoSuccess",
    "DemoVariables",
    "DemoVariablesV1",
    "Element",
    "Enrichment",
    "EnrichmentFailed",
    "EnrichmentFailedV1",
    "EnrichmentFailureReason",
    "Feedback",
    "ImprovementJobCreated",
    "ImprovementJobRan",
    "ImprovementJobUpdated",
    "LocatorStrategy",
    "LocatorsHealed",
    "LocatorsHealedV1",
    "Observation",
    "Payload",
    "ReplayFinished",
    "ReplayFinishedV1",
    "ReplayStarted",
    "ReplayStep",
    "ReplayStepV1",
    "RunFinished",
    "RunStarted",
    "RunStartedV1",
    "RunStep",
    "RunStepV1",
    "Secret",
    "SpecialistRegistered",
    "SpecialistRolledBack",
    "SuccessSpec",
    "TrainCheckpoint",
    "TrainDiagnosis",
    "TrainFinished",
    "TrainResumed",
    "TrainStarted",
    "TrainStep",
    "decode_payload",
    "encode_payloads",
    "payload_class",
    "registered_types",
]

_REGISTRY: dict[tuple[str, int], type[Payload]] = {}
_LATEST: dict[str, type[Payload]] = {}


class Payload(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every event payload; subclasses set ``type`` and ``v``."""

    type: ClassVar[str]
    v: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type")
        if name is None:  # an abstract helper base, not an event type
            return
        key = (name, cls.v)
        if key in _REGISTRY:
            raise TypeError(f"payload type {name!r} v{cls.v} is already registered")
        _REGISTRY[key] = cls
        if name not in _LATEST or _LATEST[name].v < cls.v:
            _LATEST[name] = cls


def payload_class(event_type: str, v: int | None = None) -> type[Payload]:
    """Return the payload class for ``event_type`` (latest version unless ``v`` is given)."""
    cls = _LATEST.get(event_type) if v is None else _REGISTRY.get((event_type, v))
    if cls is None:
        known = ", ".join(sorted(_LATEST))
        version = "" if v is None else f" v{v}"
        raise InvalidEventError(f"unknown event type {event_type!r}{version}; known types: {known}")
    return cls


def registered_types() -> dict[str, int]:
    """Map every known event type to its latest payload version."""
    return {name: cls.v for name, cls in sorted(_LATEST.items())}


_encoder = msgspec.json.Encoder()


def encode_payloads(payloads: list[Payload]) -> pa.StringArray:
    """Validate ``payloads`` against their schemas and return their JSON texts as one Arrow array.

    Structs do not validate on ``__init__``, so each payload's JSON is decoded back with its
    class's decoder: what is validated is exactly the bytes that will be stored, and decoding
    costs less than re-checking the objects (``to_builtins`` + ``convert``). The texts are
    encoded one after another into one buffer that becomes the Arrow array's data as it is.
    """
    text = bytearray()
    offsets = array.array("i", [0])
    for index, payload in enumerate(payloads):
        decoder = _DECODERS.get(type(payload)) or _decoder(index, type(payload))
        try:
            _encoder.encode_into(payload, text, -1)
        except (TypeError, ValueError, msgspec.EncodeError) as exc:
            raise InvalidEventError(f"event {index}: invalid {payload.type} payload: {exc}") from None
        try:
            decoder.decode(memoryview(text)[offsets[-1] :])
        except msgspec.ValidationError as exc:
            raise InvalidEventError(f"event {index}: invalid {payload.type} v{payload.v} payload: {exc}") from None
        offsets.append(len(text))
    return pa.StringArray.from_buffers(len(payloads), pa.py_buffer(offsets), pa.py_buffer(text))


_DECODERS: dict[type, msgspec.json.Decoder] = {}


def _decoder(index: int, cls: type) -> msgspec.json.Decoder:
    """The decoder of a registered payload class (made once); anything else is refused."""
    if not issubclass(cls, Payload) or "type" not in cls.__dict__:
        raise InvalidEventError(
            f"event {index}: a payload must be an instance of a registered Payload type, got {cls.__name__}"
        )
    return _DECODERS.setdefault(cls, msgspec.json.Decoder(cls))


def decode_payload(event_type: str, v: int, data: bytes | str) -> Payload:
    """Decode and validate JSON ``data`` as the payload of ``event_type`` version ``v``."""
    cls = payload_class(event_type, v)
    try:
        return msgspec.json.decode(data, type=cls)
    except msgspec.ValidationError as exc:
        raise InvalidEventError(f"invalid {event_type} v{v} payload: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidEventError(f"{event_type} v{v} payload is not valid JSON: {exc}") from None


# ---------------------------------------------------------------- observations & actions

ActionKind = Literal["CLICK", "TYPE", "PRESS_ENTER", "PRESS", "DRAG", "SCROLL", "SELECT", "NAVIGATE", "WAIT", "FINISH"]
LocatorStrategy = Literal[
    "agent_id",
    "test_id",
    "role",
    "label",
    "placeholder",
    "text",
    "title",
    "css_id",
    "css",
    "xpath",
]


class BoundingBox(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An element's box in CSS pixels relative to the viewport."""

    x: float
    y: float
    width: float
    height: float


class Secret(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A secret's name standing in for its value: ``{"secret": "NAME"}``, never the value itself.

    What a person typed into a password field (or a field marked with ``traj record --secret``)
    is stored, exported and shown to models as this reference; replay and the agent read the
    value from ``TRAJ_SECRET_<NAME>`` (or ask for it) only when they type it.
    """

    secret: str


class Element(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One interactive element of a DOM snapshot."""

    agent_id: str
    tag: str
    role: str = ""
    name: str = ""
    text: str = ""
    attrs: dict[str, str] = {}
    bbox: BoundingBox | None = None
    visible: bool = True
    occluded: bool = False
    new: bool = False


class Observation(Payload, frozen=True, kw_only=True):
    """What the page looked like when a decision was made."""

    type: ClassVar[str] = "observation"
    url: str
    title: str = ""
    text: str = ""
    elements: list[Element] = []
    screenshot: str | None = None
    """sha256 of the PNG screenshot blob, also listed in the envelope's ``blobs``."""
    step: int = 0


class Action(Payload, frozen=True, kw_only=True):
    """One decision: what was done, to which element, in which observed state.

    v2 added the PRESS and DRAG kinds, a :class:`Secret` as ``value``, ``drop_locators`` and
    ``drop_context``: a traj that knows only v1 refuses v2 events by name instead of failing on
    a kind or field it has never seen. v1 events read as :class:`ActionV1`, an ``Action``.
    """

    type: ClassVar[str] = "action"
    v: ClassVar[int] = 2
    kind: ActionKind
    target: str | None = None
    """The acted element's ``agent_id`` in the observation before the action."""
    value: str | Secret | None = None
    """TYPE's final value (a :class:`Secret` for a secret), SELECT's option, PRESS's key
    (``Shift+Tab``), DRAG's drop target ``agent_id``, NAVIGATE's URL, WAIT's seconds."""
    locators: list[tuple[LocatorStrategy, str]] = []
    """Ways to find the target again, most specific first (Playwright codegen ranking)."""
    observation_id: str | None = None
    """event_id of the observation this decision was made in."""
    step: int = 0
    context: str = ""
    """The target's surroundings (its form, dialog, section or row by label or heading), so a
    locator that now finds the same control in another place is caught rather than used."""
    drop_locators: list[tuple[LocatorStrategy, str]] = []
    """DRAG: ways to find the drop target (``value``) again, like ``locators``."""
    drop_context: str = ""
    """DRAG: the drop target's surroundings, like ``context``."""


class ActionV1(Action, frozen=True, kw_only=True):
    """An action written as v1, kept so old events stay readable: every field of v2, since the
    v2 additions were written as v1 for a while before the bump; older v1 events have none of
    them and read with their defaults. A subclass, so code that takes an ``Action`` takes it."""

    type: ClassVar[str] = "action"
    v: ClassVar[int] = 1


class DemoStarted(Payload, frozen=True, kw_only=True):
    """A person (or a script standing in for one) starts demonstrating a task."""

    type: ClassVar[str] = "demo.started"
    demo_id: str
    task: str
    goal: str
    url: str
    seed: int | None = None
    source: Literal["human", "script"] = "human"


class DemoFinished(Payload, frozen=True, kw_only=True):
    """The demonstration ended; ``success`` is the site's own verdict when known."""

    type: ClassVar[str] = "demo.finished"
    demo_id: str
    success: bool | None = None
    answer: str | None = None
    reason: str = ""


class RunStarted(Payload, frozen=True, kw_only=True):
    """The agent starts a task on its own."""

    type: ClassVar[str] = "run.started"
    v: ClassVar[int] = 2
    run_id: str
    task: str
    goal: str
    url: str
    seed: int | None = None
    backend: str = ""
    model: str = ""
    adapter: str | None = None
    max_steps: int = 15
    demo_id: str | None = None
    """The demonstration run as a workflow (``traj run`` with a replay-verified demo); None: the agent alone."""
    replay_id: str | None = None
    """The ``replay/<id>`` stream that executed the workflow (its ladder, healing and model steps)."""
    constrained: bool | None = None
    """The model could only write actions valid on the page (constrained decoding); ``None``:
    recorded before runs said."""


class RunStartedV1(RunStarted, frozen=True, kw_only=True):
    """A ``run.started`` written as v1, kept readable: v2 added ``demo_id``, ``replay_id`` (a
    workflow's run) and ``constrained``, which v1 events read with their defaults (some were
    written as v1 before the bump). A subclass, so code that takes a ``RunStarted`` takes it."""

    type: ClassVar[str] = "run.started"
    v: ClassVar[int] = 1


StepSource = Literal["workflow", "healed", "model", "agent"]
"""Who took a step: the demonstration as recorded (``workflow``), the demonstration through a
healed locator (``healed``), the model fallback of a workflow (``model``), or the agent (``agent``)."""


class RunStep(Payload, frozen=True, kw_only=True):
    """How the agent decided one step: the prompt, the model's raw text, the guards, the timings.

    Appended with the step's ``observation`` (and ``action``, when one was executed) so a run
    reads like a demonstration; this event holds what only a model-driven step has.
    """

    type: ClassVar[str] = "run.step"
    v: ClassVar[int] = 2
    run_id: str
    step: int
    prompt_sha256: str = ""
    """Empty on a step no model decided (source ``workflow`` or ``healed``), as are the other model fields."""
    prompt_tokens: int = 0
    prompt_truncated: bool = False
    raw_output: str = ""
    completion_tokens: int = 0
    parse_method: str | None = None
    """``json``, ``regex`` or ``done_language``; ``None`` when the output held no action."""
    proposed: dict[str, Any] | None = None
    """The parsed action before the guards."""
    action: dict[str, Any] | None = None
    """The action chosen after the guards (``None`` when rejected); executed, unless the outcome
    is ``corrected``: the agent was unsure and a person did the step instead (``demonstrated``)."""
    guards: list[str] = []
    """Guard interventions, e.g. ``finish_before_submit -> PRESS_ENTER``."""
    outcome: Literal["ok", "rejected", "failed", "finished", "stopped", "corrected"]
    error: str = ""
    """What was fed back to the model: a parse error, a rejection, an execution failure."""
    confidence: float | None = None
    """Probability of the tokens naming the chosen element (or the kind, without one), where the
    backend reports token probabilities (:func:`traj.agent.choice_confidence`)."""
    demonstrated: dict[str, Any] | None = None
    """The action a person took at this step when asked (``--ask-when-unsure``); it is the step's
    ``action`` event, and a ``feedback`` event records it as the correction of ``action``."""
    timings_ms: dict[str, float] = {}
    """``observe``, ``prompt``, ``generate``, ``parse``, ``execute``."""
    adapter: str | None = None
    source: StepSource = "agent"
    """Who took the step. Only ``agent`` and ``model`` steps are a model's decisions (training rows);
    a ``workflow`` or ``healed`` step repeats the demonstration and has no observation or action event."""


class RunStepV1(RunStep, frozen=True, kw_only=True):
    """A ``run.step`` written as v1, kept readable: v2 added ``source`` and defaulted the model's fields,
    which v1 events read with their defaults (some were written as v1 before the bump). A
    subclass, so code that takes a ``RunStep`` takes it."""

    type: ClassVar[str] = "run.step"
    v: ClassVar[int] = 1


class RunFinished(Payload, frozen=True, kw_only=True):
    """The agent's run ended (FINISH, max_steps, or a stop by a guard)."""

    type: ClassVar[str] = "run.finished"
    run_id: str
    success: bool | None = None
    answer: str | None = None
    reason: str = ""
    steps: int = 0


# ---------------------------------------------------------------- replay


class ReplayStarted(Payload, frozen=True, kw_only=True):
    """A recorded demonstration is being re-executed."""

    type: ClassVar[str] = "replay.started"
    replay_id: str
    demo_id: str
    seed: int | None = None
    url: str = ""
    heal: bool = True


class ReplayStep(Payload, frozen=True, kw_only=True):
    """The result of re-executing one demonstrated action."""

    type: ClassVar[str] = "replay.step"
    v: ClassVar[int] = 2
    replay_id: str
    demo_id: str
    step: int
    action_id: str
    """event_id of the demonstrated action that was replayed."""
    status: Literal["ok", "healed", "failed"]
    strategy: str = ""
    """The locator strategy that found the element (``model`` when the model fallback chose it)."""
    locator: str = ""
    """The locator value that matched (the chosen element's agent id for a model step)."""
    reason: str = ""
    screenshot: str | None = None
    duration_ms: float = 0.0
    source: Literal["workflow", "healed", "model"] = "workflow"
    """Who took the step: the recorded locators, a healed one, or the model fallback."""
    raw_output: str = ""
    """The model's last answer on a ``model`` step."""


class ReplayStepV1(ReplayStep, frozen=True, kw_only=True):
    """A ``replay.step`` written as v1, kept readable: v2 added ``source`` and ``raw_output`` (the model fallback),
    which v1 events read with their defaults (some were written as v1 before the bump). A
    subclass, so code that takes a ``ReplayStep`` takes it."""

    type: ClassVar[str] = "replay.step"
    v: ClassVar[int] = 1


class LocatorsHealed(Payload, frozen=True, kw_only=True):
    """A replay found a demonstrated step's element by other means; later replays try these first.

    Appended to the demo's own stream: the recorded action is never rewritten.
    """

    type: ClassVar[str] = "locators.healed"
    v: ClassVar[int] = 2
    demo_id: str
    action_id: str
    locators: list[tuple[LocatorStrategy, str]]
    replay_id: str
    element: Element | None = None
    """The control the model fallback chose, when it took the step: its name may differ from the
    recorded one (the control was renamed), so later replays check candidates against it."""
    context: str = ""
    """The surroundings (form, dialog, row) of ``element``."""


class LocatorsHealedV1(LocatorsHealed, frozen=True, kw_only=True):
    """A ``locators.healed`` written as v1, kept readable: v2 added ``element`` and ``context`` (the model's control),
    which v1 events read with their defaults (some were written as v1 before the bump). A
    subclass, so code that takes a ``LocatorsHealed`` takes it."""

    type: ClassVar[str] = "locators.healed"
    v: ClassVar[int] = 1


class DemoVariables(Payload, frozen=True, kw_only=True):
    """The values of a demo that are parameters: name -> the actions that carry it.

    An action carries a variable as its typed or selected value (TYPE, SELECT) or in its
    target's name (a click on the button, tab or option the goal names). A replay substitutes
    new values for them; fingerprints and cache keys leave them out. The latest event wins
    (``traj demos vars`` edits by appending one).
    """

    type: ClassVar[str] = "demo.variables"
    v: ClassVar[int] = 2
    demo_id: str
    variables: dict[str, list[str]]
    defaults: dict[str, str] = {}
    """name -> the value the demonstration used."""
    template: str = ""
    """The demo's goal with each variable's value cut out as ``{name}`` (literal braces doubled);
    a new goal is bound by aligning it with this."""
    options: dict[str, list[str]] = {}
    """name -> the values the page offered beside the chosen one (the names of the other tabs,
    options, buttons of the same kind), which a policy's answer may name besides the goal's words."""


class DemoVariablesV1(DemoVariables, frozen=True, kw_only=True):
    """A ``demo.variables`` written as v1 (values marked by hand or from the page): v2 added
    ``template`` and ``options``, which v1 events read with their defaults (the template is then
    cut from the goal when the demo is loaded). A subclass, so code that takes a
    ``DemoVariables`` takes it."""

    type: ClassVar[str] = "demo.variables"
    v: ClassVar[int] = 1


class SuccessSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the task's end state looks like, so success is known on a site that states no predicate.

    Every part given must hold: ``url`` (a regular expression searched in the page's URL),
    each of ``texts`` shown on the page (whitespace and case aside; ``{name}`` stands for a
    demo variable's value), ``js`` (a JavaScript expression that must be truthy) and, with
    ``page_check``, the page's own ``window.traj.check()``. A spec with no part is unknown.
    """

    url: str = ""
    texts: list[str] = []
    js: str = ""
    page_check: bool = False

    @property
    def empty(self) -> bool:
        """Nothing to check: success stays unknown."""
        return not (self.url or self.texts or self.js or self.page_check)


class DemoSuccess(Payload, frozen=True, kw_only=True):
    """A demo's success spec: derived from its end state when recorded, or given by the user.

    Appended to the demo's stream; the latest one wins (``traj demos success`` edits by appending).
    """

    type: ClassVar[str] = "demo.success"
    demo_id: str
    spec: SuccessSpec
    source: Literal["derived", "user"] = "derived"


class ReplayFinished(Payload, frozen=True, kw_only=True):
    """The replay ended; ``success`` is the site's verdict after the last step."""

    type: ClassVar[str] = "replay.finished"
    v: ClassVar[int] = 2
    replay_id: str
    demo_id: str
    success: bool | None = None
    reason: str = ""
    goal: str = ""
    """The goal the replay's values were bound from (given, or stated by the page); '' when none
    was: the demonstrated values were used."""


class ReplayFinishedV1(ReplayFinished, frozen=True, kw_only=True):
    """A ``replay.finished`` written as v1, kept readable: v2 added ``goal``, which v1 events read
    as ''. A subclass, so code that takes a ``ReplayFinished`` takes it."""

    type: ClassVar[str] = "replay.finished"
    v: ClassVar[int] = 1


# ---------------------------------------------------------------- enrichment & feedback


class Enrichment(Payload, frozen=True, kw_only=True):
    """A vision model's explanation of one demonstrated step (teacher context)."""

    type: ClassVar[str] = "enrichment"
    demo_id: str
    action_id: str
    step_hash: str
    """Content hash of the step (screenshot, action, element): the cache key with model and prompt."""
    model: str
    prompt_version: str
    explanation: str
    element_rationale: str
    expected_outcome: str
    thinking_steps: list[str] = []
    attempts: int = 1
    """Requests it took: retries after 429/5xx and a re-ask after malformed output included."""
    supersedes: str | None = None
    """event_id of the enrichment of the same (step, model, prompt version) it replaces (``--force``)."""


class EnrichmentFailedV1(Payload, frozen=True, kw_only=True):
    """Enrichment of a step failed (v1, kept so old events stay readable)."""

    type: ClassVar[str] = "enrichment.failed"
    demo_id: str
    action_id: str
    step_hash: str
    model: str
    prompt_version: str
    reason: Literal["missing_key", "timeout", "http_error", "malformed", "error"]
    detail: str = ""


EnrichmentFailureReason = Literal[
    "missing_key",
    "timeout",
    "rate_limited",
    "server_error",
    "connection",
    "auth",
    "http_error",
    "malformed",
    "error",
]


class EnrichmentFailed(Payload, frozen=True, kw_only=True):
    """Enrichment of a step failed; training falls back to the raw action JSON.

    v2 names the failure precisely (v1 folded 429, 5xx and refusals into ``http_error`` and
    ``error``) and keeps the HTTP status and the requests made.
    """

    type: ClassVar[str] = "enrichment.failed"
    v: ClassVar[int] = 2
    demo_id: str
    action_id: str
    step_hash: str
    model: str
    prompt_version: str
    reason: EnrichmentFailureReason
    detail: str = ""
    status: int | None = None
    """The HTTP status of the last answer, when the server answered."""
    attempts: int = 0
    """Requests made for the step (0: none was possible, e.g. no API key)."""


class Feedback(Payload, frozen=True, kw_only=True):
    """A person's judgement of a run or of one step, optionally with the corrected action."""

    type: ClassVar[str] = "feedback"
    target: str
    """The judged stream, e.g. ``run/<id>`` or ``demo/<id>``."""
    label: Literal["good", "bad"]
    step: int | None = None
    correction: dict[str, Any] | None = None
    """The action that should have been taken at ``step`` (an Action-shaped mapping)."""
    note: str = ""


# ---------------------------------------------------------------- training & adapters


class DatasetSnapshot(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly what a training run learned from, reproducible from the log."""

    view: str
    """The projection the examples came from, e.g. ``sdft_examples``."""
    as_of_position: int
    """The log's global position the dataset was built at."""
    event_ids: list[str] = []
    """event_ids of the examples' source events (action events for demo steps)."""
    demo_ids: list[str] = []


class TrainStarted(Payload, frozen=True, kw_only=True):
    """A training job starts; its config and dataset make it reproducible."""

    type: ClassVar[str] = "train.started"
    job_id: str
    objective: Literal["sdft", "sft", "dpo"]
    base_model: str
    base_model_hash: str = ""
    config: dict[str, Any] = {}
    dataset: DatasetSnapshot
    parent_adapter: str | None = None


class TrainStep(Payload, frozen=True, kw_only=True):
    """Metrics of one optimizer step."""

    type: ClassVar[str] = "train.step"
    job_id: str
    step: int
    loss: float
    kl: float | None = None
    grad_norm: float | None = None
    lr: float | None = None
    tokens_per_s: float | None = None
    teacher_drift: float | None = None
    margin: float | None = None
    """DPO: the mean reward margin of chosen over rejected actions."""


class TrainCheckpoint(Payload, frozen=True, kw_only=True):
    """A resumable snapshot of a job after ``step`` optimizer steps (``traj train --resume``)."""

    type: ClassVar[str] = "train.checkpoint"
    job_id: str
    step: int
    """Steps done: a resumed job runs step ``step`` next."""
    blob: str
    """sha256 of the checkpoint blob: adapters, EMA teacher, optimizer, schedule and RNG state."""
    size: int = 0
    backend: str = "torch"


class TrainResumed(Payload, frozen=True, kw_only=True):
    """A job continues from its checkpoint at ``from_step`` after it stopped."""

    type: ClassVar[str] = "train.resumed"
    job_id: str
    from_step: int
    checkpoint: str
    """event_id of the ``train.checkpoint`` it continues from."""


class TrainDiagnosis(Payload, frozen=True, kw_only=True):
    """Step 0 of an SDFT job: the KL before any update and the numbers behind its usual causes."""

    type: ClassVar[str] = "train.diagnosis"
    job_id: str
    kl: float
    enriched_share: float
    teacher_accuracy: float
    """Next-action exact match of the demonstration-conditioned teacher (on the states ``accuracy_on`` says)."""
    student_accuracy: float
    ema_alpha: float
    unenriched: list[str] = []
    """Per demo, the steps whose teacher context lacks an enrichment and why (one line each)."""
    accuracy_on: Literal["other_instances", "own_states"] = "own_states"
    """``other_instances``: other demonstrations' states of the task, the trained one in the teacher's
    context (SDFT's gate); ``own_states``: the trained demonstrations' first batch (all before this field)."""
    accuracy_steps: int = 0
    """How many states the accuracies were measured on (0: not recorded)."""


class TrainFinished(Payload, frozen=True, kw_only=True):
    """A training job ended."""

    type: ClassVar[str] = "train.finished"
    job_id: str
    status: Literal["completed", "failed", "cancelled"]
    steps: int = 0
    adapter: str | None = None
    error: str = ""


class AdapterCreated(Payload, frozen=True, kw_only=True):
    """A trained adapter exists; its lineage starts here."""

    type: ClassVar[str] = "adapter.created"
    name: str
    job_id: str
    base_model: str
    format: Literal["peft", "mlx"] = "peft"
    path: str = ""
    files: dict[str, str] = {}
    """Adapter file name -> blob sha256."""
    parent: str | None = None


class AdapterLoaded(Payload, frozen=True, kw_only=True):
    """An adapter was made active in a serving backend."""

    type: ClassVar[str] = "adapter.loaded"
    name: str
    backend: str
    host: str = ""


class AdapterUnloaded(Payload, frozen=True, kw_only=True):
    """An adapter was removed from a serving backend."""

    type: ClassVar[str] = "adapter.unloaded"
    name: str
    backend: str
    host: str = ""


# ---------------------------------------------------------------- improvement jobs & specialists


class _ImprovementJobSpec(Payload, frozen=True, kw_only=True):
    """What an improvement job is: its scope, objective and training settings (whole, not a diff)."""

    job: str
    scope: Literal["task", "agent"]
    target: str
    """The task's name (scope ``task``) or the agent's name (scope ``agent``: every task's data)."""
    objective: Literal["sdft", "sft", "dpo"] = "sdft"
    settings: dict[str, Any] = {}
    """Training settings that differ from the defaults (steps, lr, rank, backend, ...)."""
    note: str = ""


class ImprovementJobCreated(_ImprovementJobSpec, frozen=True, kw_only=True):
    """An improvement job was defined."""

    type: ClassVar[str] = "improvement.created"


class ImprovementJobUpdated(_ImprovementJobSpec, frozen=True, kw_only=True):
    """An improvement job's objective, settings or note changed; the payload is the new whole."""

    type: ClassVar[str] = "improvement.updated"
    changed: list[str] = []


class ImprovementJobRan(Payload, frozen=True, kw_only=True):
    """An improvement job trained an adapter (through an ordinary ``train/<job>`` training job)."""

    type: ClassVar[str] = "improvement.ran"
    job: str
    train_job_id: str
    adapter: str
    parent: str | None = None
    registered: bool = False


class SpecialistRegistered(Payload, frozen=True, kw_only=True):
    """``adapter`` is now the specialist the agent loads for ``task``."""

    type: ClassVar[str] = "specialist.registered"
    task: str
    adapter: str
    previous: str | None = None
    note: str = ""


class SpecialistRolledBack(Payload, frozen=True, kw_only=True):
    """``task``'s specialist went back from ``previous`` to the earlier ``adapter``."""

    type: ClassVar[str] = "specialist.rolled_back"
    task: str
    adapter: str
    previous: str
    reason: Literal["parent", "named"]
    """``parent``: the rolled-back adapter's parent in lineage; ``named``: the person chose it."""
    note: str = ""
