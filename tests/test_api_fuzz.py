"""Schemathesis against the live schema: generated valid and invalid
requests to every operation, with a token, must never meet a server error
and must answer what the schema promises. Bounded: a few dozen examples per
operation and mode, well under a minute."""

import time

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.services import token_create
from billing.services import credits_grant
from videos.models import Job

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_schema_holds_and_nothing_answers_500(live, alice, mode, settings):
    settings.API_REQUESTS_PER_MINUTE = 0
    settings.USER_SUBMISSIONS_PER_MINUTE = 0
    credits_grant(user=alice, amount=5000, reason="fuzzing")
    raw = token_create(user=alice, name="fuzz")[1]
    headers = {"Authorization": f"Bearer {raw}"}
    Job.objects.create(user=alice, prompt="seen", price_credits=10, status="succeeded")
    schema = schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")
    session = requests.Session()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            response = case.call(base_url=live.url, session=session, headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        check()
    assert time.monotonic() - started < 60
