variable "name" {
  description = "Name prefix of the endpoint resources."
  type        = string
}

variable "environment" {
  description = "The environment (staging, prod) whose endpoints these are: the VPC must carry the tag courier-environment with this value before any endpoint is created in it (one environment per VPC)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the functions' private subnets."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC: interface endpoints accept HTTPS from it only."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a CIDR block."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the interface endpoints (one per AZ)."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets, for the S3 and DynamoDB gateway endpoints."
  type        = list(string)
}

variable "create_s3_gateway_endpoint" {
  description = "Create the S3 gateway endpoint on private_route_table_ids (true), or use the one the VPC has (false: it must serve all of them, and its policy must allow courier's buckets; see README)."
  type        = bool
  default     = true
}

variable "create_dynamodb_gateway_endpoint" {
  description = "Create the DynamoDB gateway endpoint on private_route_table_ids (true), or use the one the VPC has (false: it must serve all of them, and its policy must allow courier's tables; see README)."
  type        = bool
  default     = true
}

variable "create_secretsmanager_interface_endpoint" {
  description = "Create the Secrets Manager interface endpoint (true), or use the VPC's existing one with private DNS (false)."
  type        = bool
  default     = true
}

variable "create_sqs_interface_endpoint" {
  description = "Create the SQS interface endpoint (true), or use the VPC's existing one with private DNS (false)."
  type        = bool
  default     = true
}

variable "create_lambda_interface_endpoint" {
  description = "Create the Lambda interface endpoint (true), or use the VPC's existing one with private DNS (false)."
  type        = bool
  default     = true
}

variable "region" {
  description = "AWS region (endpoint service names)."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket (the S3 endpoint's policy allows courier's buckets only)."
  type        = string
}

variable "archive_bucket_arn" {
  description = "ARN of the archive bucket (the S3 endpoint's policy allows courier's buckets only)."
  type        = string
}

variable "table_arns" {
  description = "ARNs of the idempotency and breaker tables (the DynamoDB endpoint's policy allows these only)."
  type        = list(string)
}

variable "secret_arn" {
  description = "ARN of the NiFi secret (the Secrets Manager endpoint's policy allows this one only)."
  type        = string
}

variable "rotation_role_arn" {
  description = "Role of the secret's rotation function: the only principal the Secrets Manager endpoint lets call GetRandomPassword."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the main queue (the SQS endpoint's policy allows this one only)."
  type        = string
}

variable "dlq_arn" {
  description = "ARN of the DLQ (the SQS endpoint's policy allows only SendMessage on it: the aggregator's immediate dead-lettering)."
  type        = string
}

variable "event_source_mapping_arn" {
  description = "ARN of the aggregator's event source mapping (the Lambda endpoint's policy allows only the controller's calls on it)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
