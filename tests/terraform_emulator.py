"""`terraform apply` of an environment against the local stack's emulator (moto's server, as `courier local` runs it).

The environment's own files are applied unchanged; an override file (``emulator_override.tf``)
points every AWS service at the emulator, with dummy credentials, path-style S3 and a local
backend. What an account brings before the first apply (a VPC with two private subnets and a
route table, a rotation function for the secret) is created first, as an operator would.
"""

from __future__ import annotations

import io
import json
import socket
import ssl
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

import terraform_cli as tf
from courier.adapters.secrets import parse_credentials
from courier.controller import Controller
from courier.local.emulator import Emulator
from courier.local.fake_nifi import FakeNiFi
from courier.local.iam import ACCOUNT_ID
from courier.local.lambda_runtime import EventSourcePoller

REGION = "eu-west-2"
# Every service the environment's resources and data sources call.
SERVICES = (
    "applicationautoscaling",
    "budgets",
    "ce",
    "cloudwatch",
    "codedeploy",
    "dynamodb",
    "ec2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "sts",
)


def override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in SERVICES)
    return f"""# Written by tests/terraform_emulator.py: the environment against the local emulator, never AWS.
terraform {{
  backend "local" {{}}
}}

provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "courier-local"
  secret_key                  = "courier-local"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2

  endpoints {{
{endpoints}
  }}
}}
"""


@dataclass(frozen=True)
class Account:
    """What the account holds before the first apply."""

    vpc_id: str
    vpc_cidr: str
    subnet_ids: list[str]
    route_table_ids: list[str]
    rotation_lambda_arn: str


def prepare_account(session: Any, environment: str) -> Account:
    ec2 = session.client("ec2")
    vpc_cidr = "10.20.0.0/16"
    # The VPC names the one environment it serves (README, "One environment per VPC"), as the operator tags it.
    tags = [{"ResourceType": "vpc", "Tags": [{"Key": "courier-environment", "Value": environment}]}]
    vpc = ec2.create_vpc(CidrBlock=vpc_cidr, TagSpecifications=tags)["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    # moto's backends are process-wide: environments applied side by side need their own names.
    name = f"courier-{environment}-nifi-rotation"
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    rotation = session.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="rotation.handler",
        Code={"ZipFile": package_bytes()},
    )["FunctionArn"]
    return Account(vpc, vpc_cidr, subnets, [table], rotation)


def package_bytes() -> bytes:
    """A stand-in package: the emulator stores the functions' code, the local runtime runs courier in-process."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("README.txt", "courier's functions run in-process on the local stack.\n")
    return code.getvalue()


def settings(account: Account, environment: str, package: Path, **extra: Any) -> dict[str, Any]:
    return {
        "landing_bucket_name": f"example-courier-landing-{environment}",
        "archive_bucket_name": f"example-courier-archive-{environment}",
        "package_path": str(package),
        "uploader_principal_arns": ["arn:aws:iam::123456789012:user/partner-uploader"],
        "uploader_source_cidrs": ["127.0.0.0/8"],
        "vpc_id": account.vpc_id,
        "vpc_cidr": account.vpc_cidr,
        "private_subnet_ids": account.subnet_ids,
        "private_route_table_ids": account.route_table_ids,
        "nifi_url": "https://127.0.0.1:8443/contentListener",
        "nifi_cidr": "127.0.0.1/32",
        "rotation_lambda_arn": account.rotation_lambda_arn,
        **extra,
    }


def configure(root: Path, tmp: Path, endpoint: str, values: dict[str, Any]) -> None:
    """Point the environment at the emulator and give it its values; then init."""
    (root / "emulator_override.tf").write_text(override(endpoint))
    (root / "emulator.auto.tfvars.json").write_text(json.dumps({"settings": values}))
    tf.terraform(root, tmp, "init", "-lockfile=readonly", "-input=false")


def state(root: Path, tmp: Path) -> dict[str, Any]:
    return json.loads(tf.terraform(root, tmp, "show", "-json").stdout)


def state_resources(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every managed resource in the state, by address."""
    found: dict[str, dict[str, Any]] = {}

    def walk(module: dict[str, Any]) -> None:
        for resource in module.get("resources", []):
            if resource["mode"] == "managed":
                found[resource["address"]] = resource["values"]
        for child in module.get("child_modules", []):
            walk(child)

    walk(shown.get("values", {}).get("root_module", {}))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Applied:
    """An environment applied to a running emulator."""

    root: Path
    tmp: Path
    emulator: Emulator
    environment: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.emulator.endpoint,
            aws_access_key_id="courier-local",
            aws_secret_access_key="courier-local",
        )

    def resources(self) -> dict[str, dict[str, Any]]:
        return state_resources(state(self.root, self.tmp))

    def name(self, suffix: str) -> str:
        return f"courier-{self.environment}-{suffix}"


def apply(tmp: Path, environment: str, **extra: Any) -> Applied:
    """Apply the environment (its ``settings`` plus ``extra``) to a new emulator on a free loopback port; stop() it after."""
    tree = tf.workspace(tmp)
    emulator = Emulator(free_port(), enforce_iam=False).start()
    applied = Applied(tree / "envs" / environment, tmp, emulator, environment)
    try:

        class Session:
            region_name = REGION

            def client(self, service: str) -> Any:
                return applied.client(service)

        account = prepare_account(Session(), environment)
        package = tmp / "courier-lambda.zip"
        package.write_bytes(package_bytes())
        configure(applied.root, tmp, emulator.endpoint, settings(account, environment, package, **extra))
        tf.terraform(applied.root, tmp, "apply", "-auto-approve", "-input=false", timeout=600)
    except BaseException:
        emulator.stop()
        raise
    return applied


def stop(applied: Applied) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    applied.emulator.stop()
    moto_api_backend.reset()  # moto's backends are process-wide: leave nothing to the next test


@dataclass
class Pipeline:
    """courier's runtime on an applied environment: the receiver, the mapping's poller, the controller."""

    fake_nifi: FakeNiFi
    poller: EventSourcePoller
    controller: Controller


def mapped_function_environment(applied: Applied, function: str, nifi_url: str, **qualifier: str) -> dict[str, str]:
    """The function's ``COURIER_*`` environment as Terraform set it (``Qualifier``: the version invoked), with what must
    point here."""
    configuration = applied.client("lambda").get_function_configuration(FunctionName=applied.name(function), **qualifier)
    environment = dict(configuration["Environment"]["Variables"])
    assert any(key.startswith("COURIER_") for key in environment), environment
    return {
        **environment,
        # Override: Terraform names the site's NiFi; here the receiver listens on a free loopback port.
        "COURIER_NIFI_URL": nifi_url,
        # Override: in AWS the SDK reaches the real endpoints (or the VPC's); here the emulator.
        "AWS_ENDPOINT_URL": applied.emulator.endpoint,
        "AWS_DEFAULT_REGION": REGION,
        # Override: the execution role's credentials; the emulator runs this apply without IAM enforcement.
        "AWS_ACCESS_KEY_ID": "courier-local",
        "AWS_SECRET_ACCESS_KEY": "courier-local",
    }


def start_pipeline(applied: Applied, state_dir: Path, setenv: Callable[[str, str], None]) -> Pipeline:
    """Start the receiver, then the aggregator and controller on what the apply created; ``stop_pipeline`` after.

    ``setenv`` (a test's ``monkeypatch.setenv``) sets the aggregator's environment, which the handler reads.
    The NiFi secret gets its first value as the runbook says (a client certificate, and NiFi's CA in ``ca_pem``).
    """
    import trustme

    from courier import handler
    from courier.compose import build_controller
    from courier.config import ControllerSettings, Settings
    from courier.local.emulator import MappingSettings, _detach_moto_self_invocation
    from courier.local.receiver_auth import issue_client_certificate

    ca = trustme.CA(organization_name="courier terraform-applied CA")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    ca.configure_trust(tls)
    tls.verify_mode = ssl.CERT_OPTIONAL
    client = issue_client_certificate(ca, "courier")
    secret = {"client_cert_pem": client["cert_pem"], "client_key_pem": client["key_pem"], "ca_pem": ca.cert_pem.bytes().decode()}
    secret_id = f"courier-{applied.environment}/nifi"
    applied.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=json.dumps(secret))
    fake_nifi = FakeNiFi(state_dir, parse_credentials(secret), tls=tls).start()
    try:
        aggregator = mapped_function_environment(applied, "aggregator", fake_nifi.url(), Qualifier="live")
        assert aggregator["COURIER_NIFI_SECRET_ID"] == secret_id
        # The schedule invokes the controller unqualified (it has no alias).
        controller_env = mapped_function_environment(applied, "breaker-controller", fake_nifi.url())
        queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{applied.name('queue')}"
        lam = applied.client("lambda")
        (mapping,) = lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
        assert mapping["FunctionArn"].endswith(f":{applied.name('aggregator')}:live"), mapping["FunctionArn"]
        _detach_moto_self_invocation(queue_arn)  # moto would invoke the mapped function itself (through Docker)
        timeout = lam.get_function_configuration(FunctionName=applied.name("aggregator"), Qualifier="live")["Timeout"]
        for name, value in aggregator.items():
            setenv(name, value)
        handler.reset()
        session = boto3.session.Session(
            region_name=REGION, aws_access_key_id="courier-local", aws_secret_access_key="courier-local"
        )
        queue_url = applied.client("sqs").get_queue_url(QueueName=applied.name("queue"))["QueueUrl"]
        poller = EventSourcePoller(
            session,
            queue_url,
            queue_arn,
            mapping["UUID"],
            MappingSettings(
                mapping["BatchSize"],
                mapping["MaximumBatchingWindowInSeconds"],
                mapping.get("ScalingConfig", {}).get("MaximumConcurrency", 2),
            ),
            handler.lambda_handler,
            timeout,
        ).start()
        controller = build_controller(ControllerSettings.from_env(controller_env), Settings.from_env(controller_env), session)
    except BaseException:
        fake_nifi.stop()
        raise
    return Pipeline(fake_nifi, poller, controller)


def stop_pipeline(pipeline: Pipeline) -> None:
    from courier import handler

    pipeline.poller.stop()
    handler.reset()
    pipeline.fake_nifi.stop()
