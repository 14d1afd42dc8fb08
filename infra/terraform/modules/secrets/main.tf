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
  # The secret has no value when it is created (Terraform never sets it), so the provider's
  # default (rotate at once) would run the rotation function against an empty secret and fail
  # the apply. Secrets Manager then only tests the function (its testSecret step); the first
  # scheduled rotation comes rotation_days after this apply, by when the operator has set the
  # value. The function's prerequisites (its invoke permission for secretsmanager.amazonaws.com,
  # its role, its network path) are listed in ../../README.md.
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}
