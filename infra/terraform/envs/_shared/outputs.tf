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
