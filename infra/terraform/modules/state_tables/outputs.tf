output "idempotency_table_name" {
  description = "Name of the idempotency ledger table."
  value       = aws_dynamodb_table.idempotency.name
}

output "idempotency_table_arn" {
  description = "ARN of the idempotency ledger table."
  value       = aws_dynamodb_table.idempotency.arn
}

output "breaker_table_name" {
  description = "Name of the circuit breaker table."
  value       = aws_dynamodb_table.breaker.name
}

output "breaker_table_arn" {
  description = "ARN of the circuit breaker table."
  value       = aws_dynamodb_table.breaker.arn
}
