# terraform test of the endpoints module with a mocked AWS provider (tests/integration/test_terraform_cli.py):
# which endpoints it creates, and the checks on a shared VPC's own endpoints it uses instead.

mock_provider "aws" {
  source = "../../tests/mock_aws"
}

# One environment per VPC: the VPC carries the environment's tag (main.tf checks it).
override_data {
  target = data.aws_vpc.this
  values = { tags = { "courier-environment" = "staging" } }
}

variables {
  name                     = "courier-staging"
  environment              = "staging"
  rotation_role_arn        = "arn:aws:iam::111122223333:role/courier-nifi-rotation"
  vpc_id                   = "vpc-0123456789abcdef0"
  vpc_cidr                 = "10.20.0.0/16"
  private_subnet_ids       = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
  private_route_table_ids  = ["rtb-0123456789abcdef0"]
  region                   = "eu-west-2"
  landing_bucket_arn       = "arn:aws:s3:::example-courier-landing-staging"
  archive_bucket_arn       = "arn:aws:s3:::example-courier-archive-staging"
  table_arns               = ["arn:aws:dynamodb:eu-west-2:111122223333:table/courier-staging-idempotency"]
  secret_arn               = "arn:aws:secretsmanager:eu-west-2:111122223333:secret:courier-staging/nifi-AbCdEf"
  queue_arn                = "arn:aws:sqs:eu-west-2:111122223333:courier-staging-queue"
  dlq_arn                  = "arn:aws:sqs:eu-west-2:111122223333:courier-staging-dlq"
  event_source_mapping_arn = "arn:aws:lambda:eu-west-2:111122223333:event-source-mapping:00000000-0000-0000-0000-000000000000"
}

run "creates_every_endpoint_by_default" {
  command = apply

  assert {
    condition = alltrue([for created in [aws_vpc_endpoint.this, aws_vpc_endpoint.dynamodb, aws_vpc_endpoint.secretsmanager, aws_vpc_endpoint.sqs, aws_vpc_endpoint.lambda] :
    length(created) == 1])
    error_message = "Each of the five endpoints is created once."
  }
  assert {
    condition     = aws_vpc_endpoint.sqs[0].private_dns_enabled && tolist(aws_vpc_endpoint.this[0].route_table_ids) == var.private_route_table_ids
    error_message = "Interface endpoints use private DNS; the gateway endpoints serve the private route tables."
  }
}

run "uses_the_shared_vpcs_endpoints" {
  command = apply

  variables {
    create_s3_gateway_endpoint               = false
    create_dynamodb_gateway_endpoint         = false
    create_secretsmanager_interface_endpoint = false
    create_sqs_interface_endpoint            = false
    create_lambda_interface_endpoint         = false
  }
  override_data {
    target = data.aws_vpc_endpoint.s3[0]
    values = { route_table_ids = ["rtb-0123456789abcdef0", "rtb-0aaaaaaaaaaaaaaa1"] }
  }
  override_data {
    target = data.aws_vpc_endpoint.dynamodb[0]
    values = { route_table_ids = ["rtb-0123456789abcdef0"] }
  }
  override_data {
    target = data.aws_vpc_endpoint.secretsmanager[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa1"] }
  }
  override_data {
    target = data.aws_vpc_endpoint.sqs[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa1"] }
  }
  override_data {
    target = data.aws_vpc_endpoint.lambda[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa2"] }
  }

  assert {
    condition = alltrue([for created in [aws_vpc_endpoint.this, aws_vpc_endpoint.dynamodb, aws_vpc_endpoint.secretsmanager, aws_vpc_endpoint.sqs, aws_vpc_endpoint.lambda] :
    length(created) == 0])
    error_message = "With the VPC's own endpoints the module creates none."
  }
  assert {
    condition     = toset(output.endpoint_security_group_ids) == toset([aws_security_group.endpoints.id, "sg-0aaaaaaaaaaaaaaa1", "sg-0aaaaaaaaaaaaaaa2"])
    error_message = "The functions may reach the shared endpoints' security groups, each once."
  }
}

run "a_shared_gateway_endpoint_missing_a_route_table_is_refused" {
  command = plan

  variables {
    create_s3_gateway_endpoint = false
  }
  override_data {
    target = data.aws_vpc_endpoint.s3[0]
    values = { route_table_ids = ["rtb-0ffffffffffffffff"] }
  }

  expect_failures = [data.aws_vpc_endpoint.s3[0]]
}

run "a_shared_interface_endpoint_without_private_dns_is_refused" {
  command = plan

  variables {
    create_sqs_interface_endpoint = false
  }
  override_data {
    target = data.aws_vpc_endpoint.sqs[0]
    values = { private_dns_enabled = false, security_group_ids = [] }
  }

  expect_failures = [data.aws_vpc_endpoint.sqs[0]]
}
