"""The local stack's AWS fault injection: what it answers is what botocore reads from AWS."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.parsers import create_parser

from courier.local.aws_faults import STATUS, AwsFaults, Fault, error_response

FUNCTION = "courier-function"


def parsed(service: str, error: str) -> dict:
    """The error as botocore's own parser for the service's protocol reads it."""
    model = botocore.session.get_session().get_service_model(service)
    operation = {"s3": "GetObject", "dynamodb": "PutItem", "sqs": "ReceiveMessage", "secretsmanager": "GetSecretValue"}[service]
    status, headers, body = error_response(service, error)
    response = {"status_code": int(status.split()[0]), "headers": dict(headers), "body": body}
    return create_parser(model.metadata["protocol"]).parse(response, model.operation_model(operation).output_shape)


@pytest.mark.parametrize(
    ("service", "error"),
    [
        ("dynamodb", "ThrottlingException"),
        ("dynamodb", "ProvisionedThroughputExceededException"),
        ("s3", "SlowDown"),
        ("s3", "InternalError"),
        ("sqs", "ThrottlingException"),
        ("secretsmanager", "InternalServiceError"),
    ],
)
def test_botocore_reads_the_injected_error_as_the_aws_error_it_names(service, error):
    answer = parsed(service, error)
    assert answer["Error"]["Code"] == error
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == STATUS[error]


def test_only_the_functions_requests_are_failed_and_only_the_chosen_operation():
    faults = AwsFaults(FUNCTION, seed=1)
    faults.set(Fault("dynamodb", "ThrottlingException", 1.0, "PutItem"))
    assert faults.pick(FUNCTION, "dynamodb", "PutItem") is not None
    assert faults.pick(FUNCTION, "dynamodb", "GetItem") is None
    assert faults.pick("courier-local", "dynamodb", "PutItem") is None  # the operator and the stack are spared
    assert faults.pick(FUNCTION, "s3", "PutObject") is None
    assert faults.snapshot()["injected"] == {"dynamodb": 1}


def test_a_rate_fails_about_that_fraction_and_zero_clears_the_service():
    faults = AwsFaults(FUNCTION, seed=7)
    faults.set(Fault("s3", "SlowDown", 0.25))
    hits = sum(faults.pick(FUNCTION, "s3", "GetObject") is not None for _ in range(4000))
    assert 800 < hits < 1200
    faults.set(Fault("s3", "SlowDown", 0))
    assert faults.active() == [] and faults.pick(FUNCTION, "s3", "GetObject") is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"service": "ec2", "error": "SlowDown", "rate": 1}, "service must be one of"),
        ({"service": "s3", "error": "Nope", "rate": 1}, "error must be one of"),
        ({"service": "s3", "error": "SlowDown", "rate": 2}, "rate must be"),
        ({"service": "s3", "error": "SlowDown", "rate": True}, "rate must be"),
        ([], "expected"),
    ],
)
def test_a_bad_fault_is_refused_with_one_line_naming_the_field(payload, message):
    with pytest.raises(ValueError, match=message):
        Fault.parse(json.loads(json.dumps(payload)))


def test_the_middleware_answers_the_fault_instead_of_calling_the_emulator():
    faults = AwsFaults(FUNCTION)
    faults.set(Fault("dynamodb", "ThrottlingException", 1.0))
    called = []

    def emulator(environ, start_response):
        called.append(environ)
        start_response("200 OK", [])
        return [b"{}"]

    answered = {}
    signed = {
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={FUNCTION}/20261126/eu-west-2/dynamodb/aws4_request, "
        "SignedHeaders=host",
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem",
    }
    body = faults.middleware(emulator)(signed, lambda status, headers: answered.update(status=status))
    assert answered["status"].startswith("400") and b"ThrottlingException" in b"".join(body) and called == []
    faults.clear()
    faults.middleware(emulator)(signed, lambda status, headers: answered.update(status=status))
    assert answered["status"] == "200 OK" and len(called) == 1
