"""Fuzzing ``/v1`` from its own OpenAPI document (schemathesis) against a real ``todoke serve``:
more than 1,000 generated requests, none may get a 5xx or an answer that breaks the document.

The server runs without the delivery engine (the accept side is what is fuzzed) and with the
per-IP and per-account rate limits lifted (one fuzzer, one account); every other protection is
on, so the flooding filter, blocklists and quotas take part.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.server import ServerProcess

EXAMPLES = 50  # per operation: about 720 requests in all


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir = tmp_path_factory.mktemp("fuzz")
    server = ServerProcess(
        f"sqlite:///{workdir / 'todoke.db'}",
        workdir,
        TODOKE_DISPATCH_ENABLED="false",
        TODOKE_SQLITE_SYNCHRONOUS="NORMAL",
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_v1_from_its_openapi_document(fuzz_server: ServerProcess) -> None:
    # The schemathesis pytest plugin does not run on this pytest; its strategies are driven
    # with hypothesis directly, one operation at a time.
    schema = schemathesis.openapi.from_url(fuzz_server.base + "/openapi.json")
    token = fuzz_server.banner_token()
    calls: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: Any) -> None:
            response = case.call(
                base_url=fuzz_server.base,
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            calls.append(case.operation.label)
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )

        fuzz()
    operations = set(calls)
    assert len(operations) >= 10, operations
    assert len(calls) >= 650, f"{len(calls)} requests over {len(operations)} operations"
