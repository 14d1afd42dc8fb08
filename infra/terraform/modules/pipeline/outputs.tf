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
