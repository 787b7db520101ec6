#!/usr/bin/env python3
"""What the otlp_push example sends, checked with the official OpenTelemetry
protocol definitions (PyPI's `opentelemetry-proto`) and protobuf's own JSON
parser, independently of the library's Rust code:

1. starts an OTLP/HTTP receiver on 127.0.0.1 that decodes every export with
   `ExportMetricsServiceRequest.FromString` (protobuf) or
   `google.protobuf.json_format.Parse` (JSON, which rejects unknown fields),
2. runs the example against it in four configurations (protobuf and JSON,
   explicit and exponential histograms, with and without gzip), configured by
   the standard OTEL_* variables,
3. checks the JSON is canonical proto3 JSON (equal to protobuf's own
   rendering of the parsed message: lowerCamelCase keys, enums as integers,
   64-bit integers as strings), and that the last export equals the final
   snapshot the example prints: every count, every bucket, sum and count of
   each histogram, bounds strictly increasing, len(bucketCounts) ==
   len(explicitBounds) + 1, exponential buckets that reproduce the snapshot's
   quantiles within 2 %.

Usage: scripts/otlp-check.py PATH_TO_otlp_push_BINARY
Exit status 0 when every check holds; the first failure is printed.
"""

import gzip
import json
import math
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as service

LATENCY_BOUNDS_NS = [
    m * 10**e for e in range(2, 10) for m in (1, 2.5, 5)
] + [10 * 10**9]
RESULTS = {"ok": "ok", "err": "err", "panic": "panics", "cancelled": "cancelled"}
EXAMPLE_TIMEOUT = 120  # seconds


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Receiver(BaseHTTPRequestHandler):
    """Decodes each POST with the official definitions and answers like a
    collector: an empty ExportMetricsServiceResponse in the request's encoding."""

    received = []  # (content_type, raw JSON text or None, message)
    sizes = []  # bytes on the wire of each export

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        Receiver.sizes.append(length)
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        content_type = self.headers.get("content-type")
        request = service.ExportMetricsServiceRequest()
        try:
            if content_type == "application/x-protobuf":
                request.ParseFromString(body)
                text = None
                answer = service.ExportMetricsServiceResponse().SerializeToString()
            elif content_type == "application/json":
                text = body.decode("utf-8")
                json_format.Parse(text, request)  # unknown fields are errors
                answer = b"{}"
            else:
                raise ValueError(f"content-type {content_type!r}")
        except Exception as error:  # recorded, and answered as a collector would
            Receiver.received.append((content_type, None, error))
            self.send_response(400)
            self.end_headers()
            return
        Receiver.received.append((content_type, text, request))
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def strip_defaults(value):
    """A JSON value without proto3 default values (empty, zero, false, null),
    which a writer may include or omit."""
    if isinstance(value, dict):
        stripped = {k: strip_defaults(v) for k, v in value.items()}
        return {
            k: v for k, v in stripped.items()
            if v not in ("", 0, "0", False, None, [], {})
        }
    if isinstance(value, list):
        return [strip_defaults(v) for v in value]
    return value


def check_canonical_json(text, request):
    ours = strip_defaults(json.loads(text))
    canonical = strip_defaults(json_format.MessageToDict(
        request, use_integers_for_enums=True, preserving_proto_field_name=False))
    check(ours == canonical,
          "the JSON differs from canonical proto3 JSON:\n"
          f"ours:      {json.dumps(ours)[:2000]}\ncanonical: {json.dumps(canonical)[:2000]}")


def attributes(message):
    return {kv.key: kv.value.string_value for kv in message.attributes}


def points_by_function(metric, kind):
    data = getattr(metric, kind)
    return data, [(attributes(p), p) for p in data.data_points]


def check_export(request, snapshot, exponential):
    check(len(request.resource_metrics) == 1, "one resource")
    resource = request.resource_metrics[0]
    attrs = attributes(resource.resource)
    check(attrs.get("service.name") == snapshot["app"]["name"], f"service.name: {attrs}")
    check(attrs.get("service.version") == snapshot["app"]["version"], f"service.version: {attrs}")
    check(attrs.get("service.instance.id") == snapshot["instance_id"], f"instance id: {attrs}")
    check(attrs.get("telemetry.sdk.language") == "rust", f"sdk: {attrs}")
    metrics = {m.name: m for m in resource.scope_metrics[0].metrics}
    called = {name: f for name, f in snapshot["functions"].items() if f["calls"] > 0}
    check(len(called) >= 2, f"the example calls fns: {list(snapshot['functions'])}")

    calls, points = points_by_function(metrics["telemetry.calls"], "sum")
    check(calls.is_monotonic, "telemetry.calls is monotonic")
    check(calls.aggregation_temporality == 2, "cumulative")
    seen = {(a["function"], a["result"]): p.as_int for a, p in points}
    check({f for f, _ in seen} == set(called), f"fns with points: {sorted({f for f, _ in seen})}")
    for name, stats in called.items():
        for result, field in RESULTS.items():
            check(seen[(name, result)] == stats[field],
                  f"{name} {result}: {seen[(name, result)]} != {stats[field]}")

    in_flight, points = points_by_function(metrics["telemetry.calls.in_flight"], "sum")
    check(not in_flight.is_monotonic, "in flight is not monotonic")
    for a, p in points:
        check(p.as_int == called[a["function"]]["in_flight"], f"in flight of {a}")

    duration = metrics["telemetry.call.duration"]
    check(duration.unit == "s", "seconds")
    timed = {n: s["latency_ns"] for n, s in called.items() if "latency_ns" in s}
    check(timed, "a timed fn")
    kind = "exponential_histogram" if exponential else "histogram"
    check(duration.WhichOneof("data") == kind, f"{kind}, not {duration.WhichOneof('data')}")
    _, points = points_by_function(duration, kind)
    check({a["function"] for a, _ in points} == set(timed), "a histogram per timed fn")
    for a, p in points:
        latency = timed[a["function"]]
        check(p.count == latency["count"], f"count of {a}")
        check(math.isclose(p.sum, latency["sum"] / 1e9, rel_tol=1e-12), f"sum of {a}")
        check(p.start_time_unix_nano <= p.time_unix_nano, "start before time")
        # The last export's snapshot was taken just before the printed one.
        check(p.time_unix_nano <= snapshot["taken_at_unix_ms"] * 10**6, "a snapshot's time")
        if exponential:
            check_exponential(p, latency)
        else:
            check_explicit(p, latency)


def check_explicit(point, latency):
    bounds = list(point.explicit_bounds)
    check(bounds == [b / 1e9 for b in LATENCY_BOUNDS_NS], f"bounds {bounds}")
    check(all(a < b for a, b in zip(bounds, bounds[1:])), "bounds strictly increasing")
    counts = list(point.bucket_counts)
    check(len(counts) == len(bounds) + 1, "len(bucketCounts) == len(explicitBounds) + 1")
    check(sum(counts) == point.count, "buckets add up to count")
    expected = [0] * (len(bounds) + 1)
    for upper_ns, n in latency["buckets"]:
        at = next((i for i, b in enumerate(LATENCY_BOUNDS_NS) if upper_ns <= b), len(bounds))
        expected[at] += n
    check(counts == expected, f"buckets {counts} != {expected}")


def check_exponential(point, latency):
    check(point.scale == 6, f"scale {point.scale}")
    counts = list(point.positive.bucket_counts)
    check(point.zero_count + sum(counts) == point.count, "buckets add up to count")
    base = 2 ** (2 ** -point.scale)
    for q, key in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")]:
        rank = max(1, math.ceil(q * point.count))
        seen = point.zero_count
        value = 0.0
        if seen < rank:
            for i, n in enumerate(counts):
                seen += n
                if seen >= rank:
                    value = base ** (point.positive.offset + i + 0.5)
                    break
        expected = latency[key] / 1e9
        check(abs(value / expected - 1) <= 0.02, f"{key}: {value} vs {expected}")


def run(example, port, protocol, exponential, compression):
    Receiver.received = []
    Receiver.sizes = []
    env = dict(os.environ)
    env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
    })
    args = [example, "3"] + (["--exponential"] if exponential else [])
    done = subprocess.run(args, env=env, capture_output=True, text=True,
                          timeout=EXAMPLE_TIMEOUT)
    check(done.returncode == 0, f"the example failed:\n{done.stderr}")
    snapshot = json.loads(done.stdout.strip().splitlines()[-1])
    check(len(Receiver.received) >= 2, f"{len(Receiver.received)} export(s): "
          "expected periodic ones and the last one")
    for content_type, text, request in Receiver.received:
        check(not isinstance(request, Exception), f"an export did not parse: {request}")
        check(content_type == ("application/json" if protocol == "http/json"
                               else "application/x-protobuf"), content_type)
        if text is not None:
            check_canonical_json(text, request)
    check_export(Receiver.received[-1][2], snapshot, exponential)
    return len(Receiver.received)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    example = sys.argv[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        for protocol, exponential, compression in [
            ("http/protobuf", False, "none"),
            ("http/json", False, "gzip"),
            ("http/protobuf", True, "gzip"),
            ("http/json", True, "none"),
        ]:
            exports = run(example, port, protocol, exponential, compression)
            kind = "exponential" if exponential else "explicit"
            print(f"    {protocol}, {kind} histograms, compression {compression}: "
                  f"{exports} exports parsed, the last ({Receiver.sizes[-1]} bytes) "
                  "equal to the snapshot")
    except (Failure, subprocess.TimeoutExpired) as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
