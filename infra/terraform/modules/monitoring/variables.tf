variable "name" {
  description = "Prefix of alarm, topic and dashboard names."
  type        = string
  default     = "courier"
}

variable "alert_emails" {
  description = "Addresses subscribed to the alert topic (and the budget)."
  type        = list(string)
  default     = []
}

variable "queue_name" {
  description = "Name of the main queue."
  type        = string
}

variable "dlq_name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "queue_retention_seconds" {
  description = "Retention of the main queue; the data-expiring alarm fires at data_expiry_fraction of it."
  type        = number
  default     = 345600
}

variable "dlq_retention_seconds" {
  description = "Retention of the DLQ; the dlq-expiring alarm fires at data_expiry_fraction of it, long before the landing bucket's cap on undelivered files."
  type        = number
  default     = 1209600
}

variable "data_expiry_fraction" {
  description = "Fraction (0.1-0.95) of the queue retention at which the oldest message counts as about to expire."
  type        = number
  default     = 0.75

  validation {
    condition     = var.data_expiry_fraction >= 0.1 && var.data_expiry_fraction <= 0.95
    error_message = "data_expiry_fraction must be between 0.1 and 0.95."
  }
}

variable "backlog_age_seconds" {
  description = "Oldest-message age that counts as a backlog (NFR-04: one hour = 3600)."
  type        = number
  default     = 3600
}

variable "expected_files_per_hour" {
  description = "Files the landing bucket receives in an hour at the expected load: the backlog-depth alarm fires above this many messages (NFR-04: 1 hour's worth of data). The design's baseline is 864,000 files a day, 10 files/s: 36000."
  type        = number
  default     = 36000

  validation {
    condition     = var.expected_files_per_hour >= 1
    error_message = "expected_files_per_hour must be at least 1."
  }
}

variable "function_name" {
  description = "Name of the aggregator function."
  type        = string
}

variable "controller_function_name" {
  description = "Name of the breaker controller function."
  type        = string
}

variable "ledger_table_name" {
  description = "Name of the idempotency ledger table (its throttling alarm)."
  type        = string
}

variable "latency_p95_seconds" {
  description = "NFR-02: 95% of files delivered within this many seconds."
  type        = number
  default     = 120
}

variable "latency_p999_seconds" {
  description = "NFR-02: 99.9% of files delivered within this many seconds."
  type        = number
  default     = 180
}

variable "monthly_budget_amount" {
  description = "Monthly cost budget in GBP, the design's currency. Section 7's estimate for what carries the application tag is about GBP 150 at 10 files/s (S3 121, SQS 8, Lambda 3, DynamoDB 5, CloudWatch 12), plus about 42 for the interface endpoints; the network is not tagged. Alerts at 80% actual and 100% forecast."
  type        = number
  default     = 250

  validation {
    condition     = var.monthly_budget_amount > 0
    error_message = "monthly_budget_amount must be positive."
  }
}

variable "budget_currency" {
  description = "Unit of the budget's limit: USD, the unit AWS Budgets accepts for cost budgets (it rejects others with \"not in the supported unit set: [USD]\"); GBP only where the account's Budgets accepts it, with gbp_exchange_rate = 1."
  type        = string
  default     = "USD"

  validation {
    condition     = contains(["USD", "GBP"], var.budget_currency)
    error_message = "budget_currency must be USD or GBP."
  }
}

variable "gbp_exchange_rate" {
  description = "budget_currency per GBP, turning monthly_budget_amount into the budget's limit (1.27 USD per GBP; 1 for GBP). Review it when the budget is reviewed."
  type        = number
  default     = 1.27

  validation {
    condition     = var.gbp_exchange_rate > 0
    error_message = "gbp_exchange_rate must be positive."
  }
}

variable "manage_cost_allocation_tag" {
  description = "Activate cost_tag_key as a cost allocation tag (aws_ce_cost_allocation_tag): without it the budget sees no cost. The activation is account-wide, so one state only manages it: destroying another would deactivate it for all. Default false; prod's env.tf sets true. false in an Organization member account (only the payer account can) or where another stack manages it."
  type        = bool
  default     = false
}

variable "cost_tag_key" {
  description = "Tag key the budget filters on (every courier resource carries it)."
  type        = string
  default     = "application"
}

variable "cost_tag_value" {
  description = "Value of cost_tag_key on courier's resources."
  type        = string
  default     = "courier"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
