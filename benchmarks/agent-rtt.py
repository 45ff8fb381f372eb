#!/usr/bin/env python3
"""Snapshot round trip through an mbvipc-agent, as the tool sees it on the agent's pipe.

    benchmarks/agent-rtt.py SERVICE COUNT AGENT-COMMAND...

Starts AGENT-COMMAND (its stdin/stdout are the protocol stream), says HELLO (versions 1..2),
takes one whole SNAPSHOT of SERVICE, then COUNT more (deltas) one after another, and prints
the median, p90 and max round trip of each kind in milliseconds. The frames are those of
docs/agent-protocol.md: a 16-byte header (magic "MBVA", version, type, length, reserved).
"""
import struct
import subprocess
import sys
import time

MAGIC, HELLO, SNAPSHOT, ERROR = 0x4156424D, 0x01, 0x03, 0xFF


def frame(kind, payload=b"", version=2):
    return struct.pack("<IHHII", MAGIC, version, kind, len(payload), 0) + payload


def read_exact(stream, n):
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            sys.exit(f"the agent's output ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def answer(proc):
    magic, _, kind, length, _ = struct.unpack("<IHHII", read_exact(proc.stdout, 16))
    if magic != MAGIC:
        sys.exit(f"not the agent protocol (magic 0x{magic:x})")
    payload = read_exact(proc.stdout, length)
    if kind == ERROR:
        code, n = struct.unpack("<IH", payload[:6])
        sys.exit(f"agent error {code}: {payload[6:6 + n].decode(errors='replace')}")
    return kind, payload


def snapshot_request(service, full):
    name = service.encode()
    return frame(SNAPSHOT, struct.pack("<H", len(name)) + name + struct.pack("<I", 1 if full else 0))


def summary(label, samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1e3
    print(f"{label}: {len(s)} snapshots, median {pick(0.5):.3f} ms, p90 {pick(0.9):.3f} ms, max {s[-1] * 1e3:.3f} ms")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    service, count, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    try:
        proc.stdin.write(frame(HELLO, struct.pack("<HH", 1, 2)))
        answer(proc)
        full, delta = [], []
        for i in range(count + 5):
            want_full = i < 5  # a few whole snapshots, then deltas
            start = time.perf_counter()
            proc.stdin.write(snapshot_request(service, want_full))
            answer(proc)
            (full if want_full else delta).append(time.perf_counter() - start)
        summary("full ", full)
        summary("delta", delta)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
