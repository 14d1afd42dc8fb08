variable "name" {
  description = "Name of the NiFi credentials secret (COURIER_NIFI_SECRET_ID)."
  type        = string
  default     = "courier/nifi"
}

variable "rotation_lambda_arn" {
  description = "ARN of the function that rotates the secret (NFR-06: rotation policy)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:lambda:", var.rotation_lambda_arn))
    error_message = "rotation_lambda_arn must be a Lambda function ARN."
  }
}

variable "reader_role_arns" {
  description = "Roles that may read the secret's value besides the rotation function's (the functions' roles, named operator roles); the resource policy refuses everyone else."
  type        = list(string)

  validation {
    condition     = length(var.reader_role_arns) > 0
    error_message = "reader_role_arns must name at least the functions' roles."
  }
}

variable "rotation_enabled" {
  description = "Turn on the rotation schedule. false (the default) until the secret has its first value: Secrets Manager tests the rotation function as soon as rotation is enabled, and that fails on a secret with no value (docs/runbooks/rotate-nifi-secret.md, \"First value\")."
  type        = bool
  default     = false
}

variable "rotation_days" {
  description = "Days between rotations. Range 1-365."
  type        = number
  default     = 30

  validation {
    condition     = var.rotation_days >= 1 && var.rotation_days <= 365
    error_message = "rotation_days must be between 1 and 365."
  }
}

variable "recovery_window_days" {
  description = "Days a deleted secret can still be recovered. 7-30."
  type        = number
  default     = 30

  validation {
    condition     = var.recovery_window_days >= 7 && var.recovery_window_days <= 30
    error_message = "recovery_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
