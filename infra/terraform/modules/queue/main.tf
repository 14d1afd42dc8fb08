# The buffer between S3 and the aggregator (NFR-04/08) and its dead-letter queue.

locals {
  # AWS's guidance for Lambda event sources: at least six times the function timeout,
  # plus the batching window during which received messages wait for the batch to fill.
  visibility_timeout_seconds = 6 * var.function_timeout_seconds + var.batching_window_seconds

  # Exactly one sender may put messages on the queue: the path the notifications take.
  notification_path  = var.notification_source.sns_topic_arn != null ? "sns" : var.notification_source.eventbridge_bus_name != null ? "eventbridge" : "bucket"
  source_bucket_name = element(split(":::", var.source_bucket_arn), 1)
}

resource "aws_sqs_queue" "dlq" {
  name                      = var.dlq_name
  message_retention_seconds = var.dlq_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = var.tags

  lifecycle {
    # At equal retention (both at SQS's 14-day maximum, the runbook's emergency raise) a moved
    # message has only what is left of the queue's retention, and dlq-expiring fires on any message.
    precondition {
      condition     = var.dlq_retention_seconds >= var.retention_seconds
      error_message = "dlq_retention_seconds must be at least retention_seconds: a message moved to the DLQ keeps its age."
    }
  }
}

resource "aws_sqs_queue" "this" {
  name                       = var.name
  message_retention_seconds  = var.retention_seconds
  visibility_timeout_seconds = local.visibility_timeout_seconds
  receive_wait_time_seconds  = 20
  sqs_managed_sse_enabled    = true
  tags                       = var.tags

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq.arn
    maxReceiveCount     = var.max_receive_count
  })

  lifecycle {
    precondition {
      # A poison message comes back after each visibility timeout: it must reach the DLQ before SQS deletes it.
      condition     = var.retention_seconds > var.max_receive_count * local.visibility_timeout_seconds
      error_message = "retention_seconds must exceed max_receive_count x the visibility timeout, or a poison message expires before it reaches the DLQ."
    }
  }
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this.arn]
  })
}

data "aws_iam_policy_document" "this" {
  dynamic "statement" {
    for_each = local.notification_path == "bucket" ? [var.source_bucket_arn] : []

    content {
      sid       = "OnlyTheLandingBucketSends"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this.arn]

      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [var.source_account_id]
      }
    }
  }

  dynamic "statement" {
    for_each = local.notification_path == "sns" ? [var.notification_source.sns_topic_arn] : []

    content {
      sid       = "OnlyTheLandingTopicSends"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this.arn]

      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }

  dynamic "statement" {
    for_each = aws_cloudwatch_event_rule.object_created[*].arn

    content {
      sid       = "OnlyTheObjectCreatedRuleSends"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.this.arn]

      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [statement.value]
      }
    }
  }

  # Every action, not only send/receive/delete: GetQueueAttributes, ChangeMessageVisibility,
  # PurgeQueue and the policy calls must not go over plain HTTP either.
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.this.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.this.json
}

# S3 -> SNS -> SQS: the queue subscribes to a topic the landing bucket publishes to (the topic's own
# policy must let s3.amazonaws.com publish). The parser reads the SNS envelope and a raw body alike.
resource "aws_sns_topic_subscription" "landing" {
  count = local.notification_path == "sns" ? 1 : 0

  topic_arn            = var.notification_source.sns_topic_arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this.arn
  raw_message_delivery = var.notification_source.sns_raw_message_delivery

  depends_on = [aws_sqs_queue_policy.this]
}

# S3 -> EventBridge -> SQS: a rule for the landing bucket's Object Created events on the bus.
resource "aws_cloudwatch_event_rule" "object_created" {
  count = local.notification_path == "eventbridge" ? 1 : 0

  name           = "${var.name}-object-created"
  description    = "Objects created in ${local.source_bucket_name}, for courier."
  event_bus_name = var.notification_source.eventbridge_bus_name
  tags           = var.tags

  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [local.source_bucket_name] }
    }
  })
}

resource "aws_cloudwatch_event_target" "object_created" {
  count = local.notification_path == "eventbridge" ? 1 : 0

  rule           = aws_cloudwatch_event_rule.object_created[0].name
  event_bus_name = var.notification_source.eventbridge_bus_name
  arn            = aws_sqs_queue.this.arn

  depends_on = [aws_sqs_queue_policy.this]
}

# The DLQ holds the same messages (object keys of undelivered files): the same TLS-only rule.
data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}
