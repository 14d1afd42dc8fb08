variable "name" {
  description = "Name prefix of the endpoint resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the functions' private subnets."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC: interface endpoints accept HTTPS from it only."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a CIDR block."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets for the interface endpoints (one per AZ)."
  type        = list(string)
}

variable "private_route_table_ids" {
  description = "Route tables of the private subnets, for the S3 and DynamoDB gateway endpoints."
  type        = list(string)
}

variable "create_s3_gateway_endpoint" {
  description = "Create the S3 gateway endpoint on private_route_table_ids (true), or use the one the VPC has (false: it must serve all of them, and its policy must allow courier's buckets; see README)."
  type        = bool
  default     = true
}

variable "create_dynamodb_gateway_endpoint" {
  description = "Create the DynamoDB gateway endpoint on private_route_table_ids (true), or use the one the VPC has (false: it must serve all of them, and its policy must allow courier's tables; see README)."
  type        = bool
  default     = true
}

variable "region" {
  description = "AWS region (endpoint service names)."
  type        = string
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
