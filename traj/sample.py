"""Synthetic demonstrations for a sample store, tests and benchmarks.

They have the shape the recorder writes (demo.started, an observation before every action,
a closing observation, demo.finished) and some enrichments, so every projection has rows.
They are labelled ``source="script"`` and never mistaken for a person's demonstration.
"""

from __future__ import annotations

import random

from traj.eventlog import (
    Action,
    BoundingBox,
    DemoFinished,
    DemoStarted,
    Element,
    Enrichment,
    NewEvent,
    Observation,
    Store,
    new_event_id,
)

__all__ = ["sample_demo_events", "write_sample_demos"]

_FIELDS = ["name", "email", "company", "phone", "city", "country"]
_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "filling", "every", "form", "field"]


def sample_demo_events(demo_id: str, *, steps: int = 6, page_bytes: int = 1000, seed: int = 0) -> list[NewEvent]:
    """Events of one synthetic form-filling demonstration with ``steps`` actions.

    ``page_bytes`` sets the size of each observation's visible text (the payload size).
    """
    rng = random.Random(f"{demo_id}:{seed}")
    url = f"http://127.0.0.1:8000/form?seed={seed}"
    events = [
        NewEvent(
            data=DemoStarted(
                demo_id=demo_id,
                task="form",
                goal="Fill in and submit the contact form",
                url=url,
                seed=seed,
                source="script",
            )
        )
    ]
    for step in range(steps):
        field = _FIELDS[step % len(_FIELDS)]
        observation = NewEvent(data=_observation(rng, url, step, page_bytes))
        kind = "CLICK" if step == steps - 1 else "TYPE"
        target = "e-submit" if kind == "CLICK" else f"e-{field}"
        value = None if kind == "CLICK" else f"{field}-{rng.randrange(10_000)}"
        action = NewEvent(
            data=Action(
                kind=kind,
                target=target,
                value=value,
                locators=[("role", f'textbox "{field}"' if kind == "TYPE" else 'button "Submit"')],
                observation_id=observation.event_id,
                step=step,
            )
        )
        events += [observation, action]
    events.append(NewEvent(data=_observation(rng, url + "&done=1", steps, page_bytes)))
    events.append(NewEvent(data=DemoFinished(demo_id=demo_id, success=True, reason="form submitted")))
    return events


def write_sample_demos(
    store: Store, demos: int = 5, *, steps: int = 6, page_bytes: int = 1000, seed: int = 0
) -> list[str]:
    """Append ``demos`` synthetic demonstrations (and enrich every other step); return their ids."""
    ids = []
    for i in range(demos):
        demo_id = f"sample-{new_event_id()}"
        events = sample_demo_events(demo_id, steps=steps, page_bytes=page_bytes, seed=seed + i)
        store.append(f"demo/{demo_id}", events, 0)
        actions = [e for e in events if isinstance(e.data, Action)]
        enrichments = [
            Enrichment(
                demo_id=demo_id,
                action_id=a.event_id,
                step_hash=a.event_id,
                model="sample",
                prompt_version="1",
                explanation=f"The form must be filled; step {a.data.step} does {a.data.kind} on {a.data.target}.",
                element_rationale="It is the only control with this label.",
                expected_outcome="The field holds the value." if a.data.kind == "TYPE" else "The form is submitted.",
                thinking_steps=["Find the next empty field", "Act on it"],
            )
            for a in actions[::2]
        ]
        store.append(f"enrich/{demo_id}", enrichments, 0)
        ids.append(demo_id)
    return ids


def _observation(rng: random.Random, url: str, step: int, page_bytes: int) -> Observation:
    text = " ".join(rng.choice(_WORDS) for _ in range(page_bytes // 5))[:page_bytes]
    elements = [
        Element(
            agent_id=f"e-{f}",
            tag="input",
            role="textbox",
            name=f,
            attrs={"name": f},
            bbox=BoundingBox(10, 40.0 * i, 200, 30),
        )
        for i, f in enumerate(_FIELDS)
    ]
    elements.append(
        Element(agent_id="e-submit", tag="button", role="button", name="Submit", bbox=BoundingBox(10, 300, 80, 30))
    )
    return Observation(url=url, title="Contact form", text=text, elements=elements, step=step)
