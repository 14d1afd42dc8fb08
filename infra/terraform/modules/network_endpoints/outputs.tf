output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint (for security group egress)."
  value       = data.aws_prefix_list.s3.id
}

output "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint (for security group egress)."
  value       = data.aws_prefix_list.dynamodb.id
}

output "endpoint_security_group_id" {
  description = "Security group of the interface endpoints (Secrets Manager, SQS, Lambda)."
  value       = aws_security_group.endpoints.id
}
