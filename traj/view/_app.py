"""The viewer's HTTP face: the page and its assets, JSON read through the projections, blobs by hash.

Routes:

- ``GET /``, ``GET /static/...``: the single page (plain HTML, JS, CSS shipped in the package).
- ``GET /api/summary``: counts and the tasks for the list's filter.
- ``GET /api/items?kind=&task=&outcome=&q=&offset=&limit=``: one page of demos and runs.
- ``GET /api/timeline/{kind}/{id}``: a demo or run step by step.
- ``GET /api/train``, ``GET /api/train/{job_id}``: training jobs, one job's metrics and diagnosis.
- ``GET /api/adapters``: adapters, where each is loaded, lineage.
- ``GET /api/views``, ``POST /api/sql``: the SQL box (one SELECT; writes are refused).
- ``POST /api/feedback``: good/bad (and a correction) on a stream or one step, appended as an event.
- ``GET /api/blobs/{sha256}``: a screenshot, immutable and cached by the browser.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from traj.agent import FeedbackError, record_feedback
from traj.errors import BlobNotFoundError, InvalidEventError, QueryError, StoreLockedError, TrajError
from traj.eventlog import Store
from traj.view._queries import StoreView

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
"""The page's HTML, JavaScript and CSS inside the installed package."""

_encoder = msgspec.json.Encoder(decimal_format="number")  # DuckDB sums are DECIMALs
_STATUS = {QueryError: 400, InvalidEventError: 422, FeedbackError: 422, StoreLockedError: 409, BlobNotFoundError: 404}
_PNG = b"\x89PNG\r\n\x1a\n"


class FeedbackRequest(BaseModel):
    """A judgement of a whole demo or run (``step`` null) or of one of its steps."""

    target: str = Field(pattern=r"^(demo|run)/[^/]+$")
    label: Literal["good", "bad"]
    step: int | None = Field(None, ge=0)
    correction: dict[str, Any] | None = None
    """The action that should have been taken, e.g. ``{"kind": "CLICK", "target": "12"}``."""
    note: str = ""


class SqlRequest(BaseModel):
    sql: str


def create_app(home: str | Path) -> FastAPI:
    """The viewer over the store at ``home``, opened read-only; feedback opens it for writing per click."""
    home = Path(home)
    view = StoreView(Store.open(home, readonly=True))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        view.close()

    app = FastAPI(title="traj view", lifespan=lifespan)
    app.state.view = view
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(TrajError)
    async def traj_error(request: Request, exc: TrajError) -> JSONResponse:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/summary")
    def summary() -> Response:
        return _json(view.summary())

    @app.get("/api/items")
    def items(
        kind: Literal["demo", "run"] | None = None,
        task: str | None = None,
        outcome: Literal["success", "failed", "unknown"] | None = None,
        q: str | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> Response:
        return _json(view.items(kind=kind, task=task, outcome=outcome, search=q, offset=offset, limit=limit))

    @app.get("/api/timeline/{kind}/{stream_id}")
    def timeline(kind: Literal["demo", "run"], stream_id: str) -> Response:
        return _found(view.timeline(kind, stream_id), f"no {kind} {stream_id}")

    @app.get("/api/train")
    def train_runs() -> Response:
        return _json(view.train_runs())

    @app.get("/api/train/{job_id}")
    def train_run(job_id: str) -> Response:
        return _found(view.train_run(job_id), f"no training job {job_id}")

    @app.get("/api/adapters")
    def adapters() -> Response:
        return _json(view.adapters())

    @app.get("/api/views")
    def views() -> Response:
        return _json(view.views())

    @app.post("/api/sql")
    def sql(body: SqlRequest) -> Response:
        return _json(view.sql(body.sql))

    @app.post("/api/feedback")
    def feedback(body: FeedbackRequest) -> Response:
        # The writer lock is taken per click, not held: a recording or training run can use the
        # store meanwhile (a click while one does is a 409 naming that process).
        with Store.open(home, create=False) as store:
            done = record_feedback(
                store, body.target, body.label, step=body.step, correction=body.correction, note=body.note
            )
        return _json({"stream": done.stream, "event_id": done.event_id, "position": done.position})

    @app.get("/api/blobs/{digest}")
    def blob(digest: str) -> Response:
        data = view.store.get_blob(digest)
        kind = "image/png" if data.startswith(_PNG) else "application/octet-stream"
        return Response(data, media_type=kind, headers={"Cache-Control": "public, max-age=31536000, immutable"})

    return app


def _json(value: Any) -> Response:
    return Response(_encoder.encode(value), media_type="application/json")


def _found(value: dict[str, Any] | None, missing: str) -> Response:
    return _json(value) if value is not None else JSONResponse({"detail": missing}, status_code=404)
