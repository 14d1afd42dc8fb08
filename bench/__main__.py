"""`make bench`: every benchmark, each printing its figures next to its target."""

import bench.large_file  # issue 13: peak RSS against the memory budget, a 2 GB file end to end
from bench import bundle_throughput, cost_memory, handler_latency, soak

if __name__ == "__main__":
    bundle_throughput.main()
    handler_latency.main()
    cost_memory.main()
    bench.large_file.main()
    soak.main()
