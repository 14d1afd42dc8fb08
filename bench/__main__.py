"""`make bench`: every benchmark, each printing its figures next to its target, then docs/performance.md's figures.

python -m bench [--cost-only] [--baseline-duration 600] [--baseline-rate 25] [--sweep 10,20,30,40] [--sweep-duration 60]
"""

import argparse

from bench import (
    bundle_throughput,
    cost_memory,
    cost_model,
    handler_latency,
    large_file,
    local_baseline,
    local_burst,
    render_docs,
    soak,
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    local_baseline.add_arguments(parser)
    parser.add_argument(
        "--cost-only",
        action="store_true",
        help="only the cost model (bench/cost_model.py, about 30 s) and its lines in docs/performance.md",
    )
    local_burst.add_arguments(parser)
    args = parser.parse_args()
    if args.cost_only:
        cost_model.main()
        render_docs.main(cost_only=True)
        raise SystemExit(0)
    bundle_throughput.main()
    soak.main()  # first: its RSS is this process's, which later benchmarks' in-process emulators (2 GB objects) inflate
    handler = handler_latency.main()
    cost_memory.main(stub=handler["latency_only_stub"])
    cost_model.main(stub=handler["latency_only_stub"])  # issue 23: £ per million files, £ a month at the design's volume
    large_file.main()  # issue 13: peak RSS against the memory budget, a 2 GB file end to end
    local_baseline.main(args)
    local_burst.main(args)  # the seed's load profile: 100 files/s for 10 s over 10 files/s
    render_docs.main()
