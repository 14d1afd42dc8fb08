"""The operator tools: what `courier backfill`, `deploy`, `dlq`, `replay`, `slo-report`, `status` and `trace` do.

Pure like the core: they reach AWS, NiFi and the local stack only through the ports (``courier.ports``),
and the CLI (``courier.cli``) builds the adapters they are given. Nothing in the pipeline imports them.
"""
