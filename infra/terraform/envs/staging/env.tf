# What makes this environment staging; everything else is the shared layout in ../_shared.
locals {
  environment           = "staging"
  function_memory_mb    = 512
  maximum_concurrency   = 4
  monthly_budget_amount = 100 # GBP, the design's currency (modules/monitoring converts it for AWS Budgets)

  # SQS MessageRetentionPeriod of the queue (NFR-04: 4 days); an emergency raise by hand
  # (docs/runbooks/backlog-and-data-age.md) is recorded here, or the next apply undoes it.
  queue_retention_seconds = 345600

  # prod's state owns the account-wide `application` cost tag: destroying staging leaves it active.
  manage_cost_allocation_tag = false

  # Staging's traffic is spiky and small: pay per request. settings.ledger_capacity overrides it.
  ledger_capacity = { mode = "on_demand" }
}
