# Private paths to AWS services for the functions in private subnets (section 5.1):
# S3 and DynamoDB gateway endpoints, Secrets Manager and SQS interface endpoints, and a
# Lambda interface endpoint for the breaker controller, which pauses and resumes the
# aggregator's event source mapping from inside the VPC.

# The gateway endpoints are created unless the VPC has them already: a VPC on a VPN or Direct
# Connect usually does, and a second S3 (or DynamoDB) gateway endpoint on the same route tables
# fails (one route per prefix list and route table). With create_*_gateway_endpoint = false the
# existing one is looked up and must serve every private route table (a postcondition checks).
resource "aws_vpc_endpoint" "this" {
  count             = var.create_s3_gateway_endpoint ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_route_table_ids
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

resource "aws_vpc_endpoint" "dynamodb" {
  count             = var.create_dynamodb_gateway_endpoint ? 1 : 0
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.private_route_table_ids
  tags              = merge(var.tags, { Name = "${var.name}-dynamodb" })
}

data "aws_vpc_endpoint" "s3" {
  count        = var.create_s3_gateway_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.s3"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Gateway"]
  }

  lifecycle {
    postcondition {
      condition     = length(setsubtract(var.private_route_table_ids, self.route_table_ids)) == 0
      error_message = "The existing S3 gateway endpoint does not serve every route table in private_route_table_ids."
    }
  }
}

data "aws_vpc_endpoint" "dynamodb" {
  count        = var.create_dynamodb_gateway_endpoint ? 0 : 1
  vpc_id       = var.vpc_id
  service_name = "com.amazonaws.${var.region}.dynamodb"

  filter {
    name   = "vpc-endpoint-type"
    values = ["Gateway"]
  }

  lifecycle {
    postcondition {
      condition     = length(setsubtract(var.private_route_table_ids, self.route_table_ids)) == 0
      error_message = "The existing DynamoDB gateway endpoint does not serve every route table in private_route_table_ids."
    }
  }
}

# The services' prefix lists, the same whichever endpoint (new or existing) routes to them: the
# functions' security groups allow HTTPS to these.
data "aws_prefix_list" "s3" {
  name = "com.amazonaws.${var.region}.s3"
}

data "aws_prefix_list" "dynamodb" {
  name = "com.amazonaws.${var.region}.dynamodb"
}

resource "aws_security_group" "endpoints" {
  name        = "${var.name}-endpoints"
  description = "Interface endpoints of courier: HTTPS from the VPC only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description = "HTTPS from the VPC"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }
}

resource "aws_vpc_endpoint" "secretsmanager" {
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.secretsmanager"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-secretsmanager" })
}

resource "aws_vpc_endpoint" "sqs" {
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.sqs"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-sqs" })
}

resource "aws_vpc_endpoint" "lambda" {
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.lambda"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.private_subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "${var.name}-lambda" })
}
