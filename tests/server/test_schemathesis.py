"""Property-based fuzzing of every HTTP operation from HQ's own ``/openapi.json``.

Schemathesis generates valid and invalid requests for each operation (with a device
token on terminal routes, an admin token on admin routes, none on enrolment) and checks
that HQ never answers 5xx, that invalid requests are refused with a 4xx, that routes
needing a token refuse requests without one, and that every answer matches the
documented status codes, content types and schemas. This module gets a database of its
own, so the fuzzed data never meets other tests.

Schemathesis' own pytest plugin does not run under pytest 9 (it touches a node
attribute pytest renamed), so each operation runs as a Hypothesis test built from
``APIOperation.as_strategy``.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from server_stub import reservations
from server_stub.audit import SYSTEM
from sync_client.contract.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.server.conftest import Chain, RunningHQ

pytestmark = pytest.mark.slow  # fuzzes HQ's API on a real server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
UNAUTHENTICATED = {"/v1/devices/enroll", "/healthz", "/metrics"}


@pytest.fixture(scope="module")
def tokens(chain: Chain) -> dict[str, str]:
    store = chain.store()
    chain.item(sku="FUZZ-1")
    channel = reservations.add_channel(chain.db, f"fuzz-{store}", [store], SYSTEM)
    return {
        "device": chain.device(store).token,
        "admin": chain.admin_token(),
        "channel": channel,
    }


def _fuzz(base_url: str, operation, mode: GenerationMode, headers: dict[str, str]) -> None:
    """Runs one operation's Hypothesis test; raises on the first failing check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        checks = CHECKS
        if (
            mode is GenerationMode.NEGATIVE
            and headers
            and "Authorization" not in (case.headers or {})
        ):
            # The invalid part of this case is the missing token, and the token the test
            # adds makes the request valid again: whatever HQ answers is not a failure to
            # reject bad data. Every other check still applies.
            checks = [c for c in CHECKS if c is not negative_data_rejection]
        sent = dict(headers)
        if any(k.lower() == PROTOCOL_HEADER.lower() for k in case.headers or {}):
            # The case's own protocol header (any version is valid) stays.
            del sent[PROTOCOL_HEADER]
        response = case.call(base_url=base_url, headers=sent, timeout=30)
        case.validate_response(response, checks=checks, headers=sent)

    run()


def test_api_never_fails_and_keeps_its_contract(hq: RunningHQ, tokens: dict[str, str]):
    schema = schemathesis.openapi.from_url(hq.url + "/openapi.json")
    failures: list[str] = []
    ran = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/v1/admin"):
            headers = {"Authorization": f"Bearer {tokens['admin']}"}
        elif operation.path.startswith("/v1/channel/"):
            headers = {"Authorization": f"Bearer {tokens['channel']}"}
        elif operation.path in UNAUTHENTICATED:
            headers = {}
        else:
            headers = {"Authorization": f"Bearer {tokens['device']}"}
        # The document describes the current protocol; a client declaring it gets exactly
        # that shape (older clients get their own, see test_protocol_versions).
        headers[PROTOCOL_HEADER] = str(PROTOCOL_VERSION)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(hq.url, operation, mode, headers)
                ran += 1
            except Unsatisfiable:
                # No parameters and no body: there is no invalid request to make.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # collect every operation's failure, then report
                failures.append(f"{operation.label} [{mode}]: {exc}")
    assert not failures, "\n\n".join(failures)
    assert ran >= 60


def test_the_document_lists_every_route(hq: RunningHQ):
    doc = httpx.get(hq.url + "/openapi.json").json()
    assert {
        "/v1/devices/enroll",
        "/v1/sync/push",
        "/v1/sync/pull",
        "/v1/sync/snapshot",
        "/v1/stock/{sku}",
        "/healthz",
        "/metrics",
        "/v1/admin/prices",
        "/v1/members/identify",
        "/v1/members",
        "/v1/members/holds",
        "/v1/members/holds/{hold_id}/release",
        "/v1/admin/members",
        "/v1/admin/members/{number}",
    } <= set(doc["paths"])
    assert set(doc["components"]["securitySchemes"]) == {
        "deviceToken",
        "adminToken",
        "channelToken",
    }
