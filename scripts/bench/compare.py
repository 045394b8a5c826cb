"""Prints the ratios between two runtime-bench JSON reports (ours over AutoGen's)."""

import json
import sys

ours = json.load(open(sys.argv[1]))
theirs = json.load(open(sys.argv[2]))


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b else "n/a"


def mb(value):
    return f"{value / 1048576:.1f} MB" if value else "n/a"


rows = [
    ("publish msg/s", f"{ours['publish']['messagesPerSecond']:.0f}", f"{theirs['publish']['messagesPerSecond']:.0f}",
     ratio(ours['publish']['messagesPerSecond'], theirs['publish']['messagesPerSecond']), ">= 10x"),
    ("rpc calls/s, 1 caller", f"{ours['rpc1']['callsPerSecond']:.0f}", f"{theirs['rpc1']['callsPerSecond']:.0f}",
     ratio(ours['rpc1']['callsPerSecond'], theirs['rpc1']['callsPerSecond']), ""),
    ("rpc p50 µs, 1 caller (lower is better)", f"{ours['rpc1']['p50Microseconds']:.0f}", f"{theirs['rpc1']['p50Microseconds']:.0f}",
     ratio(theirs['rpc1']['p50Microseconds'], ours['rpc1']['p50Microseconds']), ">= 1.0x"),
    ("rpc p99 µs, 1 caller (lower is better)", f"{ours['rpc1']['p99Microseconds']:.0f}", f"{theirs['rpc1']['p99Microseconds']:.0f}",
     ratio(theirs['rpc1']['p99Microseconds'], ours['rpc1']['p99Microseconds']), ""),
    ("rpc calls/s, 16 callers", f"{ours['rpc16']['callsPerSecond']:.0f}", f"{theirs['rpc16']['callsPerSecond']:.0f}",
     ratio(ours['rpc16']['callsPerSecond'], theirs['rpc16']['callsPerSecond']), ">= 5x"),
    ("rpc p50 µs, 16 callers (lower is better)", f"{ours['rpc16']['p50Microseconds']:.0f}", f"{theirs['rpc16']['p50Microseconds']:.0f}",
     ratio(theirs['rpc16']['p50Microseconds'], ours['rpc16']['p50Microseconds']), ""),
    ("host RSS idle", mb(ours['memory'].get('idleRSSBytes')), mb(theirs['memory'].get('idleRSSBytes')), "", ""),
    ("host RSS peak, publish load", mb(ours['publish'].get('hostPeakRSSBytes')), mb(theirs['publish'].get('hostPeakRSSBytes')), "", ""),
    (f"host RSS, {ours['memory']['idleWorkers']} idle workers", mb(ours['memory'].get('idleWorkersRSSBytes')),
     mb(theirs['memory'].get('idleWorkersRSSBytes')), "", "<= 200 MB (ours)"),
]
header = ("workload", ours["label"], theirs["label"], "ratio (ours vs theirs)", "target")
widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(5)]
for row in [header] + rows:
    print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)))
print(f"\nmachine: {ours['machine']}")
