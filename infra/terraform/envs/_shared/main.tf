# courier, one environment. Every env directory links here and adds only env.tf,
# the handful of values that differ between environments.
module "courier" {
  source = "../../modules/pipeline"

  environment             = local.environment
  landing_bucket_name     = var.settings.landing_bucket_name
  archive_bucket_name     = var.settings.archive_bucket_name
  package_path            = var.settings.package_path
  uploader_principal_arns = var.settings.uploader_principal_arns
  uploader_source_cidrs   = var.settings.uploader_source_cidrs
  replay_role_arns        = var.settings.replay_role_arns
  vpc_id                  = var.settings.vpc_id
  vpc_cidr                = var.settings.vpc_cidr
  private_subnet_ids      = var.settings.private_subnet_ids
  private_route_table_ids = var.settings.private_route_table_ids
  nifi_url                = var.settings.nifi_url
  nifi_cidr               = var.settings.nifi_cidr
  nifi_ca_bundle_path     = var.settings.nifi_ca_bundle_path
  rotation_lambda_arn     = var.settings.rotation_lambda_arn
  secret_rotation_enabled = var.settings.secret_rotation_enabled
  secret_reader_role_arns = var.settings.secret_reader_role_arns
  reserve_concurrency     = var.settings.reserve_concurrency
  alert_emails            = var.settings.alert_emails
  notification_source     = var.settings.notification_source

  create_s3_gateway_endpoint       = var.settings.create_s3_gateway_endpoint
  create_dynamodb_gateway_endpoint = var.settings.create_dynamodb_gateway_endpoint

  create_secretsmanager_interface_endpoint = var.settings.create_secretsmanager_interface_endpoint
  create_sqs_interface_endpoint            = var.settings.create_sqs_interface_endpoint
  create_lambda_interface_endpoint         = var.settings.create_lambda_interface_endpoint

  manage_cost_allocation_tag = var.settings.manage_cost_allocation_tag != null ? var.settings.manage_cost_allocation_tag : local.manage_cost_allocation_tag
  budget_currency            = var.settings.budget_currency
  gbp_exchange_rate          = var.settings.gbp_exchange_rate

  function_memory_mb      = local.function_memory_mb
  maximum_concurrency     = local.maximum_concurrency
  monthly_budget_amount   = local.monthly_budget_amount
  queue_retention_seconds = local.queue_retention_seconds
  ledger_capacity         = merge(local.ledger_capacity, var.settings.ledger_capacity) # the fields given override env.tf's
}
