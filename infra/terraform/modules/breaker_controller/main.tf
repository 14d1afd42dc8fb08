# The breaker controller (NFR-04/08): every minute, pause the aggregator's event
# source mapping while the NiFi circuit is open, resume it when a probe is due,
# and release parked messages once the circuit is closed.

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
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadBreakerAndParkedMessages"
    actions   = ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"]
    resources = [var.breaker_table_arn]
  }

  statement {
    sid       = "PauseAndResumeOnlyThatMapping"
    actions   = ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
    resources = [var.event_source_mapping_arn]
  }

  statement {
    sid       = "ReleaseParkedMessages"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"]
    resources = [var.queue_arn]
  }

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.name}-least-privilege"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  # checkov:skip=CKV_AWS_116:Invoked by a schedule every minute; a missed run is simply the next run.
  # checkov:skip=CKV_AWS_50:Tracing is by logs; X-Ray needs a resource-wide permission for little gain here.
  # checkov:skip=CKV_AWS_272:The package is built reproducibly by `make package` in CI; enable AWS Signer code signing in the environment if required.
  # checkov:skip=CKV_AWS_173:Environment variables hold names only.
  # checkov:skip=CKV_AWS_117:Touches only the Lambda, DynamoDB and SQS control/data planes and no customer data; outside the VPC it needs no Lambda interface endpoint.
  function_name                  = var.name
  role                           = aws_iam_role.this.arn
  handler                        = "courier.controller.lambda_handler"
  runtime                        = var.runtime
  architectures                  = ["arm64"]
  memory_size                    = 256
  timeout                        = 50
  reserved_concurrent_executions = 1
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  tags                           = var.tags

  environment {
    variables = {
      COURIER_ESM_UUID                 = var.event_source_mapping_uuid
      COURIER_BREAKER_TABLE            = var.breaker_table_name
      COURIER_BREAKER_RECOVERY_SECONDS = tostring(var.breaker_recovery_seconds)
      POWERTOOLS_SERVICE_NAME          = "courier"
    }
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
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

resource "aws_lambda_permission" "this" {
  statement_id  = "AllowEventBridgeSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this.arn
}
