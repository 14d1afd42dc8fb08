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

variable "schedule_expression" {
  description = "How often the controller runs (EventBridge). The design's target assumes one minute."
  type        = string
  default     = "rate(1 minute)"
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

variable "queue_arn" {
  description = "ARN of the main queue (releasing parked messages)."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the controller's log group in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
