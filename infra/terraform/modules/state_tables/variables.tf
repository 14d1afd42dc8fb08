variable "idempotency_table_name" {
  description = "Name of the idempotency ledger table (COURIER_IDEMPOTENCY_TABLE)."
  type        = string
  default     = "courier-idempotency"
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
