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
  # Not until the secret has a value: enabling rotation makes Secrets Manager test the function
  # against the secret at once, which fails on a secret with none. The first apply creates the
  # secret without rotation; the operator sets the value (docs/runbooks/rotate-nifi-secret.md,
  # "First value") and turns rotation on with the next apply.
  count               = var.rotation_enabled ? 1 : 0
  secret_id           = aws_secretsmanager_secret.this.id
  rotation_lambda_arn = var.rotation_lambda_arn
  # Not at once either (the provider's default): Secrets Manager only tests the function (its
  # testSecret step); the first scheduled rotation comes rotation_days after this apply. The
  # function's prerequisites (its invoke permission for secretsmanager.amazonaws.com, its role,
  # its network path) are listed in ../../README.md.
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.rotation_days
  }
}

# The schedule had no count before: an environment applied then keeps its schedule as this[0]
# (with secret_rotation_enabled = true) instead of Terraform cancelling and re-enabling it, which
# would run the rotation function's test again.
moved {
  from = aws_secretsmanager_secret_rotation.this
  to   = aws_secretsmanager_secret_rotation.this[0]
}

# The rotation function's role, read from the function: it must keep reading and writing the secret.
data "aws_lambda_function" "rotation" {
  function_name = var.rotation_lambda_arn
}

# Who may read the credential, whatever their identity policies say: the two functions, the
# rotation function and the named operator roles. Every other principal, an account
# administrator included, is refused GetSecretValue (a resource policy's explicit deny).
# aws:PrincipalArn of an assumed role is the role's ARN.
data "aws_iam_policy_document" "readers" {
  statement {
    sid       = "OnlyNamedRolesReadTheCredential"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["*"] # in a secret's resource policy, "*" is this secret and nothing else

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalArn"
      values   = distinct(concat(var.reader_role_arns, [data.aws_lambda_function.rotation.role]))
    }
  }
}

resource "aws_secretsmanager_secret_policy" "this" {
  secret_arn          = aws_secretsmanager_secret.this.arn
  policy              = data.aws_iam_policy_document.readers.json
  block_public_policy = true
}
