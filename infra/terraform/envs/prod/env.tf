# What makes this environment prod; everything else is the shared layout in ../_shared.
locals {
  environment           = "prod"
  function_memory_mb    = 512
  maximum_concurrency   = 10
  monthly_budget_amount = 250 # GBP, the design's currency (modules/monitoring converts it for AWS Budgets)

  # SQS MessageRetentionPeriod of the queue (NFR-04: 4 days); an emergency raise by hand
  # (docs/runbooks/backlog-and-data-age.md) is recorded here, or the next apply undoes it.
  queue_retention_seconds = 345600

  # prod's state owns the account-wide activation of the `application` cost tag.
  manage_cost_allocation_tag = true

  # The ledger provisioned and auto scaled: at the design's steady 10 files/s, about half the
  # on-demand price (docs/performance.md §7). settings.ledger_capacity overrides it.
  ledger_capacity = { mode = "provisioned", read_min = 5, read_max = 100, write_min = 15, write_max = 400, target_percent = 70 }
}
