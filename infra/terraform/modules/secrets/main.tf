# The NiFi credentials (NFR-06). The value is set by the rotation function or an
# operator, never by Terraform, so it never lands in the state file.

resource "aws_secretsmanager_secret" "this" {
  # checkov:skip=CKV_AWS_149:Encrypted with the AWS-managed key, as the design's section 5.1 specifies.
  name                    = var.name
  description             = "NiFi credentials for courier: {\"username\", \"password\"} or {\"token\"}"
  recovery_window_in_days = var.recovery_window_days
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_rotation" "this" {
  secret_id           = aws_secretsmanager_secret.this.id
  rotation_lambda_arn = var.rotation_lambda_arn

  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}
