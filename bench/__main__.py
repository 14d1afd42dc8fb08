"""`make bench`: every benchmark, each printing its figures next to its target."""

from bench import bundle_throughput, cost_memory, handler_latency, soak

if __name__ == "__main__":
    bundle_throughput.main()
    handler_latency.main()
    cost_memory.main()
    soak.main()
