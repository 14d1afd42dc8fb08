variable "name" {
  description = "Name of the main queue (the DLQ is named by dlq_name)."
  type        = string
}

variable "dlq_name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "retention_seconds" {
  description = "Message retention of the main queue in seconds (NFR-04: 4 days = 345600). Range 60-1209600 (SQS's), at most dlq_retention_seconds, and longer than max_receive_count visibility timeouts (preconditions)."
  type        = number
  default     = 345600

  validation {
    condition     = var.retention_seconds >= 60 && var.retention_seconds <= 1209600
    error_message = "retention_seconds must be between 60 and 1209600."
  }
}

variable "dlq_retention_seconds" {
  description = "Message retention of the DLQ in seconds (14 days = 1209600): it must outlive the main queue, since a moved message keeps its age."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dlq_retention_seconds <= 1209600
    error_message = "dlq_retention_seconds must be at most 1209600 (14 days)."
  }
}

variable "max_receive_count" {
  description = "Receives before a message moves to the DLQ. Range 2-20. With 11-hour parking, (count - 1) x 11 h must exceed retention_seconds, so no outage moves a message to the DLQ before the retention ends (courier.resources.MAX_RECEIVE_COUNT)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_receive_count >= 2 && var.max_receive_count <= 20
    error_message = "max_receive_count must be between 2 and 20."
  }
}

variable "function_timeout_seconds" {
  description = "Timeout of the aggregator function in seconds; the visibility timeout is derived from it."
  type        = number
}

variable "batching_window_seconds" {
  description = "Maximum batching window of the event source mapping in seconds; added to the visibility timeout."
  type        = number
}

variable "source_bucket_arn" {
  description = "ARN of the landing bucket, the only sender allowed (aws:SourceArn)."
  type        = string
}

variable "source_account_id" {
  description = "Account owning the landing bucket (aws:SourceAccount)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.source_account_id))
    error_message = "source_account_id must be a 12-digit account id."
  }
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
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
