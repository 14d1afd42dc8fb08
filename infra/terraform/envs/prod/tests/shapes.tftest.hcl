# terraform test of the prod root with a mocked AWS provider: nothing is created anywhere.
# It plans and applies prod as its env.tf makes it (the account-wide cost allocation tag in its
# state, its concurrency and budget; envs/staging/tests has the other shapes), which proves what
# validate cannot: no cycle, no count/for_each over a value known only after apply,
# and every pre/postcondition holds. Assertions here see only the root's outputs; which resources
# each shape creates is asserted by the modules' own test files (modules/queue/tests,
# modules/network_endpoints/tests). tests/integration/test_terraform_cli.py runs them all.

mock_provider "aws" {
  source = "../../tests/mock_aws"
}

# One environment per VPC: the VPC carries the environment's tag (modules/network_endpoints checks it).
override_data {
  target = module.courier.module.network_endpoints.data.aws_vpc.this
  values = { tags = { "courier-environment" = "prod" } }
}

variables {
  settings = {
    landing_bucket_name = "example-courier-landing-prod"
    archive_bucket_name = "example-courier-archive-prod"
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

run "prod_with_its_cost_allocation_tag" {
  command = apply

  assert {
    condition     = output.courier.name == "courier-prod" && output.courier.operator_environment.COURIER_BREAKER_TABLE == "courier-prod-breaker"
    error_message = "Every name carries the environment."
  }
}

run "prod_in_an_organization_member_account" {
  command = apply

  variables {
    settings = merge(var.settings, { manage_cost_allocation_tag = false })
  }
}

# settings.ledger_capacity: the fields given override env.tf's (merged), so one bound can be raised alone
# and the mode switched back to on demand; both must plan (the table's mode and auto scaling follow).
run "prod_with_a_raised_ledger_write_max" {
  command = plan

  variables {
    settings = merge(var.settings, { ledger_capacity = { write_max = 800 } })
  }
}

run "prod_with_an_on_demand_ledger" {
  command = plan

  variables {
    settings = merge(var.settings, { ledger_capacity = { mode = "on_demand" } })
  }
}
