# DynamoDB state: the idempotency ledger (one item per file revision, 7-day TTL
# set by the code) and the circuit breaker (Powertools' schema, plus parked messages).
# Two main resources, so neither is called `this`.
#
# The ledger takes about one write unit per file, at a steady rate: prod provisions it with
# auto scaling (about half the on-demand price at the design's volume, docs/performance.md §7);
# bursts above the provisioned rate are absorbed by DynamoDB's burst capacity (up to 300 s of
# unused capacity) while auto scaling catches up; a throttled claim is retried by the next receive.

locals {
  provisioned = var.ledger_capacity.mode == "provisioned"
  # The dimensions auto scaling owns when the ledger is provisioned.
  ledger_scaling = local.provisioned ? {
    read  = { dimension = "dynamodb:table:ReadCapacityUnits", metric = "DynamoDBReadCapacityUtilization", min = var.ledger_capacity.read_min, max = var.ledger_capacity.read_max }
    write = { dimension = "dynamodb:table:WriteCapacityUnits", metric = "DynamoDBWriteCapacityUtilization", min = var.ledger_capacity.write_min, max = var.ledger_capacity.write_max }
  } : {}
}

resource "aws_dynamodb_table" "idempotency" {
  # checkov:skip=CKV_AWS_119:Encrypted with the AWS-owned key, as the design's section 5.1 specifies.
  name           = var.idempotency_table_name
  billing_mode   = local.provisioned ? "PROVISIONED" : "PAY_PER_REQUEST"
  read_capacity  = local.provisioned ? var.ledger_capacity.read_min : null
  write_capacity = local.provisioned ? var.ledger_capacity.write_min : null
  hash_key       = "object_name"
  range_key      = "revision"
  tags           = var.tags

  lifecycle {
    # Auto scaling moves the capacity; the next plan must not move it back.
    ignore_changes = [read_capacity, write_capacity]
  }

  attribute {
    name = "object_name"
    type = "S"
  }

  attribute {
    name = "revision"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }
}

resource "aws_dynamodb_table" "breaker" {
  # checkov:skip=CKV_AWS_119:Encrypted with the AWS-owned key, as the design's section 5.1 specifies.
  name         = var.breaker_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"
  tags         = var.tags

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = true
  }
}

resource "aws_appautoscaling_target" "ledger" {
  for_each = local.ledger_scaling

  service_namespace  = "dynamodb"
  resource_id        = "table/${aws_dynamodb_table.idempotency.name}"
  scalable_dimension = each.value.dimension
  min_capacity       = each.value.min
  max_capacity       = each.value.max
  tags               = var.tags
}

resource "aws_appautoscaling_policy" "ledger" {
  for_each = local.ledger_scaling

  name               = "${var.idempotency_table_name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.ledger[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.ledger[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.ledger[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.ledger_capacity.target_percent
    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
  }
}
