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

output "s3_endpoint_policy_json" {
  description = "The S3 gateway endpoint's policy: with an existing endpoint, its owner adds these statements to its policy."
  value       = data.aws_iam_policy_document.s3.json
}

output "dynamodb_endpoint_policy_json" {
  description = "The DynamoDB gateway endpoint's policy: with an existing endpoint, its owner adds these statements to its policy."
  value       = data.aws_iam_policy_document.dynamodb.json
}
