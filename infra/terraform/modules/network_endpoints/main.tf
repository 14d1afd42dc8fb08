# Private paths to AWS services for the functions in private subnets (section 5.1):
# S3 and DynamoDB gateway endpoints, Secrets Manager and SQS interface endpoints, and a
# Lambda interface endpoint for the breaker controller, which pauses and resumes the
# aggregator's event source mapping from inside the VPC.

# One environment per VPC. Each environment's endpoints answer for the whole VPC (gateway routes
# on its route tables, private DNS for the interface services) with policies that allow only its
# own resources: a second environment in the same VPC could neither create its own (one gateway
# route per prefix list and route table, one private-DNS endpoint per service) nor pass through
# the first one's. So the VPC names the one environment it serves, by its tag courier-environment,
# before courier creates an endpoint in it; and an existing endpoint courier created for another
# environment is refused.
locals {
  creates_an_endpoint = anytrue([
    var.create_s3_gateway_endpoint, var.create_dynamodb_gateway_endpoint, var.create_secretsmanager_interface_endpoint,
    var.create_sqs_interface_endpoint, var.create_lambda_interface_endpoint,
  ])
  # An existing endpoint passes unless courier created it for another environment.
  not_another_environments = "An existing endpoint that courier created for another environment allows only that environment's resources: give each environment its own VPC (README, \"One environment per VPC\")."
}

data "aws_vpc" "this" {
  id = var.vpc_id

  lifecycle {
    postcondition {
      condition     = !local.creates_an_endpoint || lookup(self.tags, "courier-environment", "") == var.environment
      error_message = "The VPC must carry the tag courier-environment = \"${var.environment}\" before courier creates endpoints in it: one environment per VPC (README, \"One environment per VPC\")."
    }
  }
}

# The gateway endpoints are created unless the VPC has them already: a VPC on a VPN or Direct
# Connect usually does, and a second S3 (or DynamoDB) gateway endpoint on the same route tables
# fails (one route per prefix list and route table). With create_*_gateway_endpoint = false the
# existing one is looked up and must serve every private route table (a postcondition checks).
resource "aws_vpc_endpoint" "this" {
  count             = var.create_s3_gateway_endpoint ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_route_table_ids
  policy            = data.aws_iam_policy_document.s3.json
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_vpc_endpoint" "dynamodb" {
  count             = var.create_dynamodb_gateway_endpoint ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_route_table_ids
  policy            = data.aws_iam_policy_document.dynamodb.json
  tags              = merge(var.tags, { Name = "${var.name}-dynamodb" })
}

data "aws_vpc_endpoint" "s3" {
  count        = var.create_s3_gateway_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.s3"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Gateway"]
  }

  lifecycle {
    postcondition {
      condition     = length(setsubtract(var.private_route_table_ids, self.route_table_ids)) == 0
      error_message = "The existing S3 gateway endpoint does not serve every route table in private_route_table_ids."
    }

    postcondition {
      condition     = lookup(self.tags, "application", "") != "courier" || lookup(self.tags, "environment", "") == var.environment
      error_message = local.not_another_environments
    }
  }
}

data "aws_vpc_endpoint" "dynamodb" {
  count        = var.create_dynamodb_gateway_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.dynamodb"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Gateway"]
  }

  lifecycle {
    postcondition {
      condition     = length(setsubtract(var.private_route_table_ids, self.route_table_ids)) == 0
      error_message = "The existing DynamoDB gateway endpoint does not serve every route table in private_route_table_ids."
    }

    postcondition {
      condition     = lookup(self.tags, "application", "") != "courier" || lookup(self.tags, "environment", "") == var.environment
      error_message = local.not_another_environments
    }
  }
}

# The services' prefix lists, the same whichever endpoint (new or existing) routes to them: the
# functions' security groups allow HTTPS to these.
data "aws_prefix_list" "s3" {
  name = "com.amazonaws.${var.region}.s3"
}

data "aws_prefix_list" "dynamodb" {
  name = "com.amazonaws.${var.region}.dynamodb"
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface endpoints of courier: HTTPS from the VPC only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_vpc_endpoint" "secretsmanager" {
  count               = var.create_secretsmanager_interface_endpoint ? 1 : 0
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  policy              = data.aws_iam_policy_document.secretsmanager.json
  tags                = merge(var.tags, { Name = "${var.name}-secretsmanager" })
}

resource "aws_vpc_endpoint" "sqs" {
  count               = var.create_sqs_interface_endpoint ? 1 : 0
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.sqs"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  policy              = data.aws_iam_policy_document.sqs.json
  tags                = merge(var.tags, { Name = "${var.name}-sqs" })
}

resource "aws_vpc_endpoint" "lambda" {
  count               = var.create_lambda_interface_endpoint ? 1 : 0
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.lambda"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  policy              = data.aws_iam_policy_document.lambda.json
  tags                = merge(var.tags, { Name = "${var.name}-lambda" })
}

# An interface endpoint with private DNS answers the service's name for the whole VPC, and a VPC
# can have only one per service with private DNS: in a shared VPC that has them already, a second
# one fails to create. With create_*_interface_endpoint = false the existing one is looked up: it
# must have private DNS (so the functions' calls reach it), and the functions may send HTTPS to
# its security groups, which must let them in (their owner's part, README); its policy is its
# owner's, who adds the statements of the interface_endpoint_policy_json output.
data "aws_vpc_endpoint" "secretsmanager" {
  count        = var.create_secretsmanager_interface_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.secretsmanager"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Interface"]
  }

  lifecycle {
    postcondition {
      condition     = self.private_dns_enabled
      error_message = "The existing Secrets Manager interface endpoint has no private DNS: the functions would not reach it."
    }

    postcondition {
      condition     = lookup(self.tags, "application", "") != "courier" || lookup(self.tags, "environment", "") == var.environment
      error_message = local.not_another_environments
    }
  }
}

data "aws_vpc_endpoint" "sqs" {
  count        = var.create_sqs_interface_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.sqs"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Interface"]
  }

  lifecycle {
    postcondition {
      condition     = self.private_dns_enabled
      error_message = "The existing SQS interface endpoint has no private DNS: the functions would not reach it."
    }

    postcondition {
      condition     = lookup(self.tags, "application", "") != "courier" || lookup(self.tags, "environment", "") == var.environment
      error_message = local.not_another_environments
    }
  }
}

data "aws_vpc_endpoint" "lambda" {
  count        = var.create_lambda_interface_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.lambda"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Interface"]
  }

  lifecycle {
    postcondition {
      condition     = self.private_dns_enabled
      error_message = "The existing Lambda interface endpoint has no private DNS: the breaker controller would not reach it."
    }

    postcondition {
      condition     = lookup(self.tags, "application", "") != "courier" || lookup(self.tags, "environment", "") == var.environment
      error_message = local.not_another_environments
    }
  }
}

locals {
  # Where the functions send HTTPS for the interface endpoints: courier's own, and any existing one's.
  interface_endpoint_security_group_ids = distinct(concat(
    [aws_security_group.endpoints.id],
    flatten([for found in concat(data.aws_vpc_endpoint.secretsmanager, data.aws_vpc_endpoint.sqs, data.aws_vpc_endpoint.lambda) : tolist(found.security_group_ids)]),
  ))
}

# Endpoint policies: what may pass through each endpoint, whoever asks. Each allows only what
# courier's two functions do (and the secret's rotation), only on courier's resources, only for
# principals of this account. The interface endpoints answer the service's name for the whole
# VPC (private DNS), so any other workload in the VPC that uses these services goes through
# them too and is refused: give such a VPC its own endpoints (README).
data "aws_caller_identity" "current" {}

locals {
  bucket_arns = [var.landing_bucket_arn, var.archive_bucket_arn]
}

data "aws_iam_policy_document" "s3" {
  statement {
    sid = "CourierBucketsOnly"
    actions = [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:PutObjectVersionTagging",
      "s3:AbortMultipartUpload",
      "s3:ListBucket",
    ]
    resources = concat(local.bucket_arns, [for arn in local.bucket_arns : "${arn}/*"])

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  # The sweep (src/courier/sweep.py) deletes delivered landing revisions by version: the landing
  # bucket's objects only, never the archive's.
  statement {
    sid       = "SweepDeletesLandingVersionsOnly"
    actions   = ["s3:DeleteObjectVersion"]
    resources = ["${var.landing_bucket_arn}/*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "dynamodb" {
  statement {
    sid = "CourierTablesOnly"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:Query",
      "dynamodb:Scan",
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
    ]
    resources = var.table_arns

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "secretsmanager" {
  statement {
    # GetSecretValue for the functions; the other three for a rotation function in this VPC.
    sid = "CourierSecretOnly"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:DescribeSecret",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = [var.secret_arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  statement {
    # The rotation function's new password. GetRandomPassword acts on no secret: it has no
    # resource type, so AWS accepts only "*" as its resource. The narrowest legal form is this
    # one action, for the rotation function's role alone (aws:PrincipalArn), of this account.
    sid       = "RotationRandomPasswordOnly"
    actions   = ["secretsmanager:GetRandomPassword"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [var.rotation_role_arn]
    }
  }
}

data "aws_iam_policy_document" "sqs" {
  statement {
    sid = "CourierQueueOnly"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:ChangeMessageVisibility",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
    ]
    resources = [var.queue_arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }

  # The aggregator moves a message that can never succeed to the DLQ at once (courier.dead_letter).
  statement {
    sid       = "CourierDlqSendOnly"
    actions   = ["sqs:SendMessage"]
    resources = [var.dlq_arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "CourierMappingOnly"
    actions   = ["lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
    resources = [var.event_source_mapping_arn]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:PrincipalAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}
