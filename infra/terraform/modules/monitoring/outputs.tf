output "topic_arn" {
  description = "ARN of the alert topic."
  value       = aws_sns_topic.this.arn
}

output "rollback_alarm_names" {
  description = "Alarms that roll back an aggregator deployment."
  value = [
    aws_cloudwatch_metric_alarm.function_errors["aggregator"].alarm_name,
    aws_cloudwatch_metric_alarm.canary_errors.alarm_name,
    aws_cloudwatch_metric_alarm.breaker_open.alarm_name,
  ]
}

output "composite_alarm_name" {
  description = "The \"not delivering\" composite alarm."
  value       = aws_cloudwatch_composite_alarm.this.alarm_name
}
