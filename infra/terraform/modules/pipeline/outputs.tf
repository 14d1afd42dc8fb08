output "landing_bucket" {
  description = "Where the external party uploads."
  value       = module.landing_bucket.bucket
}

output "archive_bucket" {
  description = "The bundle archive."
  value       = module.archive_bucket.bucket
}

output "queue_visibility_timeout_seconds" {
  description = "The derived visibility timeout of the main queue."
  value       = module.queue.visibility_timeout_seconds
}

output "event_source_mapping_uuid" {
  description = "The mapping the breaker controller pauses."
  value       = module.aggregator.event_source_mapping_uuid
}

output "alert_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.monitoring.topic_arn
}

output "name" {
  description = "The name prefix of every resource of this environment (courier-<environment>)."
  value       = local.name
}

output "operator_environment" {
  description = "The COURIER_* settings operator commands (courier status, dlq, replay, archive verify) need against this environment; NiFi's CA bundle is the operator's own."
  value = {
    COURIER_NAME              = local.name
    COURIER_ARCHIVE_BUCKET    = module.archive_bucket.bucket
    COURIER_LANDING_BUCKET    = module.landing_bucket.bucket
    COURIER_NIFI_URL          = var.nifi_url
    COURIER_IDEMPOTENCY_TABLE = module.state_tables.idempotency_table_name
    COURIER_BREAKER_TABLE     = module.state_tables.breaker_table_name
    COURIER_NIFI_SECRET_ID    = module.secrets.name
  }
}

output "interface_endpoint_policies" {
  description = "The Secrets Manager, SQS and Lambda interface endpoints' policies (JSON); with the VPC's own endpoints, their owner adds these statements."
  value       = module.network_endpoints.interface_endpoint_policy_json
}

output "gateway_endpoint_policies" {
  description = "The S3 and DynamoDB gateway endpoints' policies (JSON); with the VPC's own endpoints, their owner adds these statements."
  value = {
    s3       = module.network_endpoints.s3_endpoint_policy_json
    dynamodb = module.network_endpoints.dynamodb_endpoint_policy_json
  }
}
