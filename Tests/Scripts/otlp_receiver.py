#!/usr/bin/env python3
"""An OTLP/HTTP receiver for the exporter's tests.

Listens on 127.0.0.1 (a free port; it prints "listening PORT"), accepts POST /v1/metrics and
/v1/traces in the OTLP/HTTP encodings (application/json and application/x-protobuf), and checks
every body against the real schema: JSON is parsed into opentelemetry-proto's protobuf classes by
google.protobuf.json_format.Parse (unknown fields refused), after turning the hex trace and span
ids OTLP/JSON uses into the base64 the protobuf JSON mapping expects. Each request accepted is
appended to --out as one JSON line {"signal": ..., "request": MessageToDict(...)}, each refused one
as {"signal": "error", "message": ...} (and answered 400).

--fail-first N answers 503 to the first N requests (to see the sender retry).
"""
import argparse
import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest, ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

SIGNALS = {
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/traces": ("traces", ExportTraceServiceRequest, ExportTraceServiceResponse),
}
ID_LENGTHS = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


def hex_ids_to_base64(node):
    """OTLP/JSON writes trace and span ids as hex; the protobuf JSON mapping reads bytes as base64."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in ID_LENGTHS and isinstance(value, str):
                raw = bytes.fromhex(value)  # ValueError when not hex
                if value and len(raw) != ID_LENGTHS[key]:
                    raise ValueError(f"{key} {value!r} is {len(raw)} bytes, not {ID_LENGTHS[key]}")
                if value and not any(raw):
                    raise ValueError(f"{key} is all zero (an invalid id)")
                node[key] = base64.b64encode(raw).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


class Receiver(BaseHTTPRequestHandler):
    lock = threading.Lock()
    out = None
    fail_first = 0
    seen = 0

    def log_message(self, *args):
        pass

    def record(self, line):
        with Receiver.lock:
            with open(Receiver.out, "a") as f:
                f.write(json.dumps(line) + "\n")

    def answer(self, code, body=b"", content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with Receiver.lock:
            Receiver.seen += 1
            failing = Receiver.seen <= Receiver.fail_first
        if failing:
            self.record({"signal": "refused", "path": self.path})
            return self.answer(503, b'{"message": "failing on purpose"}')
        if self.path not in SIGNALS:
            self.record({"signal": "error", "message": f"POST to {self.path}"})
            return self.answer(404)
        signal, request_type, response_type = SIGNALS[self.path]
        content_type = self.headers.get("Content-Type", "")
        request = request_type()
        try:
            if content_type.startswith("application/json"):
                document = json.loads(body)
                hex_ids_to_base64(document)
                json_format.Parse(json.dumps(document), request, ignore_unknown_fields=False)
            elif content_type.startswith("application/x-protobuf"):
                request.ParseFromString(body)
            else:
                raise ValueError(f"Content-Type {content_type!r}")
        except Exception as e:  # noqa: BLE001 - every failure is the sender's fault and is reported
            self.record({"signal": "error", "message": f"{signal}: {type(e).__name__}: {e}"})
            return self.answer(400, json.dumps({"message": str(e)}).encode())
        self.record({"signal": signal, "request": json_format.MessageToDict(request)})
        if content_type.startswith("application/json"):
            self.answer(200, json_format.MessageToJson(response_type()).encode())
        else:
            self.answer(200, response_type().SerializeToString(), "application/x-protobuf")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    Receiver.out = args.out
    Receiver.fail_first = args.fail_first
    open(args.out, "w").close()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Receiver)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
