# What makes this environment prod; everything else is the shared layout in ../_shared.
locals {
  environment           = "prod"
  function_memory_mb    = 512
  maximum_concurrency   = 10
  monthly_budget_amount = 250 # GBP, the design's currency (modules/monitoring converts it for AWS Budgets)
}
