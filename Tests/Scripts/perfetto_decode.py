#!/usr/bin/env python3
"""Decodes a Perfetto trace with Perfetto's own protos (the `perfetto` package from PyPI ships
them as python bindings: perfetto.protos.perfetto.trace.perfetto_trace_pb2) and prints what it
holds as one JSON object: tracks, slices (begin and end paired per track), flows, instants.

Fails (exit 1, one line on stderr) on anything a consumer would trip over: bytes the protos
cannot parse, a field the protos do not know (a wrong field number or wire type), an end with
no begin, a slice left open, a track event on a track no descriptor declared, a packet without
a sequence id, or a timestamp in a clock other than the trace's.

Usage: perfetto_decode.py TRACE
"""
import json
import sys

try:
    from google.protobuf import unknown_fields
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb
except ImportError as e:  # the caller installs it: pip install perfetto
    print(f"needs the perfetto package from PyPI (pip install perfetto): {e}", file=sys.stderr)
    sys.exit(2)


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def check_known(msg, path):
    """Every field of msg and of the messages in it is one the protos define."""
    unknown = unknown_fields.UnknownFieldSet(msg)
    if len(unknown) > 0:
        fail(f"{path}: field number {unknown[0].field_number} (wire type {unknown[0].wire_type}) is not in the protos")
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        items = value if field.is_repeated else [value]
        for i, item in enumerate(items):
            check_known(item, f"{path}.{field.name}[{i}]")


def annotation(a):
    kind = a.WhichOneof("value")
    return a.name, getattr(a, kind) if kind else None


def main():
    if len(sys.argv) != 2:
        fail("usage: perfetto_decode.py TRACE")
    trace = pb.Trace()
    try:
        trace.ParseFromString(open(sys.argv[1], "rb").read())
    except Exception as e:
        fail(f"not a Perfetto trace: {e}")
    check_known(trace, "trace")

    clock = None
    tracks, slices, instants, open_slices = {}, [], [], {}
    flows_out, flows_in = {}, {}
    for i, p in enumerate(trace.packet):
        if not p.HasField("trusted_packet_sequence_id"):
            fail(f"packet {i} has no trusted_packet_sequence_id")
        if p.HasField("clock_snapshot"):
            clock = {
                "primary": pb.BuiltinClock.Name(p.clock_snapshot.primary_trace_clock),
                "clocks": [c.clock_id for c in p.clock_snapshot.clocks],
                "incremental_state_cleared": p.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED != 0,
            }
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            t = {"uuid": d.uuid, "name": d.name, "parent": d.parent_uuid if d.HasField("parent_uuid") else None}
            if d.HasField("process"):
                t.update(kind="process", pid=d.process.pid, name=d.process.process_name)
            elif d.HasField("thread"):
                t.update(kind="thread", pid=d.thread.pid, tid=d.thread.tid, name=d.thread.thread_name)
            else:
                t["kind"] = "named"
            if t["parent"] is not None and t["parent"] not in tracks:
                fail(f"track {d.uuid} names parent {t['parent']}, declared nowhere before it")
            tracks[d.uuid] = t
        if p.HasField("track_event"):
            e = p.track_event
            if clock is None or p.timestamp_clock_id != pb.BUILTIN_CLOCK_MONOTONIC or clock["primary"] != "BUILTIN_CLOCK_MONOTONIC":
                fail(f"packet {i}: event timestamp in clock {p.timestamp_clock_id}, not the trace's clock")
            if e.track_uuid not in tracks:
                fail(f"packet {i}: event on track {e.track_uuid}, which no descriptor declared")
            stack = open_slices.setdefault(e.track_uuid, [])
            if e.type == pb.TrackEvent.TYPE_SLICE_BEGIN:
                s = {"track": e.track_uuid, "ts": p.timestamp, "name": e.name, "categories": list(e.categories),
                     "args": dict(annotation(a) for a in e.debug_annotations),
                     "flow_ids": list(e.flow_ids), "terminating_flow_ids": list(e.terminating_flow_ids)}
                stack.append(s)
                for f in e.flow_ids:
                    flows_out[f] = s
                for f in e.terminating_flow_ids:
                    flows_in[f] = s
            elif e.type == pb.TrackEvent.TYPE_SLICE_END:
                if not stack:
                    fail(f"packet {i}: a slice end on track {e.track_uuid} with no slice open")
                s = stack.pop()
                s["dur"] = p.timestamp - s["ts"]
                if s["dur"] < 0:
                    fail(f"packet {i}: slice '{s['name']}' ends before it begins")
                slices.append(s)
            elif e.type == pb.TrackEvent.TYPE_INSTANT:
                instants.append({"track": e.track_uuid, "ts": p.timestamp, "name": e.name,
                                 "args": dict(annotation(a) for a in e.debug_annotations)})
            else:
                fail(f"packet {i}: unexpected track event type {e.type}")
    for uuid, stack in open_slices.items():
        if stack:
            fail(f"track {uuid}: slice '{stack[-1]['name']}' never ends")
    flows = []
    for f, src in flows_out.items():
        dst = flows_in.get(f)
        if dst is None:
            fail(f"flow {f} leaves '{src['name']}' and ends nowhere")
        flows.append({"id": f, "from_track": src["track"], "from_ts": src["ts"], "to_track": dst["track"], "to_ts": dst["ts"]})
    if set(flows_in) - set(flows_out):
        fail(f"flows {sorted(set(flows_in) - set(flows_out))} end but never start")
    json.dump({"packets": len(trace.packet), "clock": clock, "tracks": list(tracks.values()), "slices": slices,
               "instants": instants, "flows": flows}, sys.stdout)


main()
