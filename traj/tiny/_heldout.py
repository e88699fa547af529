"""Held-out synthetic families: kinds of site the tiny model never saw, to report its general skills.

Pretraining (:mod:`traj.tiny._synthetic`) draws from five kinds of site (forms, calendars,
shop searches, inboxes, flight lists). The kinds here are none of them, and nothing trains on
them; they probe the skills pretraining is meant to give, one step each, without a
demonstration (what the base model brings to a new site) and with another instance's (what a
demonstration adds):

- ``settings``: an account page of labelled fields. *Type the goal's value into the field its
  label names*, then *submit*, then *finish*.
- ``orders``: a list of orders. *Act on the element the goal names* (open that order), then
  *answer from the page* (FINISH with its status).

Every step also needs the action format and an id that exists on the page.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from traj.prompt import AgentAction, refer_values, render_demonstration
from traj.tiny._builder import Builder, Elements, Episode, SyntheticPage, page_text, value_of, with_attrs
from traj.tiny._synthetic import decision_prompt

__all__ = ["HELDOUT_KINDS", "SkillProbe", "heldout_episode", "skill_probes"]

HELDOUT_KINDS = ("settings", "orders")
_FAMILY = -1
"""The family id these episodes carry: no pretraining family has a negative id."""
_FIELDS = {"Display name": "person", "Email": "email", "Phone": "phone", "City": "city", "Company": "phrase"}
_STATUSES = ("Shipped", "Delayed", "Delivered", "Processing", "Cancelled", "Returned")


@dataclass(frozen=True)
class SkillProbe:
    """One decision on a held-out site: the prompt, the page it is about and the right action."""

    kind: str
    skill: str
    """What the step asks of the model (``type the goal's value into the field its label names``, ...)."""
    instance: int
    step: int
    goal: str
    page: SyntheticPage
    prompt: str
    target: str
    """The right action as JSON."""


def heldout_episode(kind: str, instance: int, variant: int = 0) -> Episode:
    """Site ``instance`` of the held-out ``kind`` (one of :data:`HELDOUT_KINDS`), filled with the
    values of ``variant``: the same site with other values for another variant, as a bundled
    site's seeds are."""
    if kind not in HELDOUT_KINDS:
        raise ValueError(f"unknown held-out kind {kind!r}; use one of {', '.join(HELDOUT_KINDS)}")
    builder = Builder(
        _FAMILY,
        kind,
        random.Random(f"heldout-{kind}-{instance}"),  # each instance its own site: many sites of the kind
        random.Random(f"heldout-values-{kind}-{instance}-{variant}"),
        long=False,
        bare=False,
    )
    (_settings if kind == "settings" else _orders)(builder)
    return builder.episode()


def skill_probes(kind: str, instances: range, *, with_demo: bool = False) -> list[SkillProbe]:
    """Every step of ``kind``'s ``instances``, without a demonstration or (``with_demo``) with a
    demonstration of the same site with other values in context, as the SDFT teacher sees one."""
    probes = []
    for instance in instances:
        current = heldout_episode(kind, instance)
        demonstration = None
        if with_demo:
            shown = heldout_episode(kind, instance, variant=1)
            demonstration = render_demonstration(shown.goal, [action.to_json() for action in shown.actions])
        for step, action in enumerate(current.actions):
            probes.append(
                SkillProbe(
                    kind,
                    current.notes[step][0].removeprefix("Why: "),
                    instance,
                    step,
                    current.goal,
                    current.pages[step],
                    decision_prompt(current, step, demonstration),
                    refer_values(action.to_json(), current.goal),
                )
            )
    return probes


def _settings(b: Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("Accountly", "Profiler", "MySpace Pro"))
    labels = s.sample(list(_FIELDS), s.randint(3, len(_FIELDS)))
    current = {label: value_of(_FIELDS[label], v) for label in labels}
    label = v.choice(labels)
    wanted = value_of(_FIELDS[label], v)
    while wanted == current[label]:
        wanted = value_of(_FIELDS[label], v)
    b.goal = f"Change the {label.lower()} in your profile to {wanted} and save."
    url = b.url("/account/profile/")
    page = Elements()
    page.links(["Profile", "Security", "Billing"], "/account/", b.seed, "Profile")
    fields = {name: page.add("textbox", name, "input", type="text", value=current[name]) for name in labels}
    buttons = ["Cancel", "Save changes"] if s.random() < 0.5 else ["Save changes", "Cancel"]
    ids = {name: page.add("button", name, "button") for name in buttons}
    text = page_text(b, app, [app, "Your profile", *(f"{name}: {value}" for name, value in current.items())])
    b.act(
        SyntheticPage(url, text, page.items),
        AgentAction("TYPE", fields[label], wanted),
        "type the goal's value into the field its label names",
    )
    typed = with_attrs(page.items, {fields[label]: {"value": wanted}})
    b.act(
        SyntheticPage(url, text, typed), AgentAction("CLICK", ids["Save changes"]), "submit with the button that saves"
    )
    saved = page_text(b, app, [app, "Your profile", "Changes saved."])
    b.act(SyntheticPage(url, saved, typed), AgentAction("FINISH"), "finish when the page confirms")


def _orders(b: Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("ShopTrack", "Parcelly", "OrderDesk"))
    count = v.randint(3, 8)
    orders = list(dict.fromkeys(value_of("reference", v) for _ in range(count + 2)))[:count]
    statuses = {ref: v.choice(_STATUSES) for ref in orders}
    pick = v.choice(orders)
    b.goal = f"Open order {pick} and tell me its status."
    url = b.url("/orders/")
    page = Elements()
    page.links(["Orders", "Returns", "Help"], "/", b.seed, "Orders")
    links = {ref: page.add("link", f"Order {ref}", "a", href=f"/orders/{ref.lower()}/?seed={b.seed}") for ref in orders}
    lines = [app, "Your orders", *(f"{ref} · {value_of('date', v)} · ${value_of('money', v)}" for ref in orders)]
    b.act(
        SyntheticPage(url, page_text(b, app, lines), page.items),
        AgentAction("CLICK", links[pick]),
        "act on the element the goal names",
    )
    detail = Elements()
    detail.links(["Orders", "Returns", "Help"], "/", b.seed, "Orders")
    detail.add("button", "Track parcel", "button")
    text = page_text(b, app, [app, f"Order {pick}", f"Status: {statuses[pick]}", f"Total: ${value_of('money', v)}"])
    b.act(
        SyntheticPage(f"{url}{pick.lower()}/", text, detail.items),
        AgentAction("FINISH", None, statuses[pick]),
        "answer from the page",
    )
