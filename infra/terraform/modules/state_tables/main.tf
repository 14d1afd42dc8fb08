# DynamoDB state: the idempotency ledger (one item per file revision, 7-day TTL
# set by the code) and the circuit breaker (Powertools' schema, plus parked messages).
# Two main resources, so neither is called `this`.

resource "aws_dynamodb_table" "idempotency" {
  # checkov:skip=CKV_AWS_119:Encrypted with the AWS-owned key, as the design's section 5.1 specifies.
  name         = var.idempotency_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "object_name"
  range_key    = "revision"
  tags         = var.tags

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
