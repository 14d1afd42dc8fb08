# terraform test of the staging root with a mocked AWS provider: nothing is created anywhere.
# It plans and applies the shapes an environment can take (the example values, an SNS topic or
# EventBridge as the notification source, a shared VPC that brings its own endpoints), which
# proves what validate cannot: no cycle, no count/for_each over a value known only after apply,
# and every pre/postcondition holds. Assertions here see only the root's outputs; which resources
# each shape creates is asserted by the modules' own test files (modules/queue/tests,
# modules/network_endpoints/tests). tests/integration/test_terraform_cli.py runs them all.

mock_provider "aws" {
  source = "../../tests/mock_aws"
}

# One environment per VPC: the VPC carries the environment's tag (modules/network_endpoints checks it).
override_data {
  target = module.courier.module.network_endpoints.data.aws_vpc.this
  values = { tags = { "courier-environment" = "staging" } }
}

variables {
  settings = {
    landing_bucket_name = "example-courier-landing-staging"
    archive_bucket_name = "example-courier-archive-staging"
    # The mocked provider uploads nothing; the functions only hash the package, any file will do.
    package_path            = "env.tf"
    uploader_principal_arns = ["arn:aws:iam::111122223333:role/partner-uploader"]
    uploader_source_cidrs   = ["203.0.113.0/24"]
    replay_role_arns        = ["arn:aws:iam::111122223333:role/courier-operator"]
    vpc_id                  = "vpc-0123456789abcdef0"
    vpc_cidr                = "10.20.0.0/16"
    private_subnet_ids      = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    private_route_table_ids = ["rtb-0123456789abcdef0"]
    nifi_url                = "https://nifi.corp.example:8443/contentListener"
    nifi_cidr               = "10.99.0.10/32"
    rotation_lambda_arn     = "arn:aws:lambda:eu-west-2:111122223333:function:courier-nifi-rotation"
    alert_emails            = ["data-platform-oncall@example.com"]
  }
}

run "default" {
  command = apply

  assert {
    condition     = output.courier.name == "courier-staging" && output.courier.operator_environment.COURIER_IDEMPOTENCY_TABLE == "courier-staging-idempotency"
    error_message = "Every name carries the environment."
  }
  assert {
    condition     = toset(keys(output.endpoint_policies)) == toset(["s3", "dynamodb", "secretsmanager", "sqs", "lambda"])
    error_message = "Every endpoint's policy is an output, for a shared VPC's owner."
  }
}

run "sns" {
  command = apply

  variables {
    settings = merge(var.settings, {
      notification_source = { sns_topic_arn = "arn:aws:sns:eu-west-2:111122223333:landing-events" }
    })
  }
}

run "eventbridge_with_endpoints_supplied_by_a_shared_vpc" {
  command = apply

  variables {
    settings = merge(var.settings, {
      notification_source                      = { eventbridge_bus_name = "default" }
      create_s3_gateway_endpoint               = false
      create_dynamodb_gateway_endpoint         = false
      create_secretsmanager_interface_endpoint = false
      create_sqs_interface_endpoint            = false
      create_lambda_interface_endpoint         = false
    })
  }

  # The shared VPC's endpoints as the data sources would find them: serving the route tables, with private DNS.
  override_data {
    target = module.courier.module.network_endpoints.data.aws_vpc_endpoint.s3[0]
    values = { route_table_ids = ["rtb-0123456789abcdef0"] }
  }
  override_data {
    target = module.courier.module.network_endpoints.data.aws_vpc_endpoint.dynamodb[0]
    values = { route_table_ids = ["rtb-0123456789abcdef0"] }
  }
  override_data {
    target = module.courier.module.network_endpoints.data.aws_vpc_endpoint.secretsmanager[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa1"] }
  }
  override_data {
    target = module.courier.module.network_endpoints.data.aws_vpc_endpoint.sqs[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa1"] }
  }
  override_data {
    target = module.courier.module.network_endpoints.data.aws_vpc_endpoint.lambda[0]
    values = { private_dns_enabled = true, security_group_ids = ["sg-0aaaaaaaaaaaaaaa2"] }
  }

  assert {
    condition     = toset(keys(output.endpoint_policies)) == toset(["s3", "dynamodb", "secretsmanager", "sqs", "lambda"])
    error_message = "The statements a shared VPC's owner adds are still output."
  }
}
