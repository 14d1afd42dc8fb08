output "function_name" {
  description = "Name of the controller function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the controller function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the controller's role."
  value       = aws_iam_role.this.arn
}
