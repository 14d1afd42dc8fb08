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

variable "function_name" {
  description = "Name of the aggregator function."
  type        = string
}

variable "controller_function_name" {
  description = "Name of the breaker controller function."
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
  description = "Monthly cost budget, in budget_currency (the design's section 7 estimate without the network is about GBP 150)."
  type        = number
  default     = 200
}

variable "budget_currency" {
  description = "Currency of the budget amount (the account's billing currency)."
  type        = string
  default     = "USD"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
