output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint (for security group egress)."
  value       = data.aws_prefix_list.s3.id
}

output "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint (for security group egress)."
  value       = data.aws_prefix_list.dynamodb.id
}

output "endpoint_security_group_ids" {
  description = "Security groups of the interface endpoints (Secrets Manager, SQS, Lambda): courier's own, and those of the VPC's existing endpoints it uses."
  value       = local.interface_endpoint_security_group_ids
}

output "interface_endpoint_policy_json" {
  description = "The interface endpoints' policies by service (secretsmanager, sqs, lambda): with an existing endpoint, its owner adds these statements to its policy."
  value = {
    secretsmanager = data.aws_iam_policy_document.secretsmanager.json
    sqs            = data.aws_iam_policy_document.sqs.json
    lambda         = data.aws_iam_policy_document.lambda.json
  }
}

output "s3_endpoint_policy_json" {
  description = "The S3 gateway endpoint's policy: with an existing endpoint, its owner adds these statements to its policy."
  value       = data.aws_iam_policy_document.s3.json
}

output "dynamodb_endpoint_policy_json" {
  description = "The DynamoDB gateway endpoint's policy: with an existing endpoint, its owner adds these statements to its policy."
  value       = data.aws_iam_policy_document.dynamodb.json
}
