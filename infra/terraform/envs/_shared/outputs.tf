output "courier" {
  description = "Buckets, mapping, alert topic, name prefix and the operator commands' settings of this environment."
  value = {
    landing_bucket            = module.courier.landing_bucket
    archive_bucket            = module.courier.archive_bucket
    event_source_mapping_uuid = module.courier.event_source_mapping_uuid
    alert_topic_arn           = module.courier.alert_topic_arn
    name                      = module.courier.name
    operator_environment      = module.courier.operator_environment
  }
}

output "endpoint_policies" {
  description = "Each VPC endpoint's policy (JSON) by service: where the VPC's own endpoints are used (create_*_endpoint = false), their owner adds these statements to theirs."
  value       = merge(module.courier.gateway_endpoint_policies, module.courier.interface_endpoint_policies)
}
