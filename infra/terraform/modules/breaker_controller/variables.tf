variable "name" {
  description = "Name of the controller function."
  type        = string
  default     = "courier-breaker-controller"
}

variable "package_path" {
  description = "Path of the deployment zip (the same package as the aggregator)."
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

variable "timeout_seconds" {
  description = "Function timeout in seconds (40-60). Also COURIER_FUNCTION_TIMEOUT_SECONDS: the probe's NiFi POST timeouts derive from it (src/courier/budget.py)."
  type        = number
  default     = 60

  validation {
    # At most the one-minute schedule: with a reserved concurrency of 1 a longer run would throttle the next.
    condition     = var.timeout_seconds >= 40 && var.timeout_seconds <= 60
    error_message = "timeout_seconds must be between 40 and 60: below 40 s one POST budget (2 x (5 s connect + 2 x 1 s)) does not fit in half the time left after 10 s of bookkeeping; above 60 s a run outlasts the one-minute schedule."
  }
}

variable "schedule_expression" {
  description = "How often the controller runs (EventBridge). The design's target assumes one minute."
  type        = string
  default     = "rate(1 minute)"
}

variable "sweep_schedule_expression" {
  description = "How often the same function sweeps delivered landing revisions past the week (src/courier/sweep.py). Each run sweeps the newest two eligible hours: hourly sweeps each hour twice, every two hours once."
  type        = string
  default     = "rate(1 hour)"

  validation {
    condition     = contains(["rate(1 hour)", "rate(2 hours)"], var.sweep_schedule_expression)
    error_message = "sweep_schedule_expression must be rate(1 hour) or rate(2 hours): each run sweeps the newest two eligible hours of the archive index."
  }
}

variable "breaker_table_name" {
  description = "Name of the circuit breaker table."
  type        = string
}

variable "breaker_table_arn" {
  description = "ARN of the circuit breaker table."
  type        = string
}

variable "breaker_recovery_seconds" {
  description = "COURIER_BREAKER_RECOVERY_SECONDS, the same as the aggregator's."
  type        = number
  default     = 60
}

variable "event_source_mapping_uuid" {
  description = "UUID of the aggregator's event source mapping (the only one this controller may update)."
  type        = string
}

variable "event_source_mapping_arn" {
  description = "ARN of that event source mapping."
  type        = string
}

variable "aggregator_function_arn" {
  description = "ARN of the aggregator (unqualified): the mapping may be switched only while it invokes that function (lambda:FunctionArn)."
  type        = string
}

variable "queue_arn" {
  description = "ARN of the main queue (releasing parked messages)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the private subnets (the aggregator's)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the function runs in (the aggregator's): the probe takes the aggregator's path to NiFi."
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
  description = "COURIER_NIFI_URL: https URL of NiFi's /contentListener (the aggregator's)."
  type        = string

  validation {
    condition     = startswith(var.nifi_url, "https://")
    error_message = "nifi_url must be an https:// URL."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: 1, one run at a time. null: none (the account's unreserved pool; a run never outlasts the schedule and a late event is dropped, so runs rarely overlap), for an account whose concurrency quota cannot take the reservation (infra/terraform/README.md, \"Concurrency quota\")."
  type        = number
  default     = 1
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
  description = "Security groups of the interface endpoints (Secrets Manager, SQS, Lambda): courier's own and any existing endpoint's it uses."
  type        = list(string)
}

variable "landing_bucket_name" {
  description = "Name of the landing bucket (COURIER_LANDING_BUCKET; the probe checks it answers)."
  type        = string
}

variable "landing_bucket_arn" {
  description = "ARN of the landing bucket (HeadBucket only)."
  type        = string
}

variable "archive_bucket_name" {
  description = "Name of the archive bucket (COURIER_ARCHIVE_BUCKET; the probe checks it answers)."
  type        = string
}

variable "archive_bucket_arn" {
  description = "ARN of the archive bucket (HeadBucket only)."
  type        = string
}

variable "idempotency_table_name" {
  description = "Name of the idempotency ledger table (COURIER_IDEMPOTENCY_TABLE; the probe reads one item)."
  type        = string
}

variable "idempotency_table_arn" {
  description = "ARN of the idempotency ledger table (GetItem only)."
  type        = string
}

variable "secret_arn" {
  description = "ARN of the NiFi credentials secret (the probe reads it)."
  type        = string
}

variable "secret_name" {
  description = "Name of the NiFi credentials secret (COURIER_NIFI_SECRET_ID)."
  type        = string
}

variable "extra_environment" {
  description = "Further COURIER_* settings; give it the aggregator's extra_environment so the probe behaves like a delivery."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.extra_environment) : startswith(k, "COURIER_") || startswith(k, "POWERTOOLS_")])
    error_message = "extra_environment may only hold COURIER_* and POWERTOOLS_* variables."
  }
}

variable "log_retention_days" {
  description = "Retention of the controller's log group in days."
  type        = number
  default     = 365
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
