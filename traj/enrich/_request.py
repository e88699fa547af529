"""What the vision model is asked about one demonstrated step, and the step's cache key.

The model gets one user message (NIM's Llama 3.2 Vision takes no system message beside an
image, and one image per request): the screenshot taken before the step with the acted
element outlined in red, then the goal, the earlier steps, the action, the element's line
as the agent sees it, and its look-alikes on the page, which the element rationale must
tell apart. :data:`PROMPT_VERSION` changes whenever this text does, so a new prompt
re-enriches every step.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from traj.prompt import action_json, render_snapshot

if TYPE_CHECKING:
    from traj.eventlog import BoundingBox, Element, Store
    from traj.projections import Demo, DemoStep

__all__ = [
    "MAX_IMAGE_BASE64",
    "MAX_IMAGE_SIDE",
    "PROMPT_VERSION",
    "StepRequest",
    "annotate_screenshot",
    "reask_text",
    "step_request",
]

PROMPT_VERSION = "1"
"""Bumped whenever the prompt's text or the image it sends changes: the cache key includes it."""

MAX_IMAGE_SIDE = 1120
"""Llama 3.2 Vision tiles images into at most 2x2 tiles of 560 pixels; larger is downscaled anyway."""
MAX_IMAGE_BASE64 = 180_000
"""NIM's hosted API takes inline base64 images up to this many characters."""
_MAX_LOOKALIKES = 6
_OUTLINE = (255, 0, 0)
_WORD = re.compile(r"\w+")

_SHAPE = """{"explanation": "why this action is the right next step toward the goal",
 "element_rationale": "why this element and not its look-alikes",
 "expected_outcome": "what the page should show after the action",
 "thinking_steps": ["the short steps a model should think through to choose this action", "..."]}"""


@dataclass(frozen=True)
class StepRequest:
    """One step to enrich: its identity, its cache key, and what the model is shown."""

    action_id: str
    step: int
    step_hash: str
    text: str
    screenshot: str | None
    """sha256 of the observation's screenshot blob (the image is made from it when sent)."""
    box: BoundingBox | None
    """The acted element's box, outlined in the image."""

    def image(self, store: Store) -> bytes | None:
        """The JPEG the model sees: the screenshot with the element outlined, within the model's limits."""
        if self.screenshot is None:
            return None
        return annotate_screenshot(store.get_blob(self.screenshot), self.box)


def step_request(demo: Demo, index: int) -> StepRequest:
    """The request for step ``index`` of ``demo``; its ``step_hash`` covers everything the prompt shows."""
    step = demo.steps[index]
    target = step.target
    earlier = [action_json(s.action) for s in demo.steps[:index]]
    action = action_json(step.action)
    content = {
        "goal": demo.started.goal,
        "url": step.observation.url,
        "screenshot": step.observation.screenshot,
        "earlier": earlier,
        "action": action,
        "element": msgspec.to_builtins(target) if target is not None else None,
        "elements": render_snapshot(list(step.observation.elements), max_chars=1 << 30),
    }
    step_hash = hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest()
    return StepRequest(
        action_id=step.action_id,
        step=step.action.step,
        step_hash=step_hash,
        text=_prompt(demo, index, earlier, action, target),
        screenshot=step.observation.screenshot,
        box=target.bbox if target is not None else None,
    )


def reask_text(problem: str) -> str:
    """The one follow-up sent after malformed output: what was wrong and the shape again."""
    return (
        f"Your answer could not be used: {problem}. Reply again with only the JSON object, "
        f"in exactly this shape and nothing else:\n{_SHAPE}"
    )


def _prompt(demo: Demo, index: int, earlier: list[str], action: str, target: Element | None) -> str:
    step: DemoStep = demo.steps[index]
    history = "\n".join(f"{n}. {a}" for n, a in enumerate(earlier, start=1)) or "(none)"
    if target is None:
        element = "(none: this action has no target element)"
        lookalikes = "(none)"
    else:
        element = render_snapshot([target])
        lookalikes = render_snapshot(_lookalikes(step, target)) or "(none)"
    outlined = "; the acted element is outlined in red" if target is not None and target.bbox else ""
    return (
        "You are labelling one step of a person's demonstration of a web task, to teach a smaller browser "
        f"agent why the step is right. The screenshot shows the page just before the step{outlined}.\n\n"
        f"Goal: {demo.started.goal}\n"
        f"Page: {step.observation.url}\n"
        f"Step {index + 1} of {len(demo.steps)}. Earlier steps:\n{history}\n"
        f"Action taken now: {action}\n"
        f"Acted element: {element}\n"
        f"Look-alike elements on the page (not chosen):\n{lookalikes}\n\n"
        f"Reply with one JSON object and nothing else, in this shape:\n{_SHAPE}"
    )


def _lookalikes(step: DemoStep, target: Element) -> list[Element]:
    """Visible elements a model could confuse with the target: same role or tag, or shared name words."""
    words = set(_WORD.findall((target.name or target.text).lower()))
    scored = []
    for order, element in enumerate(step.observation.elements):
        if element.agent_id == target.agent_id or not element.visible:
            continue
        shared = len(words & set(_WORD.findall((element.name or element.text).lower())))
        score = 2 * ((element.role or element.tag) == (target.role or target.tag)) + min(shared, 2)
        if score >= 2:
            scored.append((-score, order, element))
    return [element for *_, element in sorted(scored, key=lambda item: item[:2])[:_MAX_LOOKALIKES]]


def annotate_screenshot(
    png: bytes, box: BoundingBox | None, *, max_side: int = MAX_IMAGE_SIDE, max_base64: int = MAX_IMAGE_BASE64
) -> bytes:
    """``png`` with ``box`` (CSS pixels; screenshots are taken at scale 1) outlined in red, as a JPEG
    no larger than ``max_side`` pixels a side and ``max_base64`` characters in base64."""
    from PIL import Image, ImageDraw

    image = Image.open(io.BytesIO(png)).convert("RGB")
    if box is not None:
        left, top = box.x - 2, box.y - 2
        ImageDraw.Draw(image).rectangle(
            (left, top, left + box.width + 4, top + box.height + 4), outline=_OUTLINE, width=3
        )
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    quality = 85
    while True:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        data = buffer.getvalue()
        if len(base64.b64encode(data)) <= max_base64 or min(image.size) <= 64:
            return data
        if quality > 45:
            quality -= 20
        else:
            image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.Resampling.LANCZOS)
