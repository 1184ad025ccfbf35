#!/usr/bin/env python3
"""Turns Google Benchmark JSON from coreai_opt_benchmarks into the markdown table of
docs/performance.md: median GB/s per benchmark and its ratio to the `copy` row of the same
op / format / granularity / size / threads / allocation group.

    build/bin/coreai_opt_benchmarks --benchmark_repetitions=3 \
        --benchmark_report_aggregates_only=true --benchmark_out=run.json
    python3 benchmarks/summarize.py run.json
"""
import json
import sys
from collections import defaultdict


def main(path):
    with open(path) as f:
        data = json.load(f)
    medians = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b.get("run_name", b["name"]).split("/min_time")[0]
        medians[name] = b["bytes_per_second"] / 1e9
    groups = defaultdict(dict)
    for name, gbs in medians.items():
        parts = name.split("/")  # BM_op, format, gran, impl, n, threads:T, mode
        key = (parts[0][3:], parts[1], parts[2], int(parts[4]), parts[5].split(":")[1], parts[6])
        groups[key][parts[3]] = gbs
    print("| op | format | granularity | elements | threads | output | impl | GB/s | x copy |")
    print("|---|---|---|--:|--:|---|---|--:|--:|")
    for key in sorted(groups, key=lambda k: (k[3], k[4], k[5], k[0], k[1], k[2])):
        row = groups[key]
        copy = row.get("copy")
        for impl in ("copy", "coreai_opt", "aten", "aten_naive", "scalar"):
            if impl not in row:
                continue
            ratio = f"{row[impl] / copy:.2f}" if copy else "-"
            op, fmt, gran, n, t, mode = key
            size = f"{n >> 20}M"
            print(f"| {op} | {fmt} | {gran} | {size} | {t} | {mode} | {impl} | "
                  f"{row[impl]:.2f} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1])
