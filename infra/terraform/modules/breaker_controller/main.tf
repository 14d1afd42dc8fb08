# The breaker controller (NFR-04/08): every minute, pause the aggregator's event
# source mapping while the NiFi circuit is open, probe every dependency itself
# once the recovery timeout has passed (the NiFi secret, a ledger read, both
# buckets, a probe bundle POSTed to NiFi), and release parked messages once the
# circuit is closed. The probe takes the aggregator's path: the same private
# subnets, egress and COURIER_* settings, and read-only rights on what it checks.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  ec2_arn     = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  subnet_arns = [for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"]
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158:Logs carry metadata only; encrypted by CloudWatch's own keys.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Only for this account's functions (the confused-deputy guard AWS recommends).
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

# The role's policy is infra/terraform/policies/breaker_controller.json.tftpl, the one document
# the local stack also renders and runs the controller under, with the emulator enforcing it
# (src/courier/local/iam.py). On the breaker table: BatchGetItem, the consistent read of `nifi`
# and `cause#nifi`; GetItem, PutItem and UpdateItem, Powertools' breaker writing the probe's
# transitions; Scan and DeleteItem, the parked-message records it releases and forgets. On the
# buckets only s3:ListBucket, which authorises the probe's HeadBucket: no object is read.
resource "aws_iam_role_policy" "this" {
  name = "${var.name}-least-privilege"
  role = aws_iam_role.this.id
  policy = templatefile("${path.module}/../../policies/breaker_controller.json.tftpl", {
    breaker_table_arn        = var.breaker_table_arn
    secret_arn               = var.secret_arn
    idempotency_table_arn    = var.idempotency_table_arn
    archive_bucket_arn       = var.archive_bucket_arn
    landing_bucket_arn       = var.landing_bucket_arn
    event_source_mapping_arn = var.event_source_mapping_arn
    aggregator_function_arn  = var.aggregator_function_arn
    queue_arn                = var.queue_arn
    log_group_arn            = aws_cloudwatch_log_group.this.arn
  })
}

# ENIs for the VPC function, instead of AWS's managed AWSLambdaVPCAccessExecutionRole, which
# grants the ENI actions and logs:* on `*` (and would make the scoped OwnLogs statement moot).
# Lambda creates and deletes the function's ENIs with this role. Scoped as far as EC2 allows:
# an ENI may be created only in these subnets with this function's security group (EC2
# authorises the subnet and the security group as resources of CreateNetworkInterface), and
# deleted or re-addressed only in these subnets (ec2:Subnet, a condition key of the
# network-interface resource). Not exercised against AWS here (see the README).
data "aws_iam_policy_document" "vpc" {
  statement {
    sid       = "CreateEnisOnlyInOwnSubnetsWithOwnGroup"
    actions   = ["ec2:CreateNetworkInterface"]
    resources = concat(["${local.ec2_arn}:network-interface/*", aws_security_group.this.arn], local.subnet_arns)
  }

  statement {
    sid       = "ManageEnisOnlyInOwnSubnets"
    actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["${local.ec2_arn}:network-interface/*"]

    condition {
      test     = "ArnEquals"
      variable = "ec2:Subnet"
      values   = local.subnet_arns
    }
  }

  statement {
    # The one unavoidable `*`: these Describe actions support no resource-level permissions,
    # so AWS accepts only "*" as their resource. Limited to this region.
    sid       = "DescribeActionsTakeOnlyStar"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [data.aws_region.current.name]
    }
  }
}

resource "aws_iam_role_policy" "vpc" {
  name   = "${var.name}-vpc-enis"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.vpc.json
}

resource "aws_security_group" "this" {
  name        = "${var.name}-egress"
  description = "courier breaker controller: no ingress; egress only to NiFi and the VPC endpoints"
  vpc_id      = var.vpc_id
  tags        = var.tags

  egress {
    description = "NiFi over VPN / Direct Connect (the probe bundle)"
    from_port   = var.nifi_port
    to_port     = var.nifi_port
    protocol    = "tcp"
    cidr_blocks = [var.nifi_cidr]
  }

  egress {
    description     = "S3 and DynamoDB gateway endpoints"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    prefix_list_ids = [var.s3_prefix_list_id, var.dynamodb_prefix_list_id]
  }

  egress {
    description     = "Secrets Manager, SQS and Lambda interface endpoints"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    security_groups = var.endpoint_security_group_ids
  }
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Invoked by a schedule every minute; a missed run is simply the next run.
  # checkov:skip=CKV_AWS_50:Tracing is by logs; X-Ray needs a resource-wide permission for little gain here.
  # checkov:skip=CKV_AWS_272:The package is built reproducibly by `make package` in CI; enable AWS Signer code signing in the environment if required.
  # checkov:skip=CKV_AWS_173:Environment variables hold names and URLs only; the credential lives in Secrets Manager.
  function_name = var.name
  role          = aws_iam_role.this.arn
  handler       = "courier.handler.controller_handler"
  runtime       = var.runtime
  architectures = ["arm64"]
  memory_size   = 256
  # 60 s by default: a run is the breaker read, four dependency checks (the secret, a ledger
  # read, two HeadBuckets), the probe POST, the mapping switch and the release of parked
  # messages. COURIER_FUNCTION_TIMEOUT_SECONDS carries the same value and the probe's POST
  # timeouts derive from it (src/courier/budget.py): at 60 s its POST budget is at most 25 s
  # (2 x (5 s connect + 2 x 3.75 s read)), half of what is left after 10 s of bookkeeping, so the
  # other half is for the AWS calls. And it does not outlast the one-minute schedule, so with a
  # reserved concurrency of 1 runs do not queue up behind a slow one.
  timeout                        = var.timeout_seconds
  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency # -1: none
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  tags                           = var.tags

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  environment {
    # The aggregator's COURIER_* settings (Settings.from_env), so the probe checks the same secret,
    # ledger, buckets and NiFi endpoint; plus the controller's own (ControllerSettings). The function
    # timeout and claim lease are this function's own: the probe's POST timeouts derive from them.
    variables = merge(
      {
        COURIER_ARCHIVE_BUCKET           = var.archive_bucket_name
        COURIER_LANDING_BUCKET           = var.landing_bucket_name
        COURIER_LANDING_BUCKETS          = var.landing_bucket_name
        COURIER_NIFI_URL                 = var.nifi_url
        COURIER_NIFI_SECRET_ID           = var.secret_name
        COURIER_NIFI_CA_BUNDLE           = var.nifi_ca_bundle_path
        COURIER_IDEMPOTENCY_TABLE        = var.idempotency_table_name
        COURIER_BREAKER_TABLE            = var.breaker_table_name
        COURIER_BREAKER_RECOVERY_SECONDS = tostring(var.breaker_recovery_seconds)
        COURIER_CLAIM_LEASE_SECONDS      = tostring(var.timeout_seconds + 60)
        COURIER_FUNCTION_TIMEOUT_SECONDS = tostring(var.timeout_seconds)
        COURIER_ESM_UUID                 = var.event_source_mapping_uuid
        POWERTOOLS_SERVICE_NAME          = var.metrics_service
      },
      var.extra_environment,
    )
  }

  # The role's policies first: Lambda creates the ENIs with them when the function is created.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this, aws_iam_role_policy.vpc]
}

resource "aws_cloudwatch_event_rule" "this" {
  name                = "${var.name}-schedule"
  description         = "Run the courier breaker controller"
  schedule_expression = var.schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "this" {
  rule = aws_cloudwatch_event_rule.this.name
  arn  = aws_lambda_function.this.arn
}

# The sweep (src/courier/sweep.py): the same function, hourly, with its own input, deletes the
# exact landing versions of bundles delivered more than a week ago (free DeleteObjects); the
# landing lifecycle stays the safety net for everything it leaves. The input must equal
# courier.sweep.SWEEP_EVENT (tests/unit/test_terraform.py checks it).
resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name}-sweep"
  description         = "Sweep delivered courier landing revisions past the week"
  schedule_expression = var.sweep_schedule_expression
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule  = aws_cloudwatch_event_rule.sweep.name
  arn   = aws_lambda_function.this.arn
  input = jsonencode({ courier = "sweep" })
}

resource "aws_lambda_permission" "sweep" {
  statement_id  = "AllowEventBridgeSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep.arn
}

# A scheduled run is asynchronous: by default Lambda retries a failed one twice and keeps an
# event up to 6 hours (behind the reserved concurrency of 1), so stale runs would queue up and
# replay old minutes. The next minute's run is the retry: no retries, and an event older than the
# schedule's period is dropped.
resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60
}

resource "aws_lambda_permission" "this" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}
