output "json" {
  description = "The policy statements as JSON, for source_policy_documents."
  value       = data.aws_iam_policy_document.this.json
}
