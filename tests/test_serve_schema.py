"""A bounded Schemathesis run against the server's OpenAPI schema: no 5xx, no answer off its schema."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    negative_data_rejection,
    positive_data_acceptance,
    status_code_conformance,
)

from tests.test_policy_remote import EchoPolicy  # noqa: E402
from traj.eventlog import Store  # noqa: E402
from traj.serve import ServeLimits, create_app  # noqa: E402

TOKEN = "schema-token"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = Store.open(tmp_path_factory.mktemp("schema") / "store")
    limits = ServeLimits(max_upload_bytes=64 << 10, max_steps=4, max_queued=2)
    yield create_app(EchoPolicy(), token=TOKEN, store=store, model_dir="/nonexistent-model", limits=limits)
    store.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": f"Bearer {TOKEN}"})


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case):
    # The bar: no 5xx and no answer off the schema. Not checked: whether loose inputs
    # (extra fields) are refused (traj's own routes ignore them; the OpenAI routes refuse them, as
    # OpenAI does, tested in test_serve_openai), and whether every
    # error status (400/404/409/413) is listed per route in the schema (not yet documented).
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN}"},
        excluded_checks=[negative_data_rejection, positive_data_acceptance, status_code_conformance],
    )
