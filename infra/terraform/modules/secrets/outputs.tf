output "arn" {
  description = "ARN of the NiFi credentials secret."
  value       = aws_secretsmanager_secret.this.arn
}

output "name" {
  description = "Name of the NiFi credentials secret."
  value       = aws_secretsmanager_secret.this.name
}
