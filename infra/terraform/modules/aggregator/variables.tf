variable "name" {
  description = "Name of the aggregator function (and prefix of its role, security group and log group)."
  type        = string
  default     = "courier-aggregator"
}

variable "package_path" {
  description = "Path of the deployment zip built by `make package` (dist/courier-lambda.zip)."
  type        = string
}

variable "runtime" {
  description = "Python runtime of the function."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "memory_mb" {
  description = "Memory of the function in MB (128-10240). An invocation keeps to half of it (COURIER_MEMORY_BUDGET_MB); more spills to /tmp (docs/large-files.md). 512: the lowest GB-s per file."
  type        = number
  default     = 512

  validation {
    condition     = var.memory_mb >= 128 && var.memory_mb <= 10240
    error_message = "memory_mb must be between 128 and 10240."
  }
}

variable "ephemeral_storage_mb" {
  description = "The function's /tmp in MB (512-10240), where spools beyond the memory budget go. Caps the largest file at (this - 64) / 2.02 MB (docs/large-files.md)."
  type        = number
  default     = 5120

  validation {
    condition     = var.ephemeral_storage_mb >= 512 && var.ephemeral_storage_mb <= 10240
    error_message = "ephemeral_storage_mb must be between 512 and 10240."
  }
}

variable "timeout_seconds" {
  description = "Function timeout in seconds (40-900). The queue's visibility timeout, the claim lease and the NiFi POST timeouts derive from it (src/courier/budget.py)."
  type        = number
  default     = 120

  validation {
    condition     = var.timeout_seconds >= 40 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 40 and 900: below 40 s one POST budget (2 x (5 s connect + 2 x 1 s)) does not fit in half the time left after 10 s of bookkeeping."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions (caps cost and NiFi load; must be >= maximum_concurrency). null: none, the account's unreserved pool (the mapping's maximum_concurrency still caps the pollers); for an account whose concurrency quota cannot take the reservation (infra/terraform/README.md, \"Concurrency quota\")."
  type        = number
  default     = 20
}

variable "batch_size" {
  description = "Event source mapping BatchSize (1-10000); with a batching window above 0 up to 10000."
  type        = number
  default     = 1000

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "batching_window_seconds" {
  description = "MaximumBatchingWindowInSeconds (0-300). 20 s keeps p95 well inside the 2-minute SLO (NFR-02) while bundling ~200 files at 10 files/s."
  type        = number
  default     = 20

  validation {
    condition     = var.batching_window_seconds >= 0 && var.batching_window_seconds <= 60
    error_message = "batching_window_seconds must be between 0 and 60 to leave room for the 2-minute latency SLO."
  }
}

variable "maximum_concurrency" {
  description = "ScalingConfig MaximumConcurrency of the event source mapping (2-1000): concurrent bundles towards NiFi."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency must be between 2 and 1000."
  }
}

variable "vpc_id" {
  description = "VPC of the private subnets."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the function runs in."
  type        = list(string)
}

variable "nifi_cidr" {
  description = "Address range of the on-premise NiFi (over VPN / Direct Connect); the only non-AWS egress."
  type        = string

  validation {
    condition     = can(cidrhost(var.nifi_cidr, 0)) && var.nifi_cidr != "0.0.0.0/0"
    error_message = "nifi_cidr must be a CIDR block other than 0.0.0.0/0."
  }
}

variable "nifi_port" {
  description = "HTTPS port of NiFi's listener."
  type        = number
  default     = 8443
}

variable "nifi_url" {
  description = "COURIER_NIFI_URL: https URL of NiFi's /contentListener."
  type        = string

  validation {
    condition     = startswith(var.nifi_url, "https://")
    error_message = "nifi_url must be an https:// URL."
  }
}

variable "nifi_ca_bundle_path" {
  description = "COURIER_NIFI_CA_BUNDLE: path of the CA bundle inside the package (or a layer). Empty: system trust store."
  type        = string
  default     = ""
}

variable "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint."
  type        = string
}

variable "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint."
  type        = string
}

variable "endpoint_security_group_ids" {
  description = "Security groups of the interface endpoints (Secrets Manager, SQS): courier's own and any existing endpoint's it uses."
  type        = list(string)
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket (read)."
  type        = string
}

variable "landing_bucket_name" {
  description = "Name of the landing bucket (COURIER_LANDING_BUCKETS: a notification naming another bucket fails as foreign_bucket)."
  type        = string
}

variable "archive_bucket_name" {
  description = "Name of the archive bucket (COURIER_ARCHIVE_BUCKET; write only)."
  type        = string
}

variable "archive_bucket_arn" {
  description = "ARN of the archive bucket."
  type        = string
}

variable "idempotency_table_name" {
  description = "Name of the idempotency ledger table."
  type        = string
}

variable "idempotency_table_arn" {
  description = "ARN of the idempotency ledger table."
  type        = string
}

variable "breaker_table_name" {
  description = "Name of the circuit breaker table."
  type        = string
}

variable "breaker_table_arn" {
  description = "ARN of the circuit breaker table."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the NiFi credentials secret."
  type        = string
}

variable "secret_name" {
  description = "Name of the NiFi credentials secret (COURIER_NIFI_SECRET_ID)."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the main queue (event source)."
  type        = string
}

variable "dlq_arn" {
  description = "ARN of the DLQ: the function may only send to it (a message that can never succeed, moved at once)."
  type        = string
}

variable "breaker_recovery_seconds" {
  description = "COURIER_BREAKER_RECOVERY_SECONDS (1-3600); the controller uses the same value."
  type        = number
  default     = 60
}

variable "extra_environment" {
  description = "Further COURIER_* settings (see docs/configuration.md)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : startswith(k, "COURIER_") || startswith(k, "POWERTOOLS_")])
    error_message = "extra_environment may only hold COURIER_* and POWERTOOLS_* variables."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 365
}

variable "deployment_config_name" {
  description = "CodeDeploy traffic shifting of the `live` alias (the design's blue/green)."
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
}

variable "rollback_alarm_names" {
  description = "CloudWatch alarms that stop a deployment and roll it back."
  type        = list(string)
  default     = []
}

variable "metrics_service" {
  description = "The `service` dimension of the function's metrics (POWERTOOLS_SERVICE_NAME): the deployment's name (courier-prod), the one modules/monitoring's alarms watch, so no two environments share a metric."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
