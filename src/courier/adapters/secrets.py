"""NiFi credentials from Secrets Manager, cached across warm invocations.

Powertools Parameters does the fetching and caching; ``refresh`` bypasses the
cache once, for the rotation window (NiFi refuses the old password with a 401,
or the old client certificate with a TLS alert).

The secret is one JSON object. It holds a client certificate (mTLS, the
recommended mode), a header credential (for sites that cannot issue
certificates), or both::

    {
      "client_cert_pem": "-----BEGIN CERTIFICATE-----\\n...",   # mTLS: the certificate (chain may follow)
      "client_key_pem": "-----BEGIN PRIVATE KEY-----\\n...",    # mTLS: its unencrypted private key
      "ca_pem": "-----BEGIN CERTIFICATE-----\\n...",            # optional: the CA of NiFi's server certificate
      "username": "courier", "password": "...",                 # header credential: basic auth ...
      "token": "..."                                            # ... or a bearer token (wins over basic)
    }
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from courier.adapters.aws import translated
from courier.delivery import Credentials
from courier.errors import SecretFormatError, SecretRotationError, SecretUnavailableError

SHAPE = '{"client_cert_pem", "client_key_pem"} and/or {"username", "password"} or {"token"}'
PEM_FIELDS = ("client_cert_pem", "client_key_pem", "ca_pem")


def parse_credentials(raw: str | bytes | dict[str, Any] | None) -> Credentials:
    """The secret's JSON as :class:`Credentials`; a bad shape raises ``SecretFormatError`` naming the field, never its value."""
    if raw is None:  # what Powertools' provider may answer when it has no value to give
        raise SecretFormatError("NiFi secret has no value")
    try:
        data = raw if isinstance(raw, dict) else json.loads(raw)
    except ValueError:
        raise SecretFormatError("NiFi secret is not JSON") from None
    if not isinstance(data, dict):
        raise SecretFormatError("NiFi secret must be a JSON object")
    pems = {name: _pem(data, name) for name in PEM_FIELDS}
    if bool(pems["client_cert_pem"]) != bool(pems["client_key_pem"]):
        raise SecretFormatError("NiFi secret must hold client_cert_pem and client_key_pem together")
    if pems["client_key_pem"] and _encrypted(pems["client_key_pem"]):
        # courier has no passphrase to give; OpenSSL would ask for one on a terminal (and hang a CLI run) or fail.
        raise SecretFormatError("NiFi secret field client_key_pem is an encrypted private key: store it unencrypted")
    header: dict[str, str] = {}
    if isinstance(data.get("token"), str) and data["token"]:
        header = {"token": data["token"]}
    elif isinstance(data.get("username"), str) and isinstance(data.get("password"), str):
        header = {"username": data["username"], "password": data["password"]}
    if not header and not pems["client_cert_pem"]:
        raise SecretFormatError(f"NiFi secret must hold {SHAPE}")
    return Credentials(**header, **pems)


def _encrypted(key_pem: str) -> bool:
    """PKCS#8 ``ENCRYPTED PRIVATE KEY``, or a traditional key with ``Proc-Type: 4,ENCRYPTED``."""
    return "-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_pem or "Proc-Type: 4,ENCRYPTED" in key_pem


def _pem(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "-----BEGIN " not in value:
        raise SecretFormatError(f"NiFi secret field {name} must be PEM text (-----BEGIN ...)")
    return value


class CredentialsSource:
    """The NiFi secret, read through Powertools Parameters and cached for ``max_age_seconds``.

    Parameters
    ----------
    client
        A boto3 ``secretsmanager`` client.
    secret_id
        The secret's name or ARN (``COURIER_NIFI_SECRET_ID``).
    max_age_seconds
        How long a read is served from the cache; ``get(refresh=True)`` bypasses it.

    Example
    -------
    >>> source = CredentialsSource(boto3.client("secretsmanager"), "courier/nifi", max_age_seconds=300)  # doctest: +SKIP
    >>> source.get().has_client_certificate  # doctest: +SKIP
    True
    """

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


CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


class SecretRotation:
    """The two steps of a rotation that touch Secrets Manager: stage the new version as ``AWSPENDING``, promote it.

    ``stage`` starts from the ``AWSCURRENT`` version and replaces only the fields given, so a new
    password keeps the certificate and a new certificate keeps the password; the result must
    still be a valid NiFi secret. ``promote`` moves ``AWSCURRENT`` to the pending version
    (``UpdateSecretVersionStage``; Secrets Manager then labels the old one ``AWSPREVIOUS``) and
    takes ``AWSPENDING`` off it, as a rotation function's ``finishSecret`` step does.

    Parameters
    ----------
    client
        A boto3 ``secretsmanager`` client.
    secret_id
        The secret's name or ARN.

    Example
    -------
    >>> rotation = SecretRotation(boto3.client("secretsmanager"), "courier/nifi")  # doctest: +SKIP
    >>> pending = rotation.stage({"password": "n3w-pa55"})  # doctest: +SKIP
    >>> rotation.promote()  # doctest: +SKIP
    ('a1b2...', 'c3d4...')
    """

    def __init__(self, client: Any, secret_id: str) -> None:
        self.client = client
        self.secret_id = secret_id

    def read(self, stage: str = CURRENT) -> dict[str, Any]:
        with translated(f"GetSecretValue {self.secret_id} ({stage})"):
            raw = self.client.get_secret_value(SecretId=self.secret_id, VersionStage=stage)["SecretString"]
        try:
            data = json.loads(raw)
        except ValueError:
            raise SecretFormatError("NiFi secret is not JSON") from None
        if not isinstance(data, dict):
            raise SecretFormatError("NiFi secret must be a JSON object")
        return data

    def stage(self, updates: dict[str, str | None]) -> str:
        """Put the current secret with ``updates`` (None removes a field) as ``AWSPENDING``; returns its version id."""
        data = {**self.read(CURRENT), **updates}
        data = {k: v for k, v in data.items() if v is not None}
        parsed = parse_credentials(data)  # a pending version courier could not use must never be staged
        if updates.get("password") and parsed.password is None:
            # courier would ignore it: a password is sent only with the username beside it.
            raise SecretRotationError(f"secret {self.secret_id} has no username: a password alone would never be sent")
        with translated(f"PutSecretValue {self.secret_id} ({PENDING})"):
            answer = self.client.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps(data), VersionStages=[PENDING])
        return str(answer["VersionId"])

    def versions(self) -> dict[str, list[str]]:
        """Version id -> its staging labels."""
        with translated(f"DescribeSecret {self.secret_id}"):
            return dict(self.client.describe_secret(SecretId=self.secret_id).get("VersionIdsToStages", {}))

    def promote(self) -> tuple[str, str]:
        """``AWSPENDING`` becomes ``AWSCURRENT``; returns (previous current, new current) version ids."""
        versions = self.versions()
        current = next((v for v, stages in versions.items() if CURRENT in stages), None)
        pending = next((v for v, stages in versions.items() if PENDING in stages), None)
        if pending is None:
            raise SecretRotationError(f"secret {self.secret_id} has no {PENDING} version to promote: stage one first")
        if pending == current:
            raise SecretRotationError(f"secret {self.secret_id}: the {PENDING} version is already {CURRENT}")
        with translated(f"UpdateSecretVersionStage {self.secret_id} ({CURRENT})"):
            self.client.update_secret_version_stage(
                SecretId=self.secret_id, VersionStage=CURRENT, MoveToVersionId=pending, RemoveFromVersionId=current
            )
        with translated(f"UpdateSecretVersionStage {self.secret_id} ({PENDING})"):
            self.client.update_secret_version_stage(SecretId=self.secret_id, VersionStage=PENDING, RemoveFromVersionId=pending)
        return str(current), pending
