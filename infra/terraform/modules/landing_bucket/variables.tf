variable "name" {
  description = "Name of the landing bucket (globally unique)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name))
    error_message = "name must be a valid S3 bucket name."
  }
}

variable "expiration_days" {
  description = "Days after landing before the current version of a file is hidden behind a delete marker (NFR-03: 7); the data stays noncurrent_expiration_days more. Range 1-365."
  type        = number
  default     = 7

  validation {
    condition     = var.expiration_days >= 1 && var.expiration_days <= 365
    error_message = "expiration_days must be between 1 and 365."
  }
}

variable "noncurrent_expiration_days" {
  description = "Days a revision is kept once noncurrent (hidden after expiration_days, or overwritten): beyond a message's whole life, queue (up to SQS's 14 d) then DLQ (14 d), so no message can name a deleted revision, delivered or not. Range 29-365."
  type        = number
  default     = 29

  validation {
    condition     = var.noncurrent_expiration_days >= 29 && var.noncurrent_expiration_days <= 365
    error_message = "noncurrent_expiration_days must be between 29 and 365: more than the longest queue + DLQ retention (28 days)."
  }
}

variable "queue_arn" {
  description = "ARN of the SQS queue that receives the s3:ObjectCreated:* notifications (unless sns_topic_arn or eventbridge is set)."
  type        = string
}

variable "sns_topic_arn" {
  description = "When set, the bucket publishes its s3:ObjectCreated:* notifications to this SNS topic instead of the queue."
  type        = string
  default     = null
}

variable "eventbridge" {
  description = "When true, the bucket sends its events to EventBridge instead of notifying the queue (a rule routes them on)."
  type        = bool
  default     = false
}

variable "uploader_principal_arns" {
  description = "IAM principals (roles/users) of the external party: they may only s3:PutObject."
  type        = list(string)

  validation {
    condition     = length(var.uploader_principal_arns) > 0 && alltrue([for a in var.uploader_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/", a))])
    error_message = "uploader_principal_arns must be IAM role or user ARNs."
  }
}

variable "uploader_source_cidrs" {
  description = "Source IP ranges (CIDR) the external party uploads from (aws:SourceIp). Never 0.0.0.0/0."
  type        = list(string)

  validation {
    condition     = length(var.uploader_source_cidrs) > 0 && alltrue([for c in var.uploader_source_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "uploader_source_cidrs must be valid CIDR blocks and must not include 0.0.0.0/0."
  }
}

variable "reader_role_arns" {
  description = "Roles allowed to read landed objects (the aggregator's role)."
  type        = list(string)
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
