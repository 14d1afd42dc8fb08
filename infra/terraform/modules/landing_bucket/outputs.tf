output "bucket" {
  description = "Name of the landing bucket."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the landing bucket."
  value       = aws_s3_bucket.this.arn
}
