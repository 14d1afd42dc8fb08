variable "bucket_arn" {
  description = "ARN of the bucket the statements protect."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN."
  }
}
