# The whole of courier in one account and region, composed from the modules.

data "aws_caller_identity" "current" {
  lifecycle {
    # The bucket names are given whole (they are global); they carry the environment too, so
    # staging and prod can never be pointed at each other's buckets.
    precondition {
      condition     = alltrue([for bucket in [var.landing_bucket_name, var.archive_bucket_name] : can(regex("(^|[.-])${var.environment}($|[.-])", bucket))])
      error_message = "landing_bucket_name and archive_bucket_name must contain the environment as a name part (e.g. example-courier-landing-staging)."
    }
  }
}

data "aws_region" "current" {}

locals {
  # Every name carries the environment (courier-staging-queue, courier-prod-queue, ...), so
  # staging and prod can share an account. The local stack's names are these with name = "courier".
  name        = coalesce(var.name, "courier-${var.environment}")
  application = "courier" # the cost allocation tag's value: the budget counts what carries it
  tags        = merge({ application = local.application, environment = var.environment }, var.tags)
}

module "queue" {
  source = "../queue"

  name                     = "${local.name}-queue"
  dlq_name                 = "${local.name}-dlq"
  retention_seconds        = var.queue_retention_seconds
  function_timeout_seconds = var.function_timeout_seconds
  batching_window_seconds  = var.batching_window_seconds
  source_bucket_arn        = "arn:aws:s3:::${var.landing_bucket_name}"
  source_account_id        = data.aws_caller_identity.current.account_id
  notification_source      = var.notification_source
  tags                     = local.tags
}

module "state_tables" {
  source = "../state_tables"

  idempotency_table_name = "${local.name}-idempotency"
  breaker_table_name     = "${local.name}-breaker"
  ledger_capacity        = var.ledger_capacity
  tags                   = local.tags
}

module "secrets" {
  source = "../secrets"

  name                = "${local.name}/nifi"
  rotation_lambda_arn = var.rotation_lambda_arn
  rotation_enabled    = var.secret_rotation_enabled
  # The functions read the credential; so may the operators named for it (courier secret ...).
  reader_role_arns = concat([module.aggregator.role_arn, module.breaker_controller.role_arn], var.secret_reader_role_arns)
  tags             = local.tags
}

module "network_endpoints" {
  source = "../network_endpoints"

  name                    = local.name
  environment             = var.environment
  vpc_id                  = var.vpc_id
  vpc_cidr                = var.vpc_cidr
  private_subnet_ids      = var.private_subnet_ids
  private_route_table_ids = var.private_route_table_ids
  region                  = data.aws_region.current.name
  tags                    = local.tags

  create_s3_gateway_endpoint       = var.create_s3_gateway_endpoint
  create_dynamodb_gateway_endpoint = var.create_dynamodb_gateway_endpoint

  create_secretsmanager_interface_endpoint = var.create_secretsmanager_interface_endpoint
  create_sqs_interface_endpoint            = var.create_sqs_interface_endpoint
  create_lambda_interface_endpoint         = var.create_lambda_interface_endpoint

  # What the endpoint policies allow: courier's resources only.
  landing_bucket_arn       = "arn:aws:s3:::${var.landing_bucket_name}"
  archive_bucket_arn       = "arn:aws:s3:::${var.archive_bucket_name}"
  table_arns               = [module.state_tables.idempotency_table_arn, module.state_tables.breaker_table_arn]
  secret_arn               = module.secrets.arn
  rotation_role_arn        = module.secrets.rotation_role_arn
  queue_arn                = module.queue.queue_arn
  dlq_arn                  = module.queue.dlq_arn
  event_source_mapping_arn = module.aggregator.event_source_mapping_arn
}

module "aggregator" {
  source = "../aggregator"

  name                        = "${local.name}-aggregator"
  metrics_service             = local.name
  package_path                = var.package_path
  memory_mb                   = var.function_memory_mb
  ephemeral_storage_mb        = var.function_ephemeral_storage_mb
  timeout_seconds             = var.function_timeout_seconds
  batch_size                  = var.batch_size
  batching_window_seconds     = var.batching_window_seconds
  maximum_concurrency         = var.maximum_concurrency
  reserved_concurrency        = var.reserve_concurrency ? 20 : null
  vpc_id                      = var.vpc_id
  subnet_ids                  = var.private_subnet_ids
  nifi_url                    = var.nifi_url
  nifi_cidr                   = var.nifi_cidr
  nifi_port                   = var.nifi_port
  nifi_ca_bundle_path         = var.nifi_ca_bundle_path
  s3_prefix_list_id           = module.network_endpoints.s3_prefix_list_id
  dynamodb_prefix_list_id     = module.network_endpoints.dynamodb_prefix_list_id
  endpoint_security_group_ids = module.network_endpoints.endpoint_security_group_ids
  landing_bucket_name         = var.landing_bucket_name
  landing_bucket_arn          = "arn:aws:s3:::${var.landing_bucket_name}"
  archive_bucket_name         = var.archive_bucket_name
  archive_bucket_arn          = "arn:aws:s3:::${var.archive_bucket_name}"
  idempotency_table_name      = module.state_tables.idempotency_table_name
  idempotency_table_arn       = module.state_tables.idempotency_table_arn
  breaker_table_name          = module.state_tables.breaker_table_name
  breaker_table_arn           = module.state_tables.breaker_table_arn
  secret_arn                  = module.secrets.arn
  secret_name                 = module.secrets.name
  queue_arn                   = module.queue.queue_arn
  dlq_arn                     = module.queue.dlq_arn
  breaker_recovery_seconds    = var.breaker_recovery_seconds
  rollback_alarm_names        = ["${local.name}-aggregator-errors", "${local.name}-aggregator-canary-errors", "${local.name}-breaker-open"]
  tags                        = local.tags
}

module "breaker_controller" {
  source = "../breaker_controller"

  name                        = "${local.name}-breaker-controller"
  metrics_service             = local.name
  reserved_concurrency        = var.reserve_concurrency ? 1 : null
  package_path                = var.package_path
  vpc_id                      = var.vpc_id
  subnet_ids                  = var.private_subnet_ids
  nifi_url                    = var.nifi_url
  nifi_cidr                   = var.nifi_cidr
  nifi_port                   = var.nifi_port
  nifi_ca_bundle_path         = var.nifi_ca_bundle_path
  s3_prefix_list_id           = module.network_endpoints.s3_prefix_list_id
  dynamodb_prefix_list_id     = module.network_endpoints.dynamodb_prefix_list_id
  endpoint_security_group_ids = module.network_endpoints.endpoint_security_group_ids
  landing_bucket_name         = var.landing_bucket_name
  landing_bucket_arn          = "arn:aws:s3:::${var.landing_bucket_name}"
  archive_bucket_name         = var.archive_bucket_name
  archive_bucket_arn          = "arn:aws:s3:::${var.archive_bucket_name}"
  idempotency_table_name      = module.state_tables.idempotency_table_name
  idempotency_table_arn       = module.state_tables.idempotency_table_arn
  breaker_table_name          = module.state_tables.breaker_table_name
  breaker_table_arn           = module.state_tables.breaker_table_arn
  secret_arn                  = module.secrets.arn
  secret_name                 = module.secrets.name
  breaker_recovery_seconds    = var.breaker_recovery_seconds
  event_source_mapping_uuid   = module.aggregator.event_source_mapping_uuid
  event_source_mapping_arn    = module.aggregator.event_source_mapping_arn
  aggregator_function_arn     = module.aggregator.function_arn
  queue_arn                   = module.queue.queue_arn
  tags                        = local.tags
}

module "landing_bucket" {
  source = "../landing_bucket"

  name                    = var.landing_bucket_name
  queue_arn               = module.queue.queue_arn
  sns_topic_arn           = var.notification_source.sns_topic_arn
  eventbridge             = var.notification_source.eventbridge_bus_name != null
  uploader_principal_arns = var.uploader_principal_arns
  uploader_source_cidrs   = var.uploader_source_cidrs
  reader_role_arns        = [module.aggregator.role_arn]
  tags                    = local.tags

  depends_on = [module.queue]
}

module "archive_bucket" {
  source = "../archive_bucket"

  name                    = var.archive_bucket_name
  deep_archive_after_days = var.deep_archive_after_days
  writer_role_arns        = [module.aggregator.role_arn]
  replay_role_arns        = var.replay_role_arns
  tags                    = local.tags
}

module "monitoring" {
  source = "../monitoring"

  name                       = local.name
  queue_name                 = module.queue.queue_name
  dlq_name                   = module.queue.dlq_name
  queue_retention_seconds    = module.queue.retention_seconds
  dlq_retention_seconds      = module.queue.dlq_retention_seconds
  function_name              = module.aggregator.function_name
  controller_function_name   = module.breaker_controller.function_name
  ledger_table_name          = module.state_tables.idempotency_table_name
  expected_files_per_hour    = var.expected_files_per_hour
  alert_emails               = var.alert_emails
  monthly_budget_amount      = var.monthly_budget_amount
  budget_currency            = var.budget_currency
  gbp_exchange_rate          = var.gbp_exchange_rate
  manage_cost_allocation_tag = var.manage_cost_allocation_tag
  cost_tag_key               = "application"
  cost_tag_value             = local.application
  tags                       = local.tags
}
