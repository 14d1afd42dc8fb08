output "queue_arn" {
  description = "ARN of the main queue."
  value       = aws_sqs_queue.this.arn
}

output "queue_url" {
  description = "URL of the main queue."
  value       = aws_sqs_queue.this.id
}

output "queue_name" {
  description = "Name of the main queue."
  value       = aws_sqs_queue.this.name
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dlq.name
}

output "visibility_timeout_seconds" {
  description = "The derived visibility timeout (6 x function timeout + batching window)."
  value       = local.visibility_timeout_seconds
}

output "policy_id" {
  description = "Id of the queue policy; the bucket notification must wait for it."
  value       = aws_sqs_queue_policy.this.id
}

output "retention_seconds" {
  description = "Message retention of the main queue: the monitoring's data-expiring alarm derives from it."
  value       = aws_sqs_queue.this.message_retention_seconds
}

output "dlq_retention_seconds" {
  description = "Message retention of the DLQ: the monitoring's DLQ-expiring alarm derives from it."
  value       = aws_sqs_queue.dlq.message_retention_seconds
}

output "notification_path" {
  description = "Which path announces new objects to the queue: bucket, sns or eventbridge."
  value       = local.notification_path
}
