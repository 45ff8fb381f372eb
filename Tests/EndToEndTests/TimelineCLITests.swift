// `ipcscope timeline`: real calls from concurrent clients, a server killed and taken over,
// recorded with `ipcscope record`, converted, and read back by real consumers: the Perfetto
// trace through Perfetto's own protos (Tests/Scripts/perfetto_decode.py, the `perfetto` package
// from PyPI), the JSON by its documented trace-event fields. Every expected value comes from
// the recording itself (PcapNG.read), never hard-coded.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeObserve
import IPCScopeRecording
import Testing
import TestSupport

let perfettoDecoder = repositoryRoot + "/Tests/Scripts/perfetto_decode.py"

/// A recording of real calls: two clients at once (function 2, 30 ms each, and function 1), a
/// status-4 call, then the server killed and taken over (epoch 2) and two more calls.
func recordTimelineCalls(_ scope: TestScope) throws -> (file: String, recording: Recording) {
    let name = scope.serviceName("tl")
    let first = scope.startScriptedServer(name, script: latencyScript)
    #expect(first.stdout.contains("serving"), "\(first.stderr)")
    let file = scope.directory + "/calls.pcapng"
    let recorder = scope.startRecorder(name, file, ["--count", "17"])
    let slow = scope.spawn(ipcscopePath, ["call", name, "-f", "2", "--text", "slow", "--repeat", "4", "--quiet"])
    let fast = scope.spawn(ipcscopePath, ["call", name, "-f", "1", "--text", "fast", "--repeat", "10", "--quiet"])
    #expect(slow.wait(timeout: 20) == 0 && fast.wait(timeout: 20) == 0, "\(slow.stderr)\(fast.stderr)")
    _ = scope.ipcscope(["call", name, "-f", "3", "--text", "no"])
    first.signal(SIGKILL)
    first.wait(timeout: 5)
    let second = scope.startScriptedServer(name, script: latencyScript)
    #expect(second.stdout.contains("took over") || second.stdout.contains("serving"), "\(second.stdout)\(second.stderr)")
    #expect(scope.ipcscope(["call", name, "-f", "1", "--text", "after", "--repeat", "2", "--quiet"]).exitStatus == 0)
    #expect(recorder.wait(timeout: 20) == 0, "\(recorder.stderr)")
    let recording = try PcapNG.read(readBytes(file))
    try #require(recording.calls.count == 17, "\(recorder.stdout)")
    return (file, recording)
}

/// When the server could start `call`: the later of its send and its epoch's previous answer.
func serverStart(_ call: RecordedCall, in r: Recording) -> UInt64 {
    let prev = r.calls.first { $0.epoch == call.epoch && $0.seq + 1 == call.seq }
    return min(call.doneNS, max(call.sentNS, prev?.doneNS ?? 0))
}

/// The slice name the timeline gives `call`.
func sliceName(_ call: RecordedCall) -> String {
    var n = [1: "echo", 2: "slow"][Int(call.function)] ?? "fn \(call.function)"
    if call.status != 0 { n += " (status \(call.status))" }
    if call.partial { n += " [partial]" }
    return n
}

@Suite(.serialized) struct TimelineCLITests {
    @Test func perfettoTraceReadBackByPerfettosProtos() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let probe = scope.run("/usr/bin/env", ["python3", "-c", "import perfetto.protos.perfetto.trace.perfetto_trace_pb2"])
        try #require(probe.exitStatus == 0, "needs python3 with the perfetto package (pip install perfetto; .ci/run installs it): \(probe.stderr)")
        let (file, r) = try recordTimelineCalls(scope)
        let schema = scope.file("lat.yaml", latencyCLISchema)
        let trace = scope.directory + "/calls.perfetto-trace"
        let convert = scope.ipcscope(["timeline", file, "-o", trace, "--schema", schema])
        #expect(convert.exitStatus == 0, "\(convert.stderr)")
        let pids = Set(r.calls.map(\.clientPID))
        #expect(convert.stderr.contains("wrote 17 calls of \(pids.count) client processes"), "\(convert.stderr)")
        #expect(convert.stderr.contains("1 takeover"), "\(convert.stderr)")

        let decoded = scope.run("/usr/bin/env", ["python3", perfettoDecoder, trace], timeout: 60)
        #expect(decoded.exitStatus == 0, "the protos refuse it: \(decoded.stderr)")
        let o = try #require(jsonObject(decoded.stdout), "\(decoded.stdout)")
        let clock = try #require(o["clock"] as? [String: Any])
        #expect(clock["primary"] as? String == "BUILTIN_CLOCK_MONOTONIC" && clock["incremental_state_cleared"] as? Bool == true)

        // Tracks: the server, a process per client pid, a thread per recorded tid under it.
        let tracks = try #require(o["tracks"] as? [[String: Any]])
        let byUUID = Dictionary(uniqueKeysWithValues: tracks.map { (int($0["uuid"]) ?? -1, $0) })
        let server = tracks.filter { $0["name"] as? String == "server: \(r.service ?? "")" }
        try #require(server.count == 1, "\(tracks)")
        let serverUUID = int(server[0]["uuid"])
        #expect(Set(tracks.filter { $0["kind"] as? String == "process" }.compactMap { int($0["pid"]) }) == Set(pids.map(Int.init)))
        let threads = Set(r.calls.filter { $0.clientTID != 0 }.map { "\($0.clientPID)/\($0.clientTID)" })
        #expect(Set(tracks.filter { $0["kind"] as? String == "thread" }.map { "\(int($0["pid"]) ?? 0)/\(int($0["tid"]) ?? 0)" }) == threads)
        for t in tracks where t["kind"] as? String == "thread" {
            #expect(int(byUUID[int(t["parent"]) ?? -1]?["pid"]) == int(t["pid"]), "a thread sits under its process: \(t)")
        }

        // Two slices per call: the client's (send to answer) and the server's (start to answer).
        let slices = try #require(o["slices"] as? [[String: Any]])
        #expect(slices.count == 2 * r.calls.count)
        func args(_ s: [String: Any]) -> [String: Any] { s["args"] as? [String: Any] ?? [:] }
        for c in r.calls {
            let mine = slices.filter { int(args($0)["seq"]) == Int(c.seq) && int(args($0)["epoch"]) == Int(c.epoch) }
            try #require(mine.count == 2, "seq \(c.seq) epoch \(c.epoch): \(mine)")
            let client = try #require(mine.first { int($0["track"]) != serverUUID })
            let srv = try #require(mine.first { int($0["track"]) == serverUUID })
            let track = byUUID[int(client["track"]) ?? -1] ?? [:]
            let owner = track["kind"] as? String == "thread" ? track : byUUID[int(track["parent"]) ?? -1] ?? [:]
            #expect(int(owner["pid"]) == Int(c.clientPID), "seq \(c.seq) on its client's track")
            if c.clientTID != 0 { #expect(int(track["tid"]) == Int(c.clientTID)) } else { #expect(track["name"] as? String == "thread not recorded") }
            #expect(int(client["ts"]) == Int(c.sentNS) && int(client["dur"]) == Int(c.doneNS - c.sentNS), "seq \(c.seq)")
            let start = serverStart(c, in: r)
            #expect(int(srv["ts"]) == Int(start) && int(srv["dur"]) == Int(c.doneNS - start), "seq \(c.seq)")
            for s in mine {
                #expect(s["name"] as? String == sliceName(c), "\(s)")
                #expect(int(args(s)["status"]) == Int(c.status) && int(args(s)["function"]) == Int(c.function))
                #expect(args(s)["partial"] as? Bool == c.partial && args(s)["rejected"] as? Bool == c.flags.contains(.rejected))
                #expect(((s["categories"] as? [String]) ?? []).contains("partial") == c.partial)
            }
        }
        // The server answers one call at a time: its slices never overlap.
        let serverSlices = slices.filter { int($0["track"]) == serverUUID }.sorted { (int($0["ts"]) ?? 0) < (int($1["ts"]) ?? 0) }
        for (a, b) in zip(serverSlices, serverSlices.dropFirst()) where int(args(a)["epoch"]) == int(args(b)["epoch"]) {
            #expect((int(a["ts"]) ?? 0) + (int(a["dur"]) ?? 0) <= int(b["ts"]) ?? 0, "\(a) overlaps \(b)")
        }
        // A flow arrow per call, from the client's slice to the server's.
        let flows = try #require(o["flows"] as? [[String: Any]])
        #expect(flows.count == r.calls.count)
        #expect(flows.allSatisfy { int($0["to_track"]) == serverUUID && int($0["from_track"]) != serverUUID })
        // The takeover, at the new server's first call.
        let instants = try #require(o["instants"] as? [[String: Any]])
        let firstOfTwo = try #require(r.calls.filter { $0.epoch == 2 }.map(\.sentNS).min())
        #expect(instants.count == 1 && instants.first?["name"] as? String == "takeover: epoch 1 → 2" && int(instants.first?["ts"]) == Int(firstOfTwo))

        // The decoder is a real check: a trace with a field the protos do not know is refused.
        var bad = readBytes(trace)
        bad += [0x0a, 0x05, 0x80, 0x7d, 0x05, 0x50, 0x01]  // a packet with field 2000 and a sequence id
        writeBytes(trace + ".bad", bad)
        let refused = scope.run("/usr/bin/env", ["python3", perfettoDecoder, trace + ".bad"], timeout: 60)
        #expect(refused.exitStatus == 1 && refused.stderr.contains("field number 2000"), "\(refused.stderr)")
    }

    @Test func chromeJSONHasTheDocumentedFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (file, r) = try recordTimelineCalls(scope)
        let out = scope.ipcscope(["timeline", file, "--format", "json", "-o", "-"])
        #expect(out.exitStatus == 0, "\(out.stderr)")
        let o = try #require(jsonObject(out.stdout), "\(out.stdout.prefix(300))")
        #expect(o["displayTimeUnit"] as? String == "ns")
        let events = try #require(o["traceEvents"] as? [[String: Any]])
        func ns(_ v: Any?) -> Int64 { Int64((((v as? NSNumber)?.doubleValue ?? -1) * 1000).rounded()) }
        let complete = events.filter { $0["ph"] as? String == "X" }
        #expect(complete.count == 2 * r.calls.count)
        for e in complete {
            #expect(e["name"] is String && e["ts"] is NSNumber && e["dur"] is NSNumber && e["pid"] is NSNumber && e["tid"] is NSNumber
                    && e["args"] is [String: Any], "\(e)")
        }
        for c in r.calls {
            let mine = complete.filter { int(($0["args"] as? [String: Any])?["seq"]) == Int(c.seq) && int(($0["args"] as? [String: Any])?["epoch"]) == Int(c.epoch) }
            let client = try #require(mine.first { int($0["pid"]) == Int(c.clientPID) }, "seq \(c.seq)")
            let srv = try #require(mine.first { int($0["pid"]) == 0 }, "seq \(c.seq)")
            #expect(int(client["tid"]) == Int(c.clientTID))
            #expect(abs(ns(client["ts"]) - Int64(c.sentNS)) <= 1 && abs(ns(client["dur"]) - Int64(c.doneNS - c.sentNS)) <= 1, "\(client)")
            let start = serverStart(c, in: r)
            #expect(abs(ns(srv["ts"]) - Int64(start)) <= 1 && abs(ns(srv["dur"]) - Int64(c.doneNS - start)) <= 1, "\(srv)")
            #expect(client["name"] as? String == sliceName(c).replacing("echo", with: "fn 1").replacing("slow", with: "fn 2"))
        }
        // Flows: an s in the client's slice and an f bound to the server's (bp e), paired by id.
        let starts = events.filter { $0["ph"] as? String == "s" }, ends = events.filter { $0["ph"] as? String == "f" }
        #expect(starts.count == r.calls.count && ends.count == r.calls.count)
        #expect(Set(starts.compactMap { int($0["id"]) }) == Set(ends.compactMap { int($0["id"]) }))
        #expect(ends.allSatisfy { $0["bp"] as? String == "e" && int($0["pid"]) == 0 })
        // Names for every process and thread; the takeover as an instant event.
        let names = events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == "process_name" }.compactMap { int($0["pid"]) }
        #expect(Set(names) == Set(r.calls.map { Int($0.clientPID) }).union([0]))
        let instants = events.filter { $0["ph"] as? String == "i" }
        #expect(instants.count == 1 && (instants.first?["name"] as? String)?.hasPrefix("takeover: epoch 1") == true)

        // Bad input: one line saying what is wrong.
        let missing = scope.ipcscope(["timeline", scope.directory + "/nope.pcapng", "-o", scope.directory + "/x"])
        #expect(missing.exitStatus == 1 && missing.stderr.contains("cannot read") && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        let format = scope.ipcscope(["timeline", file, "--format", "svg", "-o", scope.directory + "/x"])
        #expect(format.exitStatus == 64)
    }
}
