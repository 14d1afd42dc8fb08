output "arn" {
  description = "ARN of the NiFi credentials secret."
  value       = aws_secretsmanager_secret.this.arn
}

output "name" {
  description = "Name of the NiFi credentials secret."
  value       = aws_secretsmanager_secret.this.name
}

output "rotation_role_arn" {
  description = "Role of the rotation function (the Secrets Manager endpoint lets it call GetRandomPassword)."
  value       = data.aws_lambda_function.rotation.role
}
