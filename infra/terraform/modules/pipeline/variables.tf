variable "environment" {
  description = "Environment name (staging, prod): part of every resource name (courier-<environment>-..., see name), required in both bucket names, and a tag on every resource."
  type        = string

  validation {
    condition     = contains(["staging", "prod"], var.environment)
    error_message = "environment must be staging or prod."
  }
}

variable "name" {
  description = "Name prefix of every resource; null (the default) means courier-<environment>. The local stack's names are the same with the prefix courier (courier-queue, ...)."
  type        = string
  default     = null
}

variable "landing_bucket_name" {
  description = "Globally unique name of the landing bucket."
  type        = string
}

variable "archive_bucket_name" {
  description = "Globally unique name of the archive bucket."
  type        = string
}

variable "package_path" {
  description = "Deployment zip from `make package`."
  type        = string
}

variable "uploader_principal_arns" {
  description = "IAM principals of the external party (PutObject only)."
  type        = list(string)
}

variable "uploader_source_cidrs" {
  description = "Source IP ranges of the external party (aws:SourceIp)."
  type        = list(string)
}

variable "replay_role_arns" {
  description = "Operator roles allowed to read and restore bundles (courier replay / archive verify)."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "VPC with private subnets and the VPN / Direct Connect route to NiFi."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of that VPC."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (one per AZ) for the function and interface endpoints."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets."
  type        = list(string)
}

variable "create_s3_gateway_endpoint" {
  description = "Create the S3 gateway endpoint (true), or use the VPC's existing one (false)."
  type        = bool
  default     = true
}

variable "create_secretsmanager_interface_endpoint" {
  description = "Create the Secrets Manager interface endpoint (true), or use the VPC's existing one, which must have private DNS (false)."
  type        = bool
  default     = true
}

variable "create_sqs_interface_endpoint" {
  description = "Create the SQS interface endpoint (true), or use the VPC's existing one, which must have private DNS (false)."
  type        = bool
  default     = true
}

variable "create_lambda_interface_endpoint" {
  description = "Create the Lambda interface endpoint (true), or use the VPC's existing one, which must have private DNS (false)."
  type        = bool
  default     = true
}

variable "create_dynamodb_gateway_endpoint" {
  description = "Create the DynamoDB gateway endpoint (true), or use the VPC's existing one (false)."
  type        = bool
  default     = true
}

variable "nifi_url" {
  description = "https URL of NiFi's /contentListener."
  type        = string
}

variable "nifi_cidr" {
  description = "Address range of NiFi."
  type        = string
}

variable "nifi_port" {
  description = "NiFi's HTTPS port."
  type        = number
  default     = 8443
}

variable "nifi_ca_bundle_path" {
  description = "Path of a CA bundle for NiFi in a layer (/opt/...). '' (the default): the NiFi secret's ca_pem, else the system trust store. The package (`make package`, /var/task) carries no CA file."
  type        = string
  default     = ""

  validation {
    condition     = var.nifi_ca_bundle_path == "" || startswith(var.nifi_ca_bundle_path, "/opt/")
    error_message = "nifi_ca_bundle_path must be '' (the secret's ca_pem or the system trust store) or a file of a layer under /opt/: the package (/var/task) carries no CA bundle."
  }
}

variable "rotation_lambda_arn" {
  description = "Function that rotates the NiFi secret."
  type        = string
}

variable "secret_reader_role_arns" {
  description = "Operator roles that may read the NiFi secret's value (courier secret stage / verifier); the secret's resource policy refuses every other principal but the two functions and the rotation function."
  type        = list(string)
  default     = []
}

variable "secret_rotation_enabled" {
  description = "Turn on the NiFi secret's rotation schedule: false until the secret has its first value, then true (docs/runbooks/rotate-nifi-secret.md, \"First value\"); see modules/secrets."
  type        = bool
  default     = false
}

variable "queue_retention_seconds" {
  description = "How long the queue keeps a message, in seconds (SQS's MessageRetentionPeriod; NFR-04: 4 days = 345600). 60-1209600 (SQS's range), and no more than the DLQ's 14 days (a moved message keeps its age). The data-age alarms follow it. Raising it past (max_receive_count - 3) x 11 h (about 7.8 days) lets an outage move messages to the DLQ before their retention ends, where they are kept to the same age and redriven (docs/runbooks/dlq.md). Set in envs/<env>/env.tf; an emergency raise by hand (docs/runbooks/backlog-and-data-age.md) must be recorded there, or the next apply puts it back."
  type        = number
  default     = 345600

  validation {
    condition     = var.queue_retention_seconds >= 60 && var.queue_retention_seconds <= 1209600
    error_message = "queue_retention_seconds must be between 60 and 1209600 (14 days), SQS's range."
  }
}

variable "function_memory_mb" {
  description = "Memory of the aggregator in MB: 512 has the lowest GB-s per file (docs/performance.md); 1769 (one vCPU) for multi-GB exports."
  type        = number
  default     = 512
}

variable "function_ephemeral_storage_mb" {
  description = "The aggregator's /tmp in MB (512-10240): spools of large files and bundles; it caps the largest file (docs/large-files.md)."
  type        = number
  default     = 5120
}

variable "function_timeout_seconds" {
  description = "Timeout of the aggregator in seconds."
  type        = number
  default     = 120
}

variable "batch_size" {
  description = "Event source mapping BatchSize."
  type        = number
  default     = 1000
}

variable "batching_window_seconds" {
  description = "Event source mapping MaximumBatchingWindowInSeconds."
  type        = number
  default     = 20
}

variable "maximum_concurrency" {
  description = "Event source mapping MaximumConcurrency."
  type        = number
  default     = 10
}

variable "reserve_concurrency" {
  description = "Reserve concurrency for the functions: 20 for the aggregator, 1 for the controller (21 per environment). AWS keeps at least 100 of the account's concurrency unreserved, so a new account (a quota as low as 10) refuses the reservations: false until the quota is raised (infra/terraform/README.md, \"Concurrency quota\")."
  type        = bool
  default     = true
}

variable "ledger_capacity" {
  description = "The idempotency ledger's capacity, passed to modules/state_tables (its variable has the type, defaults and checks)."
  type        = any
  default     = { mode = "on_demand" }
}

variable "breaker_recovery_seconds" {
  description = "Circuit breaker recovery timeout in seconds."
  type        = number
  default     = 60
}

variable "deep_archive_after_days" {
  description = "Days before bundles move to Deep Archive."
  type        = number
  default     = 7
}

variable "expected_files_per_hour" {
  description = "Files landing in an hour at the expected load (design: 10 files/s = 36000); a queue deeper than this is a backlog (NFR-04)."
  type        = number
  default     = 36000
}

variable "alert_emails" {
  description = "Who gets the alerts."
  type        = list(string)
  default     = []
}

variable "monthly_budget_amount" {
  description = "Monthly budget in GBP (the design's figures; see modules/monitoring)."
  type        = number
  default     = 250
}

variable "budget_currency" {
  description = "Unit of the budget's limit (USD, what AWS Budgets accepts; see modules/monitoring)."
  type        = string
  default     = "USD"
}

variable "gbp_exchange_rate" {
  description = "budget_currency per GBP (1 when budget_currency is GBP)."
  type        = number
  default     = 1.27
}

variable "manage_cost_allocation_tag" {
  description = "Activate the application tag for cost allocation. Account-wide, so exactly one environment's state manages it (destroying that state deactivates it): default false, true in prod's env.tf. false in an Organization member account (only the payer account can)."
  type        = bool
  default     = false
}

variable "notification_source" {
  description = "How S3 announces new objects to the queue. Empty (default): the landing bucket's own notification. sns_topic_arn: subscribe the queue to that existing topic, which the bucket publishes to (sns_raw_message_delivery optional, either body is parsed). eventbridge_bus_name: a rule on that bus for aws.s3 Object Created of the landing bucket (S3 sends to the account's \"default\" bus). One path at a time."
  type = object({
    sns_topic_arn            = optional(string)
    sns_raw_message_delivery = optional(bool, false)
    eventbridge_bus_name     = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.notification_source.sns_topic_arn == null || var.notification_source.eventbridge_bus_name == null
    error_message = "notification_source: set sns_topic_arn or eventbridge_bus_name, not both; one notification path at a time."
  }

  validation {
    condition     = var.notification_source.sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.notification_source.sns_topic_arn))
    error_message = "notification_source.sns_topic_arn must be the ARN of a standard SNS topic (FIFO topics cannot feed a standard queue)."
  }

  validation {
    # S3 sends its events to the account's default bus only: a rule on any other bus never fires.
    condition     = var.notification_source.eventbridge_bus_name == null || var.notification_source.eventbridge_bus_name == "default"
    error_message = "notification_source.eventbridge_bus_name must be \"default\": S3 sends its events to the default bus only."
  }
}

variable "tags" {
  description = "Extra tags."
  type        = map(string)
  default     = {}
}
