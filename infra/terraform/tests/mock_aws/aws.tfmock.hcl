# What the mocked AWS provider answers in the envs' terraform test files (envs/*/tests): values
# the provider's own checks accept (ARNs where an argument must be one, JSON where a policy is
# expected); everything else is the mock's random string.

mock_data "aws_caller_identity" {
  defaults = { account_id = "111122223333", arn = "arn:aws:iam::111122223333:root" }
}

mock_data "aws_region" {
  defaults = { name = "eu-west-2" }
}

mock_data "aws_partition" {
  defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
}

mock_data "aws_iam_policy_document" {
  defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
}

mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::111122223333:role/mock" }
}

mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::mock-bucket" }
}

mock_resource "aws_sns_topic" {
  defaults = { arn = "arn:aws:sns:eu-west-2:111122223333:mock" }
}

mock_resource "aws_sqs_queue" {
  defaults = { arn = "arn:aws:sqs:eu-west-2:111122223333:mock", url = "https://sqs.eu-west-2.amazonaws.com/111122223333/mock" }
}

mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-2:111122223333:key/00000000-0000-0000-0000-000000000000" }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn           = "arn:aws:lambda:eu-west-2:111122223333:function:mock"
    qualified_arn = "arn:aws:lambda:eu-west-2:111122223333:function:mock:1"
    invoke_arn    = "arn:aws:apigateway:eu-west-2:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-2:111122223333:function:mock/invocations"
    version       = "1"
  }
}

mock_resource "aws_lambda_alias" {
  defaults = { arn = "arn:aws:lambda:eu-west-2:111122223333:function:mock:live" }
}

mock_resource "aws_lambda_event_source_mapping" {
  defaults = { arn = "arn:aws:lambda:eu-west-2:111122223333:event-source-mapping:00000000-0000-0000-0000-000000000000" }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:eu-west-2:111122223333:rule/mock" }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:eu-west-2:111122223333:log-group:mock" }
}

mock_resource "aws_cloudwatch_metric_alarm" {
  defaults = { arn = "arn:aws:cloudwatch:eu-west-2:111122223333:alarm:mock" }
}

mock_resource "aws_dynamodb_table" {
  defaults = { arn = "arn:aws:dynamodb:eu-west-2:111122223333:table/mock" }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:eu-west-2:111122223333:secret:mock-AbCdEf" }
}

mock_resource "aws_security_group" {
  defaults = { arn = "arn:aws:ec2:eu-west-2:111122223333:security-group/sg-0123456789abcdef0", id = "sg-0123456789abcdef0" }
}

mock_data "aws_lambda_function" {
  defaults = { arn = "arn:aws:lambda:eu-west-2:111122223333:function:courier-nifi-rotation", role = "arn:aws:iam::111122223333:role/courier-nifi-rotation" }
}
