terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.87.0, < 6.0.0"
    }
  }

  # Partial configuration: terraform init -backend-config=backend.hcl (bucket, key, region, dynamodb_table).
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { application = "courier", environment = local.environment }
  }
}
