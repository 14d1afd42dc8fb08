variable "name" {
  description = "Name of the archive bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name."
  }
}

variable "bundle_prefix" {
  description = "Key prefix of the bundles (COURIER_ARCHIVE_PREFIX). Only this prefix moves to Deep Archive; the index stays readable."
  type        = string
  default     = "bundles"
}

variable "index_prefix" {
  description = "Key prefix of the archive index (courier.bundle.INDEX_PREFIX); the writer may put only under bundle_prefix and this."
  type        = string
  default     = "index"
}

variable "deep_archive_after_days" {
  description = "Days after which a bundle moves to S3 Glacier Deep Archive (NFR-03). Range 0-3650; replays within this window need no restore."
  type        = number
  default     = 7

  validation {
    condition     = var.deep_archive_after_days >= 0 && var.deep_archive_after_days <= 3650
    error_message = "deep_archive_after_days must be between 0 and 3650."
  }
}

variable "writer_role_arns" {
  description = "Roles that may only put bundles (the aggregator)."
  type        = list(string)
}

variable "replay_role_arns" {
  description = "Operator roles that may read and restore bundles for replay and audit."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "undelivered_transition_days" {
  description = "Days before a bundle NiFi never acknowledged moves to Deep Archive: beyond queue + DLQ retention (18 days), so a retry can always read it. Range 19-365."
  type        = number
  default     = 30

  validation {
    condition     = var.undelivered_transition_days >= 19 && var.undelivered_transition_days <= 365
    error_message = "undelivered_transition_days must be between 19 and 365: more than queue + DLQ retention (18 days)."
  }
}
