variable "idempotency_table_name" {
  description = "Name of the idempotency ledger table (COURIER_IDEMPOTENCY_TABLE)."
  type        = string
  default     = "courier-idempotency"
}

variable "ledger_capacity" {
  description = "The ledger's capacity: mode on_demand (pay per request) or provisioned (auto scaled between the read/write min and max, tracking target_percent utilisation)."
  type = object({
    mode           = string
    read_min       = optional(number, 5)
    read_max       = optional(number, 100)
    write_min      = optional(number, 15)
    write_max      = optional(number, 400)
    target_percent = optional(number, 70)
  })
  default = { mode = "on_demand" }

  validation {
    condition     = contains(["on_demand", "provisioned"], var.ledger_capacity.mode)
    error_message = "ledger_capacity.mode must be on_demand or provisioned."
  }
  validation {
    condition = (
      var.ledger_capacity.read_min >= 1 && var.ledger_capacity.read_min <= var.ledger_capacity.read_max &&
      var.ledger_capacity.write_min >= 1 && var.ledger_capacity.write_min <= var.ledger_capacity.write_max
    )
    error_message = "ledger_capacity: each min must be at least 1 and at most its max."
  }
  validation {
    condition     = var.ledger_capacity.target_percent >= 20 && var.ledger_capacity.target_percent <= 90
    error_message = "ledger_capacity.target_percent must be between 20 and 90."
  }
}

variable "breaker_table_name" {
  description = "Name of the circuit breaker table (COURIER_BREAKER_TABLE)."
  type        = string
  default     = "courier-breaker"
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
