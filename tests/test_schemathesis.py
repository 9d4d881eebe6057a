"""Property-based tests of the whole API from its own /openapi.json (schemathesis):
generated valid and invalid requests, authenticated, must never give a 500 and every response
must match the documented status codes and schemas.

Two modes: a fast one (30 schema-valid examples per operation, paths with random ids); and,
marked `fuzz`, many examples per operation, schema-valid and schema-invalid, where every
`{order_id}` is a real order made for that operation (recurring, so that PUT and PATCH bodies
meet a real definition: combinations of fields are checked against the rules between fields,
not only a 404). It runs in `make test` too (about a minute); `pytest -m "not fuzz"` leaves it
out. (Schemathesis' stateful mode, which follows links between operations, is not used: under
pytest it replays Hypothesis data against a database that has moved on, which Hypothesis
reports as flaky generation.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import Account, ProviderAccount
from tests.helpers import in_

EXAMPLES_PER_OPERATION = 30
# Not checked: "every schema-valid request is accepted". Some rules are beyond JSON Schema and
# rightly answer 422: cron syntax, time zone names, opaque cursors, unknown provider or request
# ids, rules between fields. Everything else is: no 500, documented statuses, response schemas
# and content types, schema-invalid data rejected.
EXCLUDED_CHECKS = [positive_data_acceptance]


@pytest.fixture
def tokens(client, db, database_url) -> dict[str, str]:
    customer = Account(client, "fuzz@example.com")
    admin = Account(client, "fuzz-admin@example.com")
    db.execute("UPDATE users SET role = 'admin' WHERE user_id = %s", (admin.user_id,))
    provider = ProviderAccount(client, database_url, "Fuzzco")
    client.post(
        "/orders",
        json={"order_name": "seed", "provider_id": provider.provider_id},
        headers=customer.headers,
    )
    # Refresh tokens rotate, and reusing one ends its session: /auth/refresh gets a session of
    # its own, so that the customer's access token stays valid for every other operation.
    refresher = client.post(
        "/auth/login", json={"email": customer.email, "password": customer.password}
    )
    return {
        "customer": customer.access,
        "refresh": refresher.json["refresh_token"],
        "admin": admin.access,
        "provider": provider.access,
    }


def token_for(path: str, tokens: dict[str, str]) -> str:
    if path.startswith("/dashboard"):
        return tokens["admin"]
    if path.startswith("/provider/"):
        return tokens["provider"]
    if path == "/auth/refresh":
        return tokens["refresh"]
    return tokens["customer"]


def api_schema(app):
    """The API minus the two operations that end the sessions every other one uses
    (tests/test_sessions.py covers them)."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    return schema.exclude(path=["/auth/logout", "/auth/logout-all"])


RUN = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run: a failure reproduces
    database=None,
)


def run_each_operation(app, tokens, modes: list[GenerationMode], examples: int, orders=None):
    """Each operation in turn (the pytest plugin's lazy loader does not run on pytest 9);
    `orders`: makes a real order for the operations that take an order_id."""
    failures = {}
    for result in api_schema(app).get_all_operations():
        operation = result.ok()
        ids = {"order_id": orders()} if orders and "{order_id}" in operation.path else None
        for mode in modes:
            try:
                check_operation(operation, tokens, mode, examples, ids)
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                continue
            except (Exception, BaseExceptionGroup) as exc:  # collect all, report all
                failures[f"{operation.label} ({mode.value})"] = exc
    assert not failures, "\n\n".join(f"{label}: {exc}" for label, exc in failures.items())


def check_operation(operation, tokens, mode: GenerationMode, examples: int, ids=None) -> None:
    headers = {"Authorization": f"Bearer {token_for(operation.path, tokens)}"}
    cases = operation.as_strategy(generation_mode=mode, path_parameters=ids)

    @settings(RUN, max_examples=examples)
    @given(case=cases)
    def run(case):
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED_CHECKS)

    run()


def test_api_matches_its_schema(app, tokens):
    run_each_operation(app, tokens, [GenerationMode.POSITIVE], EXAMPLES_PER_OPERATION)


@pytest.mark.fuzz
def test_api_with_many_valid_and_invalid_examples(app, client, tokens):
    """100 schema-valid and 40 schema-invalid requests per operation, on real orders."""
    headers = {"Authorization": f"Bearer {tokens['customer']}"}
    recurring = {
        "order_name": "fuzzed",
        "is_recurring": True,
        "repeat_interval": 2,
        "repeat_unit": "hours",
        "schedule_time": in_(3600),
    }

    def an_order() -> int:
        return client.post("/orders", json=recurring, headers=headers).json["order_id"]

    run_each_operation(app, tokens, [GenerationMode.POSITIVE], 100, an_order)
    run_each_operation(app, tokens, [GenerationMode.NEGATIVE], 40, an_order)
