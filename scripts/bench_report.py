#!/usr/bin/env python3
"""Writes this CPU's section of BENCHMARKS.md and its chart from criterion's results.

Run by scripts/bench, which runs the benches first; by hand:

    python3 scripts/bench_report.py --criterion DIR --log LOG [--provisional]

DIR is the criterion output directory of the run (its `*/new/estimates.json` and
`benchmark.json` files), LOG the benches' standard output (the snapshot benches
print their memory figures there). `--self-test` renders a report from made-up
figures into a temporary directory and checks it (CI runs it). Python 3 standard
library only.

What a call costs depends on the CPU more than on anything else, so
BENCHMARKS.md keeps one section per kind of CPU (Intel, AMD, ...), each one
run, with its chart `docs/peers-<kind>.svg`: a run replaces the section of the
CPU it ran on and keeps the others as they are.
"""

import argparse
import datetime
import html
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

# ---- What the benches measure (keep in step with benches/*.rs). ----

# Per-call cases of benches/peers.rs: (criterion id, who, kind, what one call does).
# kind: "base" (baseline), "ours", "counter" or "timer" (a peer doing what
# #[counted] or #[timed] does), "ref" (a reference point, not a peer).
PEERS = [
    ("bare", "-", "base",
     "an `#[inline(never)]` fn adding 1 to its argument; every case has this body"),
    ("bare_async", "-", "base",
     "the same as an `async fn`, polled once by a minimal executor (noop waker)"),
    ("counted", "telemetry", "ours",
     "`#[counted]`: this thread's slot from a thread-local, `started` and `ok` "
     "bumped by plain load+store in a cache line only this thread writes"),
    ("counted_unit", "telemetry", "ours",
     "`#[counted]` on a fn returning `()` (its body is its own, a `black_box` of "
     "the sum): the body stays in place and the guard's drop tells a return "
     "from an unwind by std's panic count, read at entry and at the drop"),
    ("timed", "telemetry", "ours",
     "`#[timed]`: the above, two TSC reads, latency sum/min/max in the same line, "
     "one histogram bucket bumped (plain load+store)"),
    ("timed_fallible", "telemetry", "ours",
     "`#[timed]` on a fn returning `Result` (`ok`/`err` decided per call)"),
    ("timed_async", "telemetry", "ours",
     "`#[timed]` on an `async fn`: guard made at first poll, counted at completion"),
    ("timed_sample16", "telemetry", "ours",
     "`#[timed(sample = 16)]`: counted like `#[counted]`, a countdown in the same "
     "cache line, the clock pair and the recording for about one call in 16"),
    ("clock_pair", "telemetry", "ref",
     "two reads of the clock `#[timed]` uses and a subtraction, nothing recorded: "
     "the floor under any timer on this machine"),
    ("atomic_u64", "std", "counter",
     "`AtomicU64::fetch_add(1, Relaxed)` on one static: a locked read-modify-write"),
    ("metered_hit_count", "metered 0.9", "counter",
     "`#[measure(HitCount)]`: a relaxed `fetch_add` on the registry's counter"),
    ("metrics_counter_macro", "metrics 0.24", "counter",
     "`counter!(\"name\").increment(1)` at each call: the recorder "
     "(metrics-exporter-prometheus) hashes the key and looks it up in its registry, "
     "then an atomic add"),
    ("metrics_counter_handle", "metrics 0.24", "counter",
     "a `Counter` handle made once with `counter!`: `increment(1)` is an atomic add "
     "through an `Arc`"),
    ("metered_response_time", "metered 0.9", "timer",
     "`#[measure(ResponseTime)]`: `Instant::now()` pair (whole milliseconds, its "
     "default), `parking_lot::Mutex<HdrHistogram>` locked to record"),
    ("metrics_histogram_handle", "metrics 0.24", "timer",
     "a `Histogram` handle made once, an `Instant` pair, `record(elapsed)`: the "
     "Prometheus recorder pushes the sample into a lock-free bucket list that a "
     "thread drains every 100 ms (`run_upkeep`)"),
    ("quanta_mutex_hdrhistogram", "quanta 0.12 + hdrhistogram 7", "timer",
     "hand-rolled: two `quanta::Clock::raw()` reads (TSC), `delta_as_nanos`, "
     "`std::sync::Mutex<hdrhistogram::Histogram>` locked to record"),
    ("fastrace_trace", "fastrace 0.7", "timer",
     "`#[trace]`: a local span (id, name, two timestamps) pushed to a thread-local "
     "queue; a root span every 1,000 calls (cost included) hands them to the "
     "collector thread, whose reporter drops them"),
    ("tracing_instrument", "tracing 0.1", "timer",
     "`#[instrument]`: a span (argument recorded as a field) created, entered, "
     "exited and closed in a `tracing_subscriber::Registry`, with one layer that "
     "only counts closed spans in a thread-local"),
]

CONTENTION = [
    ("own_padded_cell", "the machine's limit: each thread adds to its own 128-byte "
     "line (plain load+store, found through a thread-local)"),
    ("counted", "`#[counted]` (per-thread cells)"),
    ("timed", "`#[timed]` (per-thread cells and buckets)"),
    ("atomic_u64", "one shared `AtomicU64`, relaxed `fetch_add`"),
    ("metered_hit_count", "metered `HitCount` (a shared atomic)"),
    ("metered_response_time", "metered `ResponseTime` (a shared mutex)"),
]

SNAPSHOT_SIZES = [10, 100, 1000, 10000]

# Cases of benches/debug_build.rs, run with `--profile dev`.
DEBUG_CASES = [
    ("bare", "the bare fn"),
    ("fetch_add", "a relaxed `fetch_add` on a static"),
    ("clock_pair", "two reads of the clock `#[timed]` uses"),
    ("counted", "`#[counted]`"),
    ("timed", "`#[timed]`"),
]

# Cases of benches/clock_store.rs (x86_64 only): what the bucket's store costs
# right after the clock reads.
CLOCK_STORE_CASES = [
    ("pair", "two TSC reads and a subtraction: the floor"),
    ("fixed_add", "adds the latency to a sum and one to a count, at fixed addresses"),
    ("indexed_load", "reads the bucket the latency picks"),
    ("indexed_add", "adds one to the bucket the latency picks, as a histogram does"),
    ("unrelated_add", "adds one to a bucket picked by a value known before the reads"),
    ("rotating_add", "as `indexed_add`, never the same bucket twice in a row"),
    ("previous_add", "adds one to the bucket of the previous call's latency"),
    ("pair_work", "`pair`, then 32 dependent multiply-rotates that need no reading"),
    ("indexed_add_work", "`indexed_add`, then the same arithmetic"),
]

# Memory targets: (fns, threads, MiB at most).
MEMORY_TARGETS = [(1000, 32, 128), (100, 512, 256)]

TARGETS_NOTE = (
    "Targets of the core issue; each line is computed from the figures above."
)


# The sentences that the per-CPU texts below share.
TIMED_BOOKKEEPING = (
    "besides its two clock reads, `#[timed]` counts the start and the end, "
    "marks the fn as the thread's innermost (for the panic hook), and records "
    "sum, min, max, a bucket and its group's count")
SAMPLED_PER_CALL = (
    "by {sample_over_budget}, on a budget of 1 ns over `#[counted]` and 1/16 of "
    "the clock pair. Per call, besides `#[counted]`: the countdown (a load, a "
    "subtraction whose borrow is the test, a store, in the cell the call "
    "already writes), a test of the start at exit")

# Why a target is missed where it is, and what would close it: shown under the
# targets table for each target the run missed (keys: the target's first words).
# A text is one for every CPU, or one per kind of CPU (`cpu_kind`) with "other"
# for the rest; `{name}` fields are figures of the same run (`run_figures`).
WHY_MISSED = {
    "`#[counted]` cheaper than every peer's counter": {
        "amd":
            "on this CPU an uncontended locked add costs {atomic_over_bare} over "
            "the bare fn, less than the thread-local lookup that finds a thread's "
            "own cell; `#[counted]` also counts twice (started, then ok), in that "
            "cell, with plain adds. The cells win as soon as threads share a fn: "
            "from 1 to 2 threads a shared `AtomicU64` goes {atomic_scaling} and "
            "`#[counted]` {counted_scaling} (see Contention). Not closable by "
            "trimming: the lookup alone is dearer than the locked add here.",
        "other":
            "an uncontended locked add costs {atomic_over_bare} over the bare fn "
            "here; `#[counted]` finds the thread's own cell through a thread-local "
            "and counts twice in it with plain adds. Under contention see the "
            "Contention table: a shared `AtomicU64` goes {atomic_scaling} from 1 "
            "to 2 threads, `#[counted]` {counted_scaling}.",
    },
    "`#[timed]` ≤ 3 ns over the clock pair": {
        "intel":
            TIMED_BOOKKEEPING + ": some 35 "
            "instructions and a chain of three dependent loads (the slot's bucket "
            "index, the group, the bucket). On a quiet machine this is 3 to 4 ns; "
            "on a loaded one the difference swings by several ns between runs "
            "(compare `timed` with `timed_fallible`, the same work). Closing it: "
            "keep the slot's bucket index pointer in its counter cell (one line "
            "fewer, one load fewer), and min/max derived from the buckets.",
        "amd":
            "most of it is one store: the bucket's add, whose address waits for "
            "the clock reading. In the same run, in a loop of back-to-back calls, "
            "that add alone costs {store_over_pair} over the pair, while sum, "
            "count and an add whose address is known early cost "
            "{fixed_over_pair} and {unrelated_over_pair} (clock_store, below); "
            "with other work between calls ({work_over_pair} of it here, "
            "`pair_work`) it costs {store_over_pair_work}. So back-to-back calls, "
            "as in `peers`, show the most it can cost; trimming instructions does "
            "not close it here.",
        "other":
            TIMED_BOOKKEEPING + ". Where the clock is the time-stamp counter, the "
            "clock_store table above takes that apart.",
    },
    "snapshot of 1,000 fns ≤ 1 ms":
        "memory-bound like the level-2 case below, plus every non-zero bucket "
        "(some 64 lines a fn here) and the bucket vectors; on a shared VM it "
        "swings by as much as 2× from run to run with the load.",
    "`#[timed(sample = 16)]`": {
        "other":
            SAMPLED_PER_CALL + ", and 1/16 of a timed call's recording; "
            "callgrind counts 19 instructions a call over `#[counted]` (25 "
            "before the untimed calls "
            "got an exit path of their own). The branch that picks the timed "
            "call cannot be predicted, by design (random gaps), so it costs a "
            "misprediction per timed call, some 20 cycles per 16 calls. Tried "
            "and left: the timed call's recording out of line (callgrind: 2.4 "
            "instructions a call more, the same register saves at entry).",
        "amd":
            SAMPLED_PER_CALL + "; per timed call, one in 16: a misprediction "
            "(random gaps, by design) "
            "and the bucket's store, which waits for the clock reading "
            "({store_over_pair} here, clock_store). On this CPU the case also "
            "varies more than any other between runs of the same code: 5.1 to "
            "9.0 ns in full runs, 5.6 to 6.3 ns run alone.",
    },
    "`#[timed]` ≤ 25 ns over bare":
        "the clock pair alone is {pair_over_bare} over the bare fn in this run, "
        "and `#[timed]` {timed_over_pair} over the pair (see that target below). "
        "Where the clock is this dear, only `sample = N` goes under it.",
    "`#[timed]` ≥ 2.5× cheaper than metered":
        "metered reads `Instant::now()` twice (the same counter, converted to "
        "time by the vDSO) and locks an uncontended `parking_lot` mutex to "
        "record. Where locked operations are cheap, as here (an uncontended "
        "locked add: {atomic_over_bare}), its mutex costs little, and what "
        "both pay most for is reading the clock (our pair: {pair_over_bare}), "
        "so the ratio comes down towards that of the two clocks.",
    "2 threads ≥ 1.9× one thread":
        "the machine's limit, threads each adding to a line of their own, went "
        "{limit_scaling} from 1 to 2 threads in the same run{limit_note}; see "
        "the target on the limit below.",
    "level-2 snapshot":
        "it is mostly work, not misses: under callgrind a level-2 snapshot "
        "takes about 2,340 instructions a fn (3,700 before the quantiles were "
        "read straight from the histogram, 2,900 before the walk placed ranks "
        "out of line and the output map was kept between snapshots). On a "
        "loaded machine that can still be over 0.3 ms. Closing it further: "
        "bounds checks in the group loops and the rank computation, some 130 "
        "instructions a fn.",
    "JSON of the 1,000-fn snapshot":
        "`to_json` writes the fns' entries itself (integers and bucket pairs "
        "straight into room reserved in the string, names copied whole where "
        "nothing needs escaping) and the rest through the "
        "crate's serde writer; some 800 bytes a fn, most of them bucket pairs, "
        "so a run over 1 ms means the machine is busy (see the load average).",
    "2 threads on one counted fn scale":
        "on this machine 2 threads have 2 cores only when nothing else runs; "
        "with other work running (see the load average) neither case scales and "
        "the ratio says little. Here the machine's limit itself went "
        "{limit_scaling} from 1 to 2 threads{limit_note}. Cells are 128 bytes "
        "apart, as the machine-limit case, so the two threads share no line and "
        "no prefetched pair.",
    "debug `#[counted]`":
        "a crate built with debug assertions gives its sync fns a debug guard: "
        "not generic, one word, one call into the runtime at entry and one at "
        "exit, each counting in the shared slot with one locked `xadd` on x86_64 "
        "(under callgrind: 217 instructions a call over bare before, 78 now, a "
        "`fetch_add` 27): in instructions, within the target. In time it is "
        "over: it makes two locked adds where the `fetch_add` case makes one, "
        "and its unoptimized glue (the closure the body runs in, the "
        "classification of its value, moving the guard into its exit) keeps "
        "every temporary on the stack, a store and a load apiece, which runs "
        "slower per instruction than the `fetch_add` case's calls.",
    "debug `#[timed]`":
        "as for `#[counted]`, plus two clock reads and the histogram's recording "
        "path unoptimized. Under callgrind, instructions a call over bare: 783 "
        "at first, 577 with the debug guards, 377 now, with a shared-slot record "
        "path of the histogram's own, one-instruction adds and loads for every "
        "width, and a clock source read in one `mov` (the clock pair fell from "
        "101 to 49, and the target with it). What is left is some ten memory "
        "operations the shared slot needs (two counts, the latency sum, min and "
        "max, the buckets' and the group's pointers, the bucket's bit, the "
        "bucket and its group's count), each behind small helpers whose "
        "arguments an unoptimized build keeps on the stack: about 150 for the "
        "histogram, 33 for the latency, 100 for the clock and the glue. "
        "Closing it would mean writing that logic out again inside the guard. "
        "What a user can do instead: optimize the runtime alone in the dev "
        "profile (README), which makes a debug `#[timed]` call 139.",
    "32 threads × 1,000 timed fns ≤ 128 MiB":
        "each (thread, fn) pair costs its 128 B counter cell, a 1 KiB bucket index "
        "and a 264 B group per power of two its latencies span: ten powers of two "
        "are 3.9 KiB a pair. Closing it: an index that grows with the groups in "
        "use, or a sparse first form of a slot's buckets.",
    "512 threads × 100 timed fns ≤ 256 MiB":
        "as above: 3.9 KiB a (thread, fn) pair at ten powers of two.",
    "`#[counted]` ≤ 2 ns over bare":
        "`#[counted]` finds the thread's own cell through a thread-local (a "
        "load relative to the thread pointer and a test that the thread has a "
        "slot) and counts twice in it with plain adds, the start and then the "
        "outcome: {counted_over_bare} in this run. More means a busy machine "
        "(see the load average).",
    "`#[timed]` cheaper than quanta":
        "the hand-rolled timer reads the same counter twice and locks an "
        "uncontended mutex to record. Where locked operations are cheap (an "
        "uncontended locked add: {atomic_over_bare} here), its recording costs "
        "about what ours does, and both are mostly their clock reads (our pair: "
        "{pair_over_bare}); see `#[timed]` over the clock pair.",
}


class Missing(Exception):
    pass


# ---- Reading criterion's output. ----


def read_results(criterion_dir):
    """{full_id: {"median": ns, "low": ns, "high": ns, "throughput": n or None}}"""
    results = {}
    for root, _dirs, files in os.walk(criterion_dir):
        if os.path.basename(root) != "new" or not {"benchmark.json", "estimates.json"} <= set(files):
            continue
        with open(os.path.join(root, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(root, "estimates.json")) as f:
            estimates = json.load(f)
        median = estimates["median"]
        throughput = bench.get("throughput") or {}
        results[bench["full_id"]] = {
            "median": median["point_estimate"],
            "low": median["confidence_interval"]["lower_bound"],
            "high": median["confidence_interval"]["upper_bound"],
            "throughput": throughput.get("Elements"),
        }
    return results


def log_records(log_text, kind):
    """The `key=value` fields of each `<kind> key=value ...` line of a bench log."""
    for line in log_text.splitlines():
        if line.startswith(kind + " "):
            yield dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)


def read_threads_memory(log_text):
    """{(fns, threads, spread): bytes} from the snapshot benches' threads_memory lines."""
    return {(int(fields["fns"]), int(fields["threads"]), fields["spread"]): int(fields["bytes"])
            for fields in log_records(log_text, "threads_memory")}


def read_debug_instructions(log_text):
    """{case: instructions per call} from scripts/bench's callgrind lines."""
    return {fields["case"]: int(fields["per_call"])
            for fields in log_records(log_text, "debug_instructions")}


def read_memory(log_text):
    """{fns: {key: value}} from the `memory fns=...` lines of the snapshot benches."""
    return {int(fields["fns"]): fields for fields in log_records(log_text, "memory")}


def need(results, full_id):
    if full_id not in results:
        raise Missing(full_id)
    return results[full_id]["median"]


# ---- Formatting. ----


def ns(value):
    if value >= 1e6:
        return f"{value / 1e6:,.2f} ms"
    if value >= 1e3:
        return f"{value / 1e3:,.2f} µs"
    if value >= 100:
        return f"{value:,.0f} ns"
    return f"{value:.2f} ns" if value < 10 else f"{value:.1f} ns"


def tick(value):
    """Axis label of a power of ten: 1 ns, 10 ns, 100 ns, 1 µs, …"""
    for unit, size in (("ms", 1e6), ("µs", 1e3), ("ns", 1)):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g} ns"


def signed_ns(value, base):
    """The difference of two medians in ns, signed: `+8.1 ns`."""
    return f"{value - base:+.1f} ns"


def ratio(value):
    return f"{value:.2f}×" if value < 10 else f"{value:.1f}×"


def table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    marks = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- The machine. ----


def run(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine(commit=None):
    facts = []
    cpu = None
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu is None:
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    except OSError:
        cpu = run(["sysctl", "-n", "machdep.cpu.brand_string"])
    facts.append(("CPU", cpu or platform.processor() or "unknown"))
    facts.append(("Cores (logical)", str(os.cpu_count())))
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        facts.append(("Memory", f"{kib / 1024 / 1024:.0f} GiB"))
    except (OSError, ValueError, IndexError):
        pass
    facts.append(("OS", f"{platform.system()} {platform.release()} ({platform.machine()})"))
    if " hypervisor" in flags:
        facts.append(("Virtualized", "yes (the CPU reports a hypervisor)"))
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            facts.append(("Clock source", f.read().strip()))
    except OSError:
        pass
    facts.append(("Rust", run(["rustc", "--version"]) or "unknown"))
    if commit:
        facts.append(("Commit", commit))
        return facts
    commit = run(["git", "rev-parse", "--short", "HEAD"])
    if commit:
        dirty = run(["git", "status", "--porcelain", "--untracked-files=no"])
        facts.append(("Commit", commit + (" (with local changes)" if dirty else "")))
    return facts


def cpu_kind(facts):
    """The section key of a machine: its CPU's vendor, or its name made a slug."""
    cpu = dict(facts).get("CPU", "unknown")
    for vendor in ("Intel", "AMD", "Apple"):
        if vendor.lower() in cpu.lower():
            return vendor.lower()
    return re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-") or "unknown"


# ---- The chart. ----


def svg_chart(rows, title):
    """Horizontal bars of median ns per call, log scale. rows: (label, ns, kind)."""
    colors = {"ours": "#1f6feb", "base": "#8c959f", "ref": "#8c959f",
              "counter": "#d4722c", "timer": "#bf4b8a"}
    label_w, bar_w, row_h, top, bottom = 230, 520, 24, 48, 80
    width = label_w + bar_w + 90
    height = top + row_h * len(rows) + bottom
    low = 10 ** math.floor(math.log10(max(min(v for _, v, _ in rows), 0.1)))
    high = 10 ** math.ceil(math.log10(max(v for _, v, _ in rows)))
    span = math.log10(high) - math.log10(low)

    def x(value):
        return label_w + bar_w * (math.log10(max(value, low)) - math.log10(low)) / span

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{html.escape(title)}</text>',
    ]
    decade = low
    while decade <= high * 1.0001:
        gx = x(decade)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" '
                   f'y2="{top + row_h * len(rows)}" stroke="#d0d7de"/>')
        out.append(f'<text x="{gx:.1f}" y="{top + row_h * len(rows) + 16}" '
                   f'text-anchor="middle" fill="#57606a">{tick(decade)}</text>')
        decade *= 10
    for i, (label, value, kind) in enumerate(rows):
        y = top + i * row_h
        weight = ' font-weight="bold"' if kind == "ours" else ""
        out.append(f'<text x="{label_w - 8}" y="{y + row_h * 0.65:.1f}" '
                   f'text-anchor="end"{weight}>{html.escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y + 4}" width="{max(x(value) - label_w, 1):.1f}" '
                   f'height="{row_h - 8}" fill="{colors[kind]}"/>')
        out.append(f'<text x="{x(value) + 6:.1f}" y="{y + row_h * 0.65:.1f}"{weight}>'
                   f'{html.escape(ns(value))}</text>')
    legend = [("telemetry", "ours"), ("counter peers", "counter"),
              ("timer / tracer peers", "timer"), ("baselines, clock", "base")]
    axis_y = top + row_h * len(rows)
    out.append(f'<text x="{label_w + bar_w / 2}" y="{axis_y + 34}" text-anchor="middle" '
               'fill="#57606a">median time per call (log scale)</text>')
    lx, ly = label_w, axis_y + 62
    for text, kind in legend:
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colors[kind]}"/>')
        out.append(f'<text x="{lx + 16}" y="{ly}">{text}</text>')
        lx += 40 + 7 * len(text)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- The report. ----


def report(results, memory, command, provisional, loadavg, facts, chart_link, started=None):
    """This run's section of BENCHMARKS.md, and its chart."""
    doc = []
    say = doc.append
    say(f"## {dict(facts).get('CPU', 'unknown CPU')}")
    say("")
    if provisional:
        say("> **Provisional figures.** They come from a short run (`--quick`: 1 s "
            "warm-up, 2 s measurement per case) on a machine busy with other work, "
            "so they are inflated and noisy; they show that the pipeline works, not "
            "what the code costs. Regenerate on a quiet machine with `scripts/bench`.")
        say("")
    say(f"One run of `{command}` on this machine; run it on a CPU of this kind to "
        "replace this section (tables, chart, machine).")
    say("")
    say("### Machine")
    say("")
    rows = [(k, v) for k, v in facts]
    rows.append(("Run started", started or datetime.datetime.now(datetime.timezone.utc)
                 .strftime("%Y-%m-%d %H:%M UTC")))
    if loadavg:
        rows.append(("Load average before the run", loadavg))
    say(table(["", ""], rows, ["l", "l"]))
    say("")

    # Per call.
    bare = need(results, "peers/bare")
    counted = need(results, "peers/counted")
    timed = need(results, "peers/timed")
    say("### Cost per call, side by side")
    say("")
    say("`cargo bench --bench peers`: every case in one criterion group, one process. "
        "Median time per call; *over bare* subtracts the bare fn; *× us* divides by "
        "`#[counted]` for counters and by `#[timed]` for timers and tracers.")
    say("")
    peer_rows, chart_rows = [], []
    for name, who, kind, _ in PEERS:
        value = need(results, f"peers/{name}")
        us = {"counter": counted, "timer": timed}.get(kind)
        label = f"**{name}**" if kind == "ours" else name
        peer_rows.append([
            label, who, ns(value),
            "—" if kind == "base" else signed_ns(value, bare),
            ratio(value / bare),
            ratio(value / us) if us else "—",
        ])
        chart_rows.append((name, value, kind))
    say(table(["case", "crate", "median / call", "over bare", "× bare", "× us"], peer_rows,
              ["l", "l", "r", "r", "r", "r"]))
    say("")
    say(f"![Median cost per call]({chart_link})")
    say("")

    # What the bucket's store costs after the clock reads (x86_64 only).
    # Every case or none: a partial run's figures are not shown or quoted.
    clock_store = {name: results[f"clock_store/{name}"]["median"]
                   for name, _ in CLOCK_STORE_CASES if f"clock_store/{name}" in results}
    if len(clock_store) < len(CLOCK_STORE_CASES):
        clock_store = {}
    if clock_store:
        say("`cargo bench --bench clock_store`: what `#[timed]` pays over its clock "
            "pair, taken apart. Every case reads the time-stamp counter twice and "
            "then does what its line says; *over pair* subtracts `pair` (the last "
            "one subtracts `pair_work`).")
        say("")
        rows = []
        for name, what in CLOCK_STORE_CASES:
            floor = clock_store["pair_work" if name.endswith("_work") else "pair"]
            rows.append([f"`{name}`", what, ns(clock_store[name]),
                         "—" if name in ("pair", "pair_work")
                         else signed_ns(clock_store[name], floor)])
        say(table(["case", "after the two reads", "median / call", "over pair"], rows,
                  ["l", "l", "r", "r"]))
    say("")

    # Contention.
    say("### Contention: one fn, many threads")
    say("")
    say("`cargo bench --bench contention`: every thread calls the same fn in a loop; "
        "total calls per second over all threads (criterion's median round time, one "
        "call per thread per round).")
    say("")
    threads = sorted({int(key.rsplit("/", 1)[1]) for key in results
                      if key.startswith("contention/")})
    if not threads:
        raise Missing("contention/*")
    contention_rows = []
    per_second = {}
    for name, what in CONTENTION:
        row = [name, what]
        for n in threads:
            key = f"contention/{name}/{n}"
            value = need(results, key)
            calls = (results[key]["throughput"] or n) * 1e9 / value
            per_second[(name, n)] = calls
            row.append(f"{calls / 1e6:,.0f} M/s")
        if 1 in threads and 2 in threads:
            row.append(ratio(per_second[(name, 2)] / per_second[(name, 1)]))
        contention_rows.append(row)
    header = ["case", "what"] + [f"{n} thread{'s' if n > 1 else ''}" for n in threads]
    if 1 in threads and 2 in threads:
        header.append("2 threads / 1")
    say(table(header, contention_rows, ["l", "l"] + ["r"] * (len(header) - 2)))
    say("")
    say(f"This machine has {os.cpu_count()} logical cores. Scaling needs an idle core "
        "per thread: where other work runs, threads take turns and no case scales.")
    say("")

    # Debug build.
    debug = {name: results.get(f"debug_build/{name}") for name, _ in DEBUG_CASES}
    debug = {k: v["median"] for k, v in debug.items() if v}
    instructions = memory.get("debug_instructions", {})
    if len(debug) == len(DEBUG_CASES):
        say("### Debug build")
        say("")
        say("`cargo bench --profile dev --bench debug_build`: the build `cargo test` "
            "makes, unoptimized. Median per call, with criterion's loop unoptimized "
            "too (in *bare*).")
        say("")
        debug_rows = [[f"`{name}`", what, ns(debug[name]),
                       "—" if name == "bare" else signed_ns(debug[name], debug["bare"])]
                      for name, what in DEBUG_CASES]
        header = ["case", "what", "median / call", "over bare"]
        if len(instructions) == len(DEBUG_CASES):
            header += ["instructions / call", "over bare"]
            for row, (name, _) in zip(debug_rows, DEBUG_CASES):
                row += [f"{instructions[name]:,}",
                        "—" if name == "bare" else f"{instructions[name] - instructions['bare']:+,}"]
        say(table(header, debug_rows, ["l", "l"] + ["r"] * (len(header) - 2)))
        say("")
        if len(instructions) == len(DEBUG_CASES):
            say("*instructions*: counted by callgrind (`DEBUG_BUILD_CALLS=<case>:<calls>`, "
                "see the bench's docs), which the machine's load does not move.")
            say("")

    # Snapshot.
    say("### Snapshot cost and memory per fn")
    say("")
    say("`cargo bench --bench snapshot_10 --bench snapshot_100 --bench snapshot_1000 "
        "--bench snapshot_10000`: a snapshot reads every instrumented fn of the "
        "binary, so each size is a binary of its own, with that many `#[timed]` fns "
        "generated by `seq!`, each holding 64 calls whose latencies spread over ten "
        "powers of two (about 60 non-empty buckets per fn).")
    say("")
    snapshot_rows = []
    for fns in SNAPSHOT_SIZES:
        take = need(results, f"snapshot/take/{fns}")
        summaries = need(results, f"snapshot/take_summaries/{fns}")
        to_json = need(results, f"snapshot/to_json/{fns}")
        mem = memory.get(fns, {})
        json_bytes = int(mem["json_bytes"]) if "json_bytes" in mem else None
        snapshot_rows.append([
            f"{fns:,}", ns(take), ns(take / fns), ns(summaries), ns(to_json),
            f"{json_bytes / 1024:,.0f} KiB" if json_bytes else "?",
            f"{int(mem['static_bytes_per_fn']):,} B" if mem else "?",
            f"{int(mem['heap_bytes_per_fn']):,} B" if mem else "?",
            (f"{int(mem['resident_bytes_per_fn']):,} B"
             if mem.get("resident_bytes_per_fn", "n/a") != "n/a" else "n/a"),
        ])
    say(table(["fns", "`snapshot()`", "per fn", "level 2", "`to_json`", "JSON",
               "static / fn", "heap / fn", "resident / fn"], snapshot_rows))
    say("")
    say("*level 2*: `Snapshot::take(DetailsLevel::Summaries)`, counters and latency "
        "summaries without buckets; *static*: the call site's counters (32 cells of "
        "128 B), histogram slot pointers and registration, zero-initialized (resident "
        "only once touched); *heap*: histogram buckets allocated by the thread slot "
        "that recorded (a 1 KiB index, then one 264 B group per power of two its "
        "latencies span); *resident*: growth of the process's resident memory while "
        "the calls were recorded, divided by the fns.")
    say("")
    threads_memory = memory.get("threads", {})
    if threads_memory:
        say("Memory with many threads alive at once, each recording 64 calls into every "
            "fn (counters past the 32 cells in the `static`, and histograms; the "
            "statics included): latencies over three powers of two, then over ten.")
        say("")
        memory_rows = []
        for (fns, threads, spread), value in sorted(threads_memory.items()):
            memory_rows.append([f"{threads} × {fns:,}", spread,
                                f"{value / 2**20:,.1f} MiB",
                                f"{value / (fns * threads):,.0f} B"])
        say(table(["threads × fns", "latencies", "memory", "per thread and fn"],
                  memory_rows, ["l", "l", "r", "r"]))
        say("")

    # Targets.
    say("### Targets")
    say("")
    say(TARGETS_NOTE)
    say("")
    checks = []

    def check(what, ok, detail):
        checks.append([what, "met" if ok else "**missed**", detail])

    over = counted - bare
    check("`#[counted]` ≤ 2 ns over bare", over <= 2, f"{over:+.2f} ns")
    counters = [n for n, _, k, _ in PEERS if k == "counter"]
    cheapest = min(counters, key=lambda n: need(results, f"peers/{n}"))
    check("`#[counted]` cheaper than every peer's counter",
          counted < need(results, f"peers/{cheapest}"),
          f"{ns(counted)} vs {ns(need(results, f'peers/{cheapest}'))} ({cheapest})")
    over = timed - bare
    check("`#[timed]` ≤ 25 ns over bare", over <= 25,
          f"{over:+.1f} ns, of which the clock pair alone "
          f"{need(results, 'peers/clock_pair') - bare:+.1f} ns")
    metered = need(results, "peers/metered_response_time")
    check("`#[timed]` ≥ 2.5× cheaper than metered `ResponseTime`", metered / timed >= 2.5,
          f"{ratio(metered / timed)}")
    quanta = need(results, "peers/quanta_mutex_hdrhistogram")
    check("`#[timed]` cheaper than quanta + `Mutex<hdrhistogram>`", timed < quanta,
          f"{ns(timed)} vs {ns(quanta)}")
    if ("counted", 2) in per_second:
        scaling = per_second[("counted", 2)] / per_second[("counted", 1)]
        check("2 threads ≥ 1.9× one thread on one counted fn", scaling >= 1.9,
              f"{ratio(scaling)}")
    take = need(results, "snapshot/take/1000")
    check("snapshot of 1,000 fns ≤ 1 ms", take <= 1e6, ns(take))
    summaries = need(results, "snapshot/take_summaries/1000")
    check("level-2 snapshot of 1,000 fns ≤ 0.3 ms", summaries <= 3e5, ns(summaries))
    to_json = need(results, "snapshot/to_json/1000")
    check("JSON of the 1,000-fn snapshot ≤ 1 ms", to_json <= 1e6, ns(to_json))
    clock = need(results, "peers/clock_pair")
    check("`#[timed]` ≤ 3 ns over the clock pair", timed - clock <= 3,
          f"{timed - clock:+.1f} ns ({ns(timed)} vs {ns(clock)})")
    sampled = need(results, "peers/timed_sample16")
    budget = counted + (clock - bare) / 16 + 1
    check("`#[timed(sample = 16)]` ≤ `#[counted]` + clock pair / 16 + 1 ns",
          sampled <= budget, f"{ns(sampled)} vs {ns(budget)}")
    if all((name, n) in per_second for name in ("own_padded_cell", "counted") for n in (1, 2)):
        # Scaling from 1 to 2 threads, against the scaling of the machine's limit
        # in the same run: what the instrumentation loses to sharing.
        ours = per_second[("counted", 2)] / per_second[("counted", 1)]
        limit = per_second[("own_padded_cell", 2)] / per_second[("own_padded_cell", 1)]
        check("2 threads on one counted fn scale ≥ 0.9 of the machine's limit",
              ours >= 0.9 * limit,
              f"{ours / limit:.2f} ({ratio(ours)} vs {ratio(limit)} from 1 to 2 threads)")
    if len(debug) == len(DEBUG_CASES):
        add = debug["fetch_add"] - debug["bare"]
        over = debug["counted"] - debug["bare"]
        counted_instructions = timed_instructions = ""
        if len(instructions) == len(DEBUG_CASES):
            over_bare = {name: instructions[name] - instructions["bare"] for name in instructions}
            counted_instructions = (f"; instructions {over_bare['counted']:+,} vs "
                                    f"3 × {over_bare['fetch_add']:,}")
            timed_instructions = (f"; instructions {over_bare['timed']:+,} vs "
                                  f"{over_bare['clock_pair'] + 3 * over_bare['fetch_add']:,}")
        check("debug `#[counted]` ≤ 3× a debug `fetch_add`", over <= 3 * add,
              f"{over:+.1f} ns vs 3 × {add:.1f} ns{counted_instructions}")
        pair = debug["clock_pair"] - debug["bare"]
        over = debug["timed"] - debug["bare"]
        check("debug `#[timed]` ≤ debug clock pair + 3× `fetch_add`",
              over <= pair + 3 * add,
              f"{over:+.1f} ns vs {pair + 3 * add:.1f} ns{timed_instructions}")
    threads_memory = memory.get("threads", {})
    for fns, threads, mib in MEMORY_TARGETS:
        for spread in ("narrow", "wide"):
            value = threads_memory.get((fns, threads, spread))
            if value is not None:
                check(f"{threads} threads × {fns:,} timed fns ≤ {mib} MiB ({spread} latencies)",
                      value <= mib * 2**20, f"{value / 2**20:,.1f} MiB")
    say(table(["target", "", "measured"], checks, ["l", "l", "l"]))
    say("")
    missed = [what for what, verdict, _ in checks if verdict != "met"]
    figures = run_figures(results, per_second, clock_store)
    notes = [(what, why_missed(why, cpu_kind(facts), figures)) for what in missed
             for key, why in WHY_MISSED.items() if what.startswith(key)]
    if notes:
        say("Why, where a target of the issue is missed:")
        say("")
        for what, why in notes:
            say(f"- {what}: {why}")
        say("")

    # Notes.
    say("### What each case does per call")
    say("")
    for name, who, _kind, what in PEERS:
        say(f"- `{name}` ({who}): {what}.")
    say("")
    say("Every case is checked before it is measured: the bench runs it 1,000 times "
        "and reads the value back (snapshot counts, the atomic, metered's counter and "
        "histogram, the Prometheus text, the spans the fastrace reporter received, the "
        "spans the tracing layer saw close, the hdrhistogram's count), so no case is "
        "timed while recording nothing. Peers are set up as their documentation says "
        "and with their default options; they are dev-dependencies of the benches "
        "only.")
    say("")
    say("### Reading these numbers")
    say("")
    say("- Medians of criterion's samples; each sample is a batch of calls, so a "
        "median per call is a mean within a batch. The per-call tail of a real "
        "workload is what `#[timed]` records: see `docs/criterion.md`.")
    say("- `#[timed]` costs mostly its two clock reads: compare `timed` with "
        "`clock_pair`. Reading the time-stamp counter takes some 25 to 40 cycles, "
        "depending on the CPU (more where a hypervisor traps it), so the pair alone "
        "is 15 to 30 ns at common clock speeds; every timer here reads the same "
        "counter or a dearer clock (`Instant::now()`).")
    say("- Figures from a busy or virtualized machine are inflated; ratios within one "
        "run are more stable than absolute numbers.")
    say("")
    title = "Cost per call: telemetry beside its peers"
    if provisional:
        title += " (provisional figures)"
    return "\n".join(doc), svg_chart(chart_rows, title)


def run_figures(results, per_second, clock_store):
    """The `{name}` fields of WHY_MISSED, from this run ("?" where not measured)."""
    figures = {}
    peers = {name: need(results, f"peers/{name}")
             for name in ("bare", "counted", "timed", "timed_sample16", "atomic_u64",
                          "clock_pair")}
    figures["atomic_over_bare"] = signed_ns(peers["atomic_u64"], peers["bare"])
    figures["counted_over_bare"] = signed_ns(peers["counted"], peers["bare"])
    figures["pair_over_bare"] = signed_ns(peers["clock_pair"], peers["bare"])
    figures["timed_over_pair"] = signed_ns(peers["timed"], peers["clock_pair"])
    budget = peers["counted"] + (peers["clock_pair"] - peers["bare"]) / 16 + 1
    figures["sample_over_budget"] = f"{peers['timed_sample16'] - budget:.2f} ns"
    scaling = {name: per_second[(name, 2)] / per_second[(name, 1)]
               for name in ("counted", "atomic_u64", "own_padded_cell")
               if (name, 1) in per_second and (name, 2) in per_second}
    for name, short in (("counted", "counted"), ("atomic_u64", "atomic"),
                        ("own_padded_cell", "limit")):
        if name in scaling:
            figures[f"{short}_scaling"] = ratio(scaling[name])
    # Two threads cannot do more than twice the work of one: a limit past 2×
    # means its one-thread figure came out low, and every ratio to it is off.
    figures["limit_note"] = (
        " (more than twice one thread, which no real scaling gives: the "
        "one-thread figure came out low in this run, so the ratio says little)"
        if scaling.get("own_padded_cell", 0) > 2.05 else "")
    if clock_store:
        pair = clock_store["pair"]
        figures["work_over_pair"] = signed_ns(clock_store["pair_work"], pair)
        figures["store_over_pair"] = signed_ns(clock_store["indexed_add"], pair)
        figures["fixed_over_pair"] = signed_ns(clock_store["fixed_add"], pair)
        figures["unrelated_over_pair"] = signed_ns(clock_store["unrelated_add"], pair)
        figures["store_over_pair_work"] = signed_ns(clock_store["indexed_add_work"],
                                                    clock_store["pair_work"])
    return figures


def why_missed(why, kind, figures):
    """A WHY_MISSED text for this kind of CPU, its fields filled from the run."""
    if isinstance(why, dict):
        why = why[kind] if kind in why else why["other"]
    return re.sub(r"\{(\w+)\}", lambda field: figures.get(field.group(1), "?"), why)


# BENCHMARKS.md: a header, then one section per kind of CPU between these marks.
HEADER = """# Benchmarks

<!-- Generated by scripts/bench_report.py from criterion's estimates: regenerate with scripts/bench, do not edit by hand. -->

What a call costs depends on the CPU more than on anything else: the same code
measures differently on an Intel and on an AMD core, and a target met on one
can be missed on the other. So this file has one section per kind of CPU the
benches last ran on, each section one run of `scripts/bench` on one machine,
with its own chart. `scripts/bench` replaces the section of the CPU it runs on
and keeps the others. Compare figures within a section; across sections, only
the ratios.
"""
SECTION = re.compile(r"<!-- run: (\S+) -->\r?\n(.*?)<!-- end of run: \1 -->[ \t]*(?:\r?\n|\Z)",
                     re.S)


class Malformed(Exception):
    pass


def merge(existing, kind, section):
    """BENCHMARKS.md with `section` as the run of `kind`, the other runs kept.

    Raises Malformed rather than drop anything of `existing` but its header:
    a run it cannot delimit, or text between or after the runs."""
    runs = dict(SECTION.findall(existing))
    first = existing.find("<!-- run: ")
    if existing.strip() and first < 0:
        raise Malformed("it holds no run between <!-- run: KIND --> and "
                        "<!-- end of run: KIND --> marks")
    if existing.count("<!-- run: ") != len(runs):
        raise Malformed("a run's marks do not pair up")
    if first >= 0 and SECTION.sub("", existing[first:]).strip():
        raise Malformed("it has text outside the runs, after the header")
    runs[kind] = section
    return HEADER + "".join(f"\n<!-- run: {key} -->\n{runs[key]}<!-- end of run: {key} -->\n"
                            for key in sorted(runs))


def write(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def generate(args):
    results = read_results(args.criterion)
    log_text = ""
    if args.log:
        with open(args.log, errors="replace") as f:
            log_text = f.read()
    facts = args.facts if hasattr(args, "facts") else machine(getattr(args, "commit", None))
    kind = cpu_kind(facts)
    chart = os.path.join(args.charts, f"peers-{kind}.svg")
    chart_link = os.path.relpath(chart, os.path.dirname(os.path.abspath(args.markdown)))
    try:
        memory = read_memory(log_text)
        memory["threads"] = read_threads_memory(log_text)
        memory["debug_instructions"] = read_debug_instructions(log_text)
        markdown, svg = report(results, memory, args.command, args.provisional,
                               args.loadavg, facts, chart_link.replace(os.sep, "/"),
                               getattr(args, "started", None))
    except Missing as missing:
        sys.exit(f"bench_report: no result for {missing} under {args.criterion}: "
                 "run every bench first (scripts/bench)")
    try:
        with open(args.markdown) as f:
            existing = f.read()
    except FileNotFoundError:
        existing = ""
    try:
        merged = merge(existing, kind, markdown)
    except Malformed as malformed:
        sys.exit(f"bench_report: {args.markdown} not written: {malformed}. Mend the file "
                 "or remove it (every section is one run of scripts/bench).")
    write(args.markdown, merged)
    write(chart, svg)
    print(f"wrote the {kind} section of {args.markdown}, and {chart}")


# ---- Self-test: made-up results in, a well-formed report out. ----


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        criterion = os.path.join(tmp, "criterion")

        def fake(full_id, median, elements=None):
            directory = os.path.join(criterion, *full_id.split("/"), "new")
            os.makedirs(directory)
            group, function = full_id.split("/", 1)
            with open(os.path.join(directory, "benchmark.json"), "w") as f:
                json.dump({"group_id": group, "function_id": function, "full_id": full_id,
                           "throughput": {"Elements": elements} if elements else None}, f)
            interval = {"lower_bound": median * 0.9, "upper_bound": median * 1.1,
                        "confidence_level": 0.95}
            with open(os.path.join(directory, "estimates.json"), "w") as f:
                json.dump({"median": {"point_estimate": median,
                                      "confidence_interval": interval}}, f)

        # A locked add cheaper than `#[counted]` and a clock pair far under
        # `#[timed]`: two missed targets whose texts take figures of the run.
        cheap = {"atomic_u64": 5.0, "clock_pair": 10.0}
        for i, (name, _, _, _) in enumerate(PEERS):
            fake(f"peers/{name}", cheap.get(name, 1.0 + 10 * i))
        clock_store = [20.0, 20.5, 21.0, 28.0, 20.2, 29.0, 27.0, 40.0, 40.5]
        for (name, _), median in zip(CLOCK_STORE_CASES, clock_store):
            fake(f"clock_store/{name}", median)
        for name, _ in CONTENTION:
            for n in (1, 2):
                fake(f"contention/{name}/{n}", 2.0, n)
        log = os.path.join(tmp, "log.txt")
        with open(log, "w") as f:
            for fns in SNAPSHOT_SIZES:
                fake(f"snapshot/take/{fns}", 500.0 * fns)
                fake(f"snapshot/to_json/{fns}", 300.0 * fns)
                fake(f"snapshot/take_summaries/{fns}", 200.0 * fns)
                f.write(f"memory fns={fns} static_bytes_per_fn=4696 heap_bytes_per_fn=5472 "
                        f"resident_bytes_per_fn=n/a buckets_per_fn=64 json_bytes={800 * fns}\n")
            f.write("threads_memory fns=1000 threads=32 spread=narrow bytes=90000000 "
                    "per_thread_fn=2812\n")
            for i, (name, _) in enumerate(DEBUG_CASES):
                f.write(f"debug_instructions case={name} per_call={100 + 1000 * i}\n")
        for i, (name, _) in enumerate(DEBUG_CASES):
            fake(f"debug_build/{name}", 50.0 + 10 * i)
        args = argparse.Namespace(
            criterion=criterion, log=log, command="scripts/bench", provisional=True,
            loadavg="0.10 0.20 0.30", markdown=os.path.join(tmp, "BENCHMARKS.md"),
            charts=os.path.join(tmp, "docs"), facts=[("CPU", "AMD EPYC 9B14")])
        generate(args)
        with open(args.markdown) as f:
            markdown = f.read()
        with open(os.path.join(tmp, "docs", "peers-amd.svg")) as f:
            svg = f.read()
        assert "Provisional" in markdown
        assert "| **counted** | telemetry | 21.0 ns | +20.0 ns | 21.0× | — |" in markdown, markdown
        assert "| counted | `#[counted]` (per-thread cells) | 500 M/s | 1,000 M/s | 2.00× |" \
            in markdown, markdown
        assert "| 1,000 | 500.00 µs | 500 ns | 200.00 µs |" in markdown, markdown
        assert "snapshot of 1,000 fns ≤ 1 ms | met" in markdown, markdown
        assert "32 threads × 1,000 timed fns ≤ 128 MiB (narrow latencies) | met" \
            in markdown, markdown
        assert "debug `#[counted]` ≤ 3× a debug `fetch_add` | met | +30.0 ns" in markdown, markdown
        assert "- level-2 snapshot of 1,000 fns ≤ 0.3 ms: it reads" not in markdown, markdown
        # The texts for this kind of CPU, with the run's figures in them.
        assert "- `#[timed]` ≤ 3 ns over the clock pair: most of it is one store" in markdown, markdown
        assert "that add alone costs +8.0 ns over the pair, while sum, count and an add " \
            "whose address is known early cost +0.5 ns and +0.2 ns" in markdown, markdown
        assert "an uncontended locked add costs +4.0 ns over the bare fn, less than" in markdown
        assert "a shared `AtomicU64` goes 2.00× and `#[counted]` 2.00×" in markdown, markdown
        assert not re.search(r"\{\w+\}|\?", markdown.split("Why, where")[1].split("###")[0])
        assert "| `indexed_add_work` | `indexed_add`, then the same arithmetic | 40.5 ns " \
            "| +0.5 ns |" in markdown, markdown
        assert "![Median cost per call](docs/peers-amd.svg)" in markdown, markdown
        # Every target has a text for when it is missed.
        targets = markdown.split("### Targets")[1].split("Why, where")[0]
        for row in re.findall(r"^\| (.+?) \| (?:met|\*\*missed\*\*) \|", targets, re.M):
            assert any(row.startswith(key) for key in WHY_MISSED), row
        assert "| `timed` | `#[timed]` | 90.0 ns | +40.0 ns | 4,100 | +4,000 |" in markdown, markdown
        assert "; instructions +3,000 vs 3 × 1,000 |" in markdown, markdown
        assert "`#[counted]` ≤ 2 ns over bare | **missed**" in markdown, markdown
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
        assert svg.count("<rect") == len(PEERS) + 5, svg
        import xml.dom.minidom
        xml.dom.minidom.parseString(svg)
        # Another CPU's run adds its section and keeps this one; a second run
        # on the first CPU replaces that CPU's section alone.
        amd_section = SECTION.findall(markdown)
        assert [kind for kind, _ in amd_section] == ["amd"], markdown
        args.facts = [("CPU", "Intel(R) Xeon(R) Processor")]
        generate(args)
        with open(args.markdown) as f:
            both = f.read()
        assert both.startswith(HEADER)
        assert SECTION.findall(both) == [amd_section[0], SECTION.findall(both)[1]]
        assert SECTION.findall(both)[1][0] == "intel"
        assert "- `#[timed]` ≤ 3 ns over the clock pair: besides its two clock reads" in both
        assert os.path.exists(os.path.join(tmp, "docs", "peers-intel.svg"))
        args.facts = [("CPU", "AMD EPYC 9B14")]
        args.provisional = False
        generate(args)
        with open(args.markdown) as f:
            again = f.read()
        assert [kind for kind, _ in SECTION.findall(again)] == ["amd", "intel"], again
        assert SECTION.findall(again)[1] == SECTION.findall(both)[1]
        assert "Provisional" not in SECTION.findall(again)[0][1]
        # A file without its last newline, or with CRLF line ends, keeps its
        # runs; one whose runs cannot be told apart is left alone.
        for variant in (again.rstrip("\n"), again.replace("\n", "\r\n")):
            assert [kind for kind, _ in SECTION.findall(merge(variant, "apple", "x\n"))] \
                == ["amd", "apple", "intel"]
        for broken in ("# Benchmarks\n\nOne run, before there were sections.\n",
                       again.replace("<!-- end of run: intel -->", ""),
                       again + "\nA line after the runs.\n"):
            try:
                merge(broken, "amd", "x\n")
            except Malformed:
                pass
            else:
                raise AssertionError(f"merged a malformed file: {broken!r}")

        # A CPU without the clock_store bench, whose limit came out past 2×:
        # its texts name no figure the run lacks.
        for name, _ in CLOCK_STORE_CASES:
            os.remove(os.path.join(criterion, "clock_store", name, "new", "estimates.json"))
        shutil.rmtree(os.path.join(criterion, "contention", "own_padded_cell", "2"))
        fake("contention/own_padded_cell/2", 0.9, 2)
        args.facts = [("CPU", "Apple M2")]
        generate(args)
        with open(args.markdown) as f:
            apple = dict(SECTION.findall(f.read()))["apple"]
        assert "clock_store" not in apple.split("### Contention")[0], apple
        notes = apple.split("Why, where")[1].split("###")[0]
        assert not re.search(r"\{\w+\}|\?", notes), notes
        assert "more than twice one thread, which no real scaling gives" in notes, notes
        os.remove(os.path.join(criterion, "peers", "timed", "new", "estimates.json"))
        try:
            report(read_results(criterion), {}, "", False, None, [], "peers.svg")
        except Missing:
            pass
        else:
            raise AssertionError("a missing result must fail the report")
    print("bench_report self-test: 1 passed, 0 failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", help="criterion output directory of the run")
    parser.add_argument("--log", help="standard output of the benches")
    parser.add_argument("--command", default="scripts/bench", help="the command, as shown")
    parser.add_argument("--provisional", action="store_true",
                        help="mark the figures as provisional (short or noisy run)")
    parser.add_argument("--loadavg", help="load average when the run started")
    parser.add_argument("--started", help="when the run started (default: now)")
    parser.add_argument("--commit", help="the commit the benches ran at (default: the "
                        "checkout's HEAD), to write the report of a kept run again on the "
                        "machine it ran on: every other fact (CPU, OS, Rust) is read from "
                        "this machine, so give --started and --loadavg of the run too")
    parser.add_argument("--markdown", default="BENCHMARKS.md")
    parser.add_argument("--charts", default="docs",
                        help="where the chart goes, as peers-<kind of CPU>.svg")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    if not args.criterion:
        parser.error("--criterion is required")
    generate(args)


if __name__ == "__main__":
    main()
