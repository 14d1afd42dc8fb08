# terraform test of the queue module with a mocked AWS provider (tests/integration/test_terraform_cli.py):
# what each notification path creates, and the queue's derived settings.

mock_provider "aws" {
  source = "../../tests/mock_aws"
}

variables {
  name                     = "courier-staging-queue"
  dlq_name                 = "courier-staging-dlq"
  function_timeout_seconds = 300
  batching_window_seconds  = 20
  source_bucket_arn        = "arn:aws:s3:::example-courier-landing-staging"
  source_account_id        = "111122223333"
}

run "the_bucket_notifies_the_queue_by_default" {
  command = apply

  assert {
    condition     = length(aws_sns_topic_subscription.landing) == 0 && length(aws_cloudwatch_event_rule.object_created) == 0
    error_message = "The default path needs neither a subscription nor a rule."
  }
  assert {
    condition     = aws_sqs_queue.this.visibility_timeout_seconds == 6 * 300 + 20 && jsondecode(aws_sqs_queue.this.redrive_policy).maxReceiveCount == 20
    error_message = "Visibility timeout is 6 x the timeout + the batching window; 20 receives before the DLQ."
  }
}

run "an_sns_topic_is_subscribed" {
  command = apply

  variables {
    notification_source = { sns_topic_arn = "arn:aws:sns:eu-west-2:111122223333:landing-events" }
  }

  assert {
    condition     = length(aws_sns_topic_subscription.landing) == 1 && aws_sns_topic_subscription.landing[0].protocol == "sqs"
    error_message = "The SNS path subscribes the queue to the topic."
  }
}

run "eventbridge_routes_with_a_rule" {
  command = apply

  variables {
    notification_source = { eventbridge_bus_name = "default" }
  }

  assert {
    condition     = length(aws_cloudwatch_event_rule.object_created) == 1 && length(aws_sns_topic_subscription.landing) == 0
    error_message = "The EventBridge path routes Object Created events with a rule."
  }
}
