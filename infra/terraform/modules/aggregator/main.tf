# The aggregator function (section 4, phase 2/4): private subnets, egress only to
# NiFi and the VPC endpoints, a least-privilege role that cannot change its own
# configuration, published versions behind a `live` alias shifted by CodeDeploy.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  lambda_arn_prefix = "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  function_arn      = "${local.lambda_arn_prefix}:function:${var.name}"
  log_group         = "/aws/lambda/${var.name}"
  ec2_arn           = "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  cloudwatch_arn    = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  subnet_arns       = [for id in var.subnet_ids : "${local.ec2_arn}:subnet/${id}"]
}

resource "aws_cloudwatch_log_group" "this" {
  # checkov:skip=CKV_AWS_158:Logs carry metadata only (no content, no credentials); encrypted by CloudWatch's own keys.
  name              = local.log_group
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

# The role's policy is infra/terraform/policies/aggregator.json.tftpl, the one document the
# local stack also renders (with the emulator's ARNs) and runs the aggregator under, with the
# emulator enforcing it (src/courier/local/iam.py; README "IAM proven by enforcement").
# It reads landed files and tags the delivered ones, reads archived bundles to resend them, puts
# only bundles and index lines (courier.bundle.archive_key / index_key), may only send to the DLQ
# (a message that can never succeed, moved at once: courier.dead_letter), and may never change
# its own function, alias or event source mapping.
resource "aws_iam_role_policy" "this" {
  name = "${var.name}-least-privilege"
  role = aws_iam_role.this.id
  policy = templatefile("${path.module}/../../policies/aggregator.json.tftpl", {
    landing_bucket_arn    = var.landing_bucket_arn
    archive_bucket_arn    = var.archive_bucket_arn
    idempotency_table_arn = var.idempotency_table_arn
    breaker_table_arn     = var.breaker_table_arn
    secret_arn            = var.secret_arn
    queue_arn             = var.queue_arn
    dlq_arn               = var.dlq_arn
    log_group_arn         = aws_cloudwatch_log_group.this.arn
    function_arn          = local.function_arn
    lambda_arn_prefix     = local.lambda_arn_prefix
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
  description = "courier aggregator: no ingress; egress only to NiFi and the VPC endpoints"
  vpc_id      = var.vpc_id
  tags        = var.tags

  egress {
    description = "NiFi over VPN / Direct Connect"
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
    description     = "Secrets Manager and SQS interface endpoints"
    from_port       = 443
    to_port         = 443
    protocol        = "tcp"
    security_groups = var.endpoint_security_group_ids
  }
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Invoked synchronously by the SQS event source mapping; failures go back to the queue and its DLQ, a function DLQ would never receive anything.
  # checkov:skip=CKV_AWS_50:Tracing is by EMF metrics and structured logs; X-Ray needs a resource-wide permission for little gain here.
  # checkov:skip=CKV_AWS_272:The package is built reproducibly by `make package` in CI; enable AWS Signer code signing in the environment if required.
  # checkov:skip=CKV_AWS_173:Environment variables hold names and URLs only; the credential lives in Secrets Manager.
  function_name = var.name
  role          = aws_iam_role.this.arn
  handler       = "courier.handler.lambda_handler"
  runtime       = var.runtime
  architectures = ["arm64"]
  memory_size   = var.memory_mb
  timeout       = var.timeout_seconds

  # /tmp holds the spools of files and bundles beyond the memory budget: a large file and its bundle (docs/large-files.md).
  # The function reads its size from the file system: the largest file it takes follows.
  ephemeral_storage {
    size = var.ephemeral_storage_mb
  }

  reserved_concurrent_executions = var.reserved_concurrency == null ? -1 : var.reserved_concurrency # -1: none
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  publish                        = true
  tags                           = var.tags

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.this.id]
  }

  environment {
    variables = merge(
      {
        COURIER_ARCHIVE_BUCKET           = var.archive_bucket_name
        COURIER_LANDING_BUCKETS          = var.landing_bucket_name
        COURIER_NIFI_URL                 = var.nifi_url
        COURIER_NIFI_SECRET_ID           = var.secret_name
        COURIER_NIFI_CA_BUNDLE           = var.nifi_ca_bundle_path
        COURIER_IDEMPOTENCY_TABLE        = var.idempotency_table_name
        COURIER_BREAKER_TABLE            = var.breaker_table_name
        COURIER_BREAKER_RECOVERY_SECONDS = tostring(var.breaker_recovery_seconds)
        COURIER_CLAIM_LEASE_SECONDS      = tostring(var.timeout_seconds + 60)
        COURIER_FUNCTION_TIMEOUT_SECONDS = tostring(var.timeout_seconds)
        POWERTOOLS_SERVICE_NAME          = var.metrics_service
      },
      var.extra_environment,
    )
  }

  lifecycle {
    precondition {
      condition     = var.reserved_concurrency == null || try(var.reserved_concurrency >= var.maximum_concurrency, false)
      error_message = "reserved_concurrency must be at least maximum_concurrency."
    }
  }

  # The role's policies first: Lambda creates the ENIs with them when the function is created.
  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this, aws_iam_role_policy.vpc]
}

resource "aws_lambda_alias" "this" {
  name             = "live"
  function_name    = aws_lambda_function.this.function_name
  function_version = aws_lambda_function.this.version

  lifecycle {
    # CodeDeploy owns the alias after the first apply (`courier deploy`). Without these, every apply
    # that publishes a version would point `live` at it at once, all the traffic with no canary and
    # no alarm rollback, and an apply during a deployment would reset the canary's routing_config
    # under CodeDeploy's feet. The function_version above is only the alias's first version.
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = var.queue_arn
  function_name                      = aws_lambda_alias.this.arn
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]
  enabled                            = true

  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }

  lifecycle {
    # The breaker controller pauses and resumes the mapping; Terraform must not fight it.
    ignore_changes = [enabled]
  }
}

resource "aws_codedeploy_app" "this" {
  name             = var.name
  compute_platform = "Lambda"
  tags             = var.tags
}

data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "codedeploy" {
  name               = "${var.name}-codedeploy"
  assume_role_policy = data.aws_iam_policy_document.codedeploy_assume.json
  tags               = var.tags
}

# What AWSCodeDeployRoleForLambdaLimited grants a Lambda deployment, scoped to this function: that
# managed policy allows lambda:GetAlias/UpdateAlias/GetProvisionedConcurrencyConfig and
# cloudwatch:DescribeAlarms on every resource, and s3:GetObject for AppSpecs in S3. Left out: S3
# (`courier deploy` sends the AppSpec in the request), lambda:InvokeFunction of CodeDeployHook_*
# (the AppSpec has no hooks) and sns:Publish (the group has no trigger; alarms notify the topic).
data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ShiftOnlyThisFunctionsLiveAlias"
    actions   = ["lambda:GetAlias", "lambda:UpdateAlias"]
    resources = [local.function_arn, aws_lambda_alias.this.arn]
  }

  statement {
    # Read for the alias and each version it shifts between (qualified ARNs of this function only).
    sid       = "ReadProvisionedConcurrencyOfThisFunction"
    actions   = ["lambda:GetProvisionedConcurrencyConfig"]
    resources = [local.function_arn, "${local.function_arn}:*"]
  }

  dynamic "statement" {
    # DescribeAlarms takes the alarm as its resource (Service Authorization Reference: resource type
    # `alarm`), so only the rollback alarms; no statement when the group watches none.
    for_each = length(var.rollback_alarm_names) > 0 ? [1] : []
    content {
      sid       = "WatchOnlyTheRollbackAlarms"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = [for alarm in var.rollback_alarm_names : "${local.cloudwatch_arn}:alarm:${alarm}"]
    }
  }
}

resource "aws_iam_role_policy" "codedeploy" {
  name   = "${var.name}-codedeploy"
  role   = aws_iam_role.codedeploy.id
  policy = data.aws_iam_policy_document.codedeploy.json
}

resource "aws_codedeploy_deployment_group" "this" {
  app_name               = aws_codedeploy_app.this.name
  deployment_group_name  = "${var.name}-live"
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = var.deployment_config_name

  # CodeDeploy checks the role when the group is created: its policy must be attached first.
  depends_on = [aws_iam_role_policy.codedeploy]

  deployment_style {
    deployment_type   = "BLUE_GREEN"
    deployment_option = "WITH_TRAFFIC_CONTROL"
  }

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }

  alarm_configuration {
    enabled = length(var.rollback_alarm_names) > 0
    alarms  = var.rollback_alarm_names
  }
}
