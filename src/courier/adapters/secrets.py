"""NiFi credentials from Secrets Manager, cached across warm invocations.

Powertools Parameters does the fetching and caching; ``refresh`` bypasses the
cache once, for the rotation window (NiFi answers 401 with the old password).
Accepted secret shapes (JSON): ``{"username": ..., "password": ...}`` or
``{"token": ...}``.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from courier.delivery import Credentials
from courier.errors import SecretFormatError, SecretUnavailableError


def parse_credentials(raw: str | bytes | dict) -> Credentials:
    try:
        data = raw if isinstance(raw, dict) else json.loads(raw)
    except ValueError:
        raise SecretFormatError("NiFi secret is not JSON") from None
    if not isinstance(data, dict):
        raise SecretFormatError("NiFi secret must be a JSON object")
    if isinstance(data.get("token"), str) and data["token"]:
        return Credentials(token=data["token"])
    if isinstance(data.get("username"), str) and isinstance(data.get("password"), str):
        return Credentials(username=data["username"], password=data["password"])
    raise SecretFormatError('NiFi secret must hold {"username", "password"} or {"token"}')


class CredentialsSource:
    def __init__(self, client: Any, secret_id: str, max_age_seconds: int) -> None:
        self.provider = SecretsProvider(boto3_client=client)
        self.secret_id = secret_id
        self.max_age_seconds = max_age_seconds

    def get(self, refresh: bool = False) -> Credentials:
        try:
            raw = self.provider.get(self.secret_id, max_age=self.max_age_seconds, force_fetch=refresh)
        except GetParameterError as exc:
            raise SecretUnavailableError(f"could not read secret {self.secret_id!r}") from exc
        return parse_credentials(raw)
