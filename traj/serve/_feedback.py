"""``POST /feedback``: judge a run in the server's store, as ``traj feedback`` does on the laptop.

The body is the command's arguments: ``{"run", "label", "step", "correction", "note"}``. It goes
through :func:`traj.agent.record_feedback`, so the same checks hold (the run exists, the step is
one it took, a correction names an element that was on that page) and a refused request
appends nothing: 404 for an unknown run, 422 for the rest.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from traj.agent import FeedbackError, UnknownTargetError, record_feedback
from traj.eventlog import Store
from traj.serve._errors import ApiError
from traj.serve._limits import unicode_only

__all__ = ["FeedbackRequest", "feedback_router"]


class FeedbackRequest(BaseModel):
    """A judgement of a run (or of one of its steps), with the action that should have been taken."""

    model_config = ConfigDict(extra="forbid")

    run: str = Field(min_length=1, max_length=256)
    """The run id, or ``run/<id>`` / ``demo/<id>``."""
    label: Literal["good", "bad"]
    step: int | None = Field(None, ge=0)
    """Judge only this step (as numbered in ``run_steps``)."""
    correction: Annotated[dict[str, Any], AfterValidator(unicode_only)] | None = None
    """The action that should have been taken at ``step``, e.g. ``{"kind": "CLICK", "target": "12"}``."""
    note: str = Field("", max_length=10_000)


class FeedbackAnswer(BaseModel):
    """Where the judgement was appended."""

    stream: str
    event_id: str
    position: int
    target: str
    label: str
    step: int | None
    correction: dict[str, Any] | None
    note: str


def feedback_router(*, store: Store) -> APIRouter:
    """The route above over ``store``."""
    router = APIRouter()

    @router.post("/feedback", status_code=201, responses={404: {"description": "no such run or demo"}})
    async def post_feedback(body: FeedbackRequest) -> FeedbackAnswer:
        def record() -> FeedbackAnswer:
            recorded = record_feedback(
                store, body.run, body.label, step=body.step, correction=body.correction, note=body.note
            )
            feedback = recorded.feedback
            return FeedbackAnswer(
                stream=recorded.stream,
                event_id=recorded.event_id,
                position=recorded.position,
                target=feedback.target,
                label=feedback.label,
                step=feedback.step,
                correction=feedback.correction,
                note=feedback.note,
            )

        try:
            answer = await run_in_threadpool(record)
        except UnknownTargetError as exc:
            raise ApiError(404, str(exc)) from None
        except FeedbackError as exc:
            raise ApiError(422, str(exc)) from None
        return answer

    return router
