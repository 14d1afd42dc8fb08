variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-2"
}

variable "settings" {
  description = "The deployment's values; see terraform.tfvars.example and modules/pipeline/variables.tf for each field."
  type = object({
    landing_bucket_name     = string
    archive_bucket_name     = string
    package_path            = string
    uploader_principal_arns = list(string)
    uploader_source_cidrs   = list(string)
    replay_role_arns        = optional(list(string), [])
    vpc_id                  = string
    vpc_cidr                = string
    private_subnet_ids      = list(string)
    private_route_table_ids = list(string)
    nifi_url                = string
    nifi_cidr               = string
    nifi_ca_bundle_path     = optional(string, "")
    rotation_lambda_arn     = string
    # false until the NiFi secret has its first value (docs/runbooks/rotate-nifi-secret.md, "First value").
    secret_rotation_enabled = optional(bool, false)
    # Operator roles that may read the NiFi secret (besides the functions and the rotation function).
    secret_reader_role_arns = optional(list(string), [])
    # Reserve 20 + 1 concurrency for the functions; false where the account's quota cannot (README, "Concurrency quota").
    reserve_concurrency = optional(bool, true)
    alert_emails        = optional(list(string), [])
    notification_source = optional(object({
      sns_topic_arn            = optional(string)
      sns_raw_message_delivery = optional(bool, false)
      eventbridge_bus_name     = optional(string)
    }), {})
    # The VPC's own S3 / DynamoDB gateway endpoints, if it has them (modules/network_endpoints).
    create_s3_gateway_endpoint       = optional(bool, true)
    create_dynamodb_gateway_endpoint = optional(bool, true)
    # ... and its own interface endpoints with private DNS (one per service and VPC), if it has them.
    create_secretsmanager_interface_endpoint = optional(bool, true)
    create_sqs_interface_endpoint            = optional(bool, true)
    create_lambda_interface_endpoint         = optional(bool, true)
    # The account's billing settings; the defaults suit a standalone account (modules/monitoring).
    manage_cost_allocation_tag = optional(bool) # unset: env.tf's (prod true, staging false); false in an Organization member account
    budget_currency            = optional(string, "USD")
    gbp_exchange_rate          = optional(number, 1.27)
    # The ledger's capacity (modules/state_tables: fields, defaults, checks); the fields given override env.tf's
    # (prod provisioned and auto scaled, staging on demand), e.g. { write_max = 800 } or { mode = "on_demand" }.
    ledger_capacity = optional(any)
  })
}
