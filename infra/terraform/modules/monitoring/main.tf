# NFR-07 and section 5.3: alarms for every way courier can stop delivering, a
# composite "not delivering" alarm, anomaly detection on incoming traffic,
# a budget and a dashboard.

locals {
  namespace = "Courier"
  # The functions' POWERTOOLS_SERVICE_NAME is the deployment's name too: each environment's
  # alarms watch its own metrics, never the sum of staging and prod.
  service_dims = { service = var.name }
  alarm_topic  = [aws_sns_topic.this.arn]
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The alert topic's key. Not AWS's alias/aws/sns: that key's policy cannot be changed, it does not
# let cloudwatch.amazonaws.com or budgets.amazonaws.com use it, and so no alarm and no budget
# notification could ever be published to the topic. This key's policy lets both services
# encrypt the messages they publish (kms:GenerateDataKey*, kms:Decrypt). CodeDeploy does not
# notify here (the deployment group has no triggers); if it ever does, it needs the same.
data "aws_iam_policy_document" "alerts_key" {
  # checkov:skip=CKV_AWS_109:A key policy's Resource "*" is this key itself; the account root keeps administering it (AWS's default key policy), or nobody could.
  # checkov:skip=CKV_AWS_111:A key policy's Resource "*" is this key itself; the account root keeps administering it (AWS's default key policy), or nobody could.
  # checkov:skip=CKV_AWS_356:A key policy's Resource "*" is this key itself, the only resource a key policy can name.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  # As AWS documents it for alarm actions on an encrypted topic, and only for this account's
  # alarms (aws:SourceAccount, as for Budgets below): no other account's alarm may use the key.
  statement {
    sid       = "CloudWatchAlarmsEncryptNotifications"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "BudgetsEncryptNotifications"
    actions   = ["kms:GenerateDataKey*", "kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "alerts" {
  description             = "${var.name} alert topic: CloudWatch alarms and AWS Budgets publish to it"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.alerts_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alerts" {
  name          = "alias/${var.name}-alerts"
  target_key_id = aws_kms_key.alerts.key_id
}

resource "aws_sns_topic" "this" {
  name              = "${var.name}-alerts"
  kms_master_key_id = aws_kms_key.alerts.arn
  tags              = var.tags
}

# Who may publish: CloudWatch alarms and AWS Budgets of this account (the default topic policy,
# replaced here, let only the account's own principals). The account keeps managing the topic.
data "aws_iam_policy_document" "topic" {
  statement {
    sid = "AccountManagesTheTopic"
    actions = [
      "sns:GetTopicAttributes",
      "sns:SetTopicAttributes",
      "sns:AddPermission",
      "sns:RemovePermission",
      "sns:DeleteTopic",
      "sns:Subscribe",
      "sns:ListSubscriptionsByTopic",
      "sns:Publish",
    ]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]

    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:budgets::${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alert_emails)
  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}

resource "aws_cloudwatch_metric_alarm" "backlog" {
  alarm_name          = "${var.name}-backlog-age"
  alarm_description   = "Oldest message older than one hour (NFR-04). Runbook: docs/runbooks/backlog-and-data-age.md"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.backlog_age_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  ok_actions          = local.alarm_topic
  tags                = var.tags
}

# NFR-04's other backlog alert: "the backlog exceeds 1 hour's worth of data", by count, not age.
# Visible plus in-flight: during an outage the aggregator parks messages (invisible for 11 h),
# so the visible count alone would fall while the backlog grows. Normal processing keeps at most
# a few batches in flight, far below an hour's worth. Two 5-minute periods: a burst that drains
# is not a backlog.
resource "aws_cloudwatch_metric_alarm" "backlog_depth" {
  alarm_name          = "${var.name}-backlog-depth"
  alarm_description   = "More than an hour's worth of files waiting (NFR-04): queued plus in-flight messages above ${var.expected_files_per_hour}, the expected files per hour. Runbook: docs/runbooks/backlog-and-data-age.md"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.expected_files_per_hour
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  ok_actions          = local.alarm_topic
  tags                = var.tags

  metric_query {
    id          = "backlog"
    expression  = "visible + in_flight"
    label       = "messages waiting or in flight"
    return_data = true
  }

  metric_query {
    id = "visible"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = var.queue_name }
      stat        = "Maximum"
      period      = 300
    }
  }

  metric_query {
    id = "in_flight"

    metric {
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesNotVisible"
      dimensions  = { QueueName = var.queue_name }
      stat        = "Maximum"
      period      = 300
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "data_expiring" {
  alarm_name          = "${var.name}-data-expiring"
  alarm_description   = "Oldest message near the queue retention: data about to be deleted by SQS. Runbook: docs/runbooks/backlog-and-data-age.md"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = floor(var.queue_retention_seconds * var.data_expiry_fraction)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

# SQS's own age metric skips messages received three times or more, which every message parked
# through a long outage is: the controller publishes the oldest parked message's age instead.
resource "aws_cloudwatch_metric_alarm" "parked_data_expiring" {
  alarm_name          = "${var.name}-parked-data-expiring"
  alarm_description   = "A message parked through an outage is near the queue retention. Runbook: docs/runbooks/backlog-and-data-age.md"
  namespace           = local.namespace
  metric_name         = "OldestParkedMessageAge"
  dimensions          = merge(local.service_dims, { queue = "main" })
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = floor(var.queue_retention_seconds * var.data_expiry_fraction)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq_expiring" {
  alarm_name         = "${var.name}-dlq-expiring"
  alarm_description  = "Oldest DLQ message near the DLQ retention: fix and redrive before SQS drops it (the landing bucket keeps undelivered files longer). Runbook: docs/runbooks/dlq.md"
  namespace          = "AWS/SQS"
  metric_name        = "ApproximateAgeOfOldestMessage"
  dimensions         = { QueueName = var.dlq_name }
  statistic          = "Maximum"
  period             = 300
  evaluation_periods = 1
  # The DLQ's age counts from the move, its expiry from the first enqueue: a message can arrive
  # with up to the main queue's retention already spent.
  threshold           = floor((var.dlq_retention_seconds - var.queue_retention_seconds) * var.data_expiry_fraction)
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "dlq" {
  alarm_name          = "${var.name}-dlq-not-empty"
  alarm_description   = "A message reached the DLQ. Runbook: docs/runbooks/dlq.md"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.dlq_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  ok_actions          = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each            = { aggregator = var.function_name, controller = var.controller_function_name }
  alarm_name          = "${var.name}-${each.key}-errors"
  alarm_description   = "Unhandled errors of ${each.value} (also rolls back a canary deployment)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 3
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

# The canary's rollback alarm. The errors alarm above needs 3 bad minutes of 3, while a canary
# deployment gives the new version 10% of the invocations for 5 minutes: a broken version could
# pass. This one watches the invocations through the `live` alias (the mapping invokes only it,
# and during a canary both versions answer for it) and trips on 1 bad minute of 2.
resource "aws_cloudwatch_metric_alarm" "canary_errors" {
  alarm_name          = "${var.name}-aggregator-canary-errors"
  alarm_description   = "Unhandled errors through ${var.function_name}:live in 1 of 2 minutes: rolls back a canary deployment."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = var.function_name, Resource = "${var.function_name}:live" }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 2
  datapoints_to_alarm = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "throttles" {
  alarm_name          = "${var.name}-aggregator-throttles"
  alarm_description   = "The aggregator is throttled: raise reserved concurrency or lower maximum_concurrency."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = var.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "ledger_throttled" {
  # Provisioned ledger (prod): throttled claims are retried by the next receive, so files are late,
  # not lost; throttling for 10 minutes means auto scaling's max is below the load.
  alarm_name          = "${var.name}-ledger-throttled"
  alarm_description   = "Writes to the idempotency ledger are throttled: files are delivered late. Runbook: docs/runbooks/backlog-and-data-age.md"
  namespace           = "AWS/DynamoDB"
  metric_name         = "WriteThrottleEvents"
  dimensions          = { TableName = var.ledger_table_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  ok_actions          = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "breaker_open" {
  # The breaker controller publishes BreakerState (0 closed, 1 half-open, 2 open) every minute.
  # Open in 3 of the last 5 minutes is an outage, not one failed batch or one failed probe: the
  # old 1-of-1 alarm on BreakerFastFail flapped with every probe window.
  # Missing data is breaching: the controller publishes on every run, whatever the state, so a
  # minute without a value means it did not run or could not read the circuit. Then nothing
  # pauses, probes, resumes or releases parked messages, which stops delivery as surely as an
  # open circuit; "missing" would hide that behind the last state, and the controller's error
  # alarm does not see a schedule that no longer invokes it. 3 of 5 absorbs late or skipped minutes.
  alarm_name          = "${var.name}-breaker-open"
  alarm_description   = "The NiFi circuit was open in 3 of the last 5 minutes (BreakerState = 2), or the breaker controller stopped reporting it. Runbook: docs/runbooks/nifi-outage.md"
  namespace           = local.namespace
  metric_name         = "BreakerState"
  dimensions          = merge(local.service_dims, { circuit = "nifi" })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_topic
  ok_actions          = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency_p95" {
  alarm_name          = "${var.name}-latency-p95"
  alarm_description   = "p95 of landing-to-NiFi latency above ${var.latency_p95_seconds} s (NFR-02)."
  namespace           = local.namespace
  metric_name         = "DeliveryLatency"
  dimensions          = local.service_dims
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 2
  threshold           = var.latency_p95_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency_p999" {
  alarm_name          = "${var.name}-latency-p99-9"
  alarm_description   = "p99.9 of landing-to-NiFi latency above ${var.latency_p999_seconds} s (NFR-02)."
  namespace           = local.namespace
  metric_name         = "DeliveryLatency"
  dimensions          = local.service_dims
  extended_statistic  = "p99.9"
  period              = 3600
  evaluation_periods  = 1
  threshold           = var.latency_p999_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "auth_failures" {
  alarm_name          = "${var.name}-nifi-auth-failures"
  alarm_description   = "NiFi refused the credentials after a secret re-read. Runbook: docs/runbooks/rotate-nifi-secret.md"
  namespace           = local.namespace
  metric_name         = "FilesFailed"
  dimensions          = merge(local.service_dims, { reason = "nifi_auth" })
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "corruption" {
  alarm_name          = "${var.name}-hash-rejected-twice"
  alarm_description   = "NiFi rejected the same verified bundle twice: corruption on the network path."
  namespace           = local.namespace
  metric_name         = "HashRejectedTwice"
  dimensions          = local.service_dims
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags
}

resource "aws_cloudwatch_composite_alarm" "this" {
  alarm_name        = "${var.name}-not-delivering"
  alarm_description = "courier is not delivering: a backlog (by age or by count), an open circuit, or the aggregator failing."
  alarm_rule = join(" OR ", [
    "ALARM(\"${aws_cloudwatch_metric_alarm.backlog.alarm_name}\")",
    "ALARM(\"${aws_cloudwatch_metric_alarm.backlog_depth.alarm_name}\")",
    "ALARM(\"${aws_cloudwatch_metric_alarm.breaker_open.alarm_name}\")",
    "ALARM(\"${aws_cloudwatch_metric_alarm.function_errors["aggregator"].alarm_name}\")",
  ])
  alarm_actions = local.alarm_topic
  ok_actions    = local.alarm_topic
  tags          = var.tags
}

resource "aws_cloudwatch_metric_alarm" "traffic_anomaly" {
  alarm_name          = "${var.name}-incoming-anomaly"
  alarm_description   = "Unusual number of files announced (denial-of-wallet early warning, section 5.3)."
  comparison_operator = "GreaterThanUpperThreshold"
  evaluation_periods  = 3
  threshold_metric_id = "band"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_topic
  tags                = var.tags

  metric_query {
    id          = "band"
    expression  = "ANOMALY_DETECTION_BAND(sent, 3)"
    label       = "expected NumberOfMessagesSent"
    return_data = true
  }

  metric_query {
    id          = "sent"
    return_data = true

    metric {
      namespace   = "AWS/SQS"
      metric_name = "NumberOfMessagesSent"
      dimensions  = { QueueName = var.queue_name }
      stat        = "Sum"
      period      = 300
    }
  }
}

# The budget counts only costs tagged application = courier, and Cost Explorer (which Budgets
# reads) sees a tag only once it is activated as a cost allocation tag: until then the budget
# sees nothing and never alerts. Activation is account-wide (the payer account's, in an
# Organization: there set manage_cost_allocation_tag = false and activate it once by hand), and
# Billing knows a key only some hours after the first resource carries it, so the very first
# apply may have to be repeated the next day (README).
resource "aws_ce_cost_allocation_tag" "application" {
  count   = var.manage_cost_allocation_tag ? 1 : 0
  tag_key = var.cost_tag_key
  status  = "Active"
}

resource "aws_budgets_budget" "this" {
  name        = "${var.name}-monthly"
  budget_type = "COST"
  # The amount is the design's, in GBP; Budgets takes USD (it rejects other units unless the
  # account supports them), so it is converted at gbp_exchange_rate.
  limit_amount = tostring(ceil(var.monthly_budget_amount * var.gbp_exchange_rate))
  limit_unit   = var.budget_currency
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:%s$%s", var.cost_tag_key, var.cost_tag_value)]
  }

  lifecycle {
    precondition {
      condition     = var.budget_currency != "GBP" || var.gbp_exchange_rate == 1
      error_message = "A budget in GBP takes the amount as it is: set gbp_exchange_rate = 1."
    }
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [aws_sns_topic.this.arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [aws_sns_topic.this.arn]
  }

  # Budgets checks that it may publish to the topic when a notification is created.
  depends_on = [aws_sns_topic_policy.this, aws_ce_cost_allocation_tag.application]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title = "Queue backlog", view = "timeSeries", stat = "Maximum", period = 60, region = data.aws_region.current.name
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name],
            ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_name],
            ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { yAxis = "right" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title = "Delivery latency (s)", view = "timeSeries", period = 300, region = data.aws_region.current.name
          metrics = [
            [local.namespace, "DeliveryLatency", "service", var.name, { stat = "p50" }],
            [local.namespace, "DeliveryLatency", "service", var.name, { stat = "p95" }],
            [local.namespace, "DeliveryLatency", "service", var.name, { stat = "p99.9" }],
          ]
          annotations = { horizontal = [{ value = var.latency_p95_seconds, label = "p95 SLO" }, { value = var.latency_p999_seconds, label = "p99.9 SLO" }] }
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title = "Files and bundles", view = "timeSeries", stat = "Sum", period = 60, region = data.aws_region.current.name
          metrics = [
            [local.namespace, "FilesReceived", "service", var.name],
            [local.namespace, "FilesDelivered", "service", var.name],
            [local.namespace, "BundlesDelivered", "service", var.name],
            [local.namespace, "BreakerFastFail", "service", var.name],
            [local.namespace, "BreakerState", "service", var.name, "circuit", "nifi", { stat = "Maximum", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title = "Aggregator", view = "timeSeries", stat = "Sum", period = 60, region = data.aws_region.current.name
          metrics = [
            ["AWS/Lambda", "Errors", "FunctionName", var.function_name],
            ["AWS/Lambda", "Throttles", "FunctionName", var.function_name],
            ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "p95", yAxis = "right" }],
          ]
        }
      },
    ]
  })
}

data "aws_region" "current" {}
