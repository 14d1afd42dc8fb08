output "function_name" {
  description = "Name of the aggregator function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the aggregator function."
  value       = aws_lambda_function.this.arn
}

output "alias_arn" {
  description = "ARN of the `live` alias the event source mapping invokes."
  value       = aws_lambda_alias.this.arn
}

output "role_arn" {
  description = "ARN of the aggregator's role (for the bucket policies)."
  value       = aws_iam_role.this.arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the SQS event source mapping (COURIER_ESM_UUID of the controller)."
  value       = aws_lambda_event_source_mapping.this.uuid
}

output "event_source_mapping_arn" {
  description = "ARN of the SQS event source mapping."
  value       = aws_lambda_event_source_mapping.this.arn
}

output "security_group_id" {
  description = "Security group of the function."
  value       = aws_security_group.this.id
}

output "log_group_name" {
  description = "Log group of the function."
  value       = aws_cloudwatch_log_group.this.name
}
