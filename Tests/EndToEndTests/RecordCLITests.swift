// `ipcscope record` and `ipcscope replay` with real processes: a scripted server with known
// calls, the file checked field by field with tshark and the shipped Lua dissector, replay
// against the same and a changed script, four clients back to back, server death and takeover.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import Testing
import TestSupport

let dissectorPath = repositoryRoot + "/docs/wireshark/ipcscope.lua"

/// The replies of the recorded server. Unmatched calls answer -3.
let recordScript = """
    rules:
      - match: { function: 1, text: "ping" }
        reply: { status: 0, text: "pong" }
      - match: { function: 2 }
        reply: { status: 0, echo: true }
      - match: { function: 3 }
        reply: { status: 7, hex: "00 ff 10 80" }
      - match: { function: 8 }
        reply: { status: 5, text: "late" }
        delay_ms: 600
    """

extension TestScope {
    /// Runs tshark with the shipped dissector (two passes, so requests link to responses) and
    /// returns one array of fields per frame.
    func tshark(_ file: String, filter: String? = nil, fields: [String]) -> (rows: [[String]], process: ChildProcess) {
        var args = ["-2", "-X", "lua_script:" + dissectorPath, "-r", file, "-T", "fields", "-E", "separator=|"]
        if let filter { args += ["-Y", filter] }
        for f in fields { args += ["-e", f] }
        let p = run("/usr/bin/tshark", args, timeout: 60)
        let rows = p.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        return (rows, p)
    }

    /// Starts `ipcscope record NAME -w FILE extra...` and waits until it follows the section.
    func startRecorder(_ name: String, _ file: String, _ extra: [String] = []) -> ChildProcess {
        let r = spawn(ipcscopePath, ["record", name, "-w", file] + extra)
        _ = r.waitForOutput("recording '\(name)'", timeout: 10)
        return r
    }
}

func hexString(_ bytes: [UInt8]) -> String { bytes.map { HexDump.hex2($0) }.joined() }

@Suite(.serialized) struct RecordCLITests {
    @Test func everyFieldOfKnownCallsInTsharkThenReplay() throws {
        try #require(access("/usr/bin/tshark", X_OK) == 0, "tshark is needed: apt-get install -y tshark")
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rec")
        let server = scope.startScriptedServer(name, script: recordScript, extra: ["--request-capacity", "64", "--response-capacity", "64"])
        #expect(server.stdout.contains("serving"), "\(server.stderr)")
        let file = scope.directory + "/calls.pcapng"
        let recorder = scope.startRecorder(name, file, ["--count", "6"])

        let full = (0..<64).map { UInt8($0 * 3 & 0xff) }
        let calls: [(args: [String], function: Int, status: Int, request: [UInt8], response: [UInt8])] = [
            (["-f", "1", "--text", "ping"], 1, 0, Array("ping".utf8), Array("pong".utf8)),
            (["-f", "2", "--hex", "00 01 02 ff"], 2, 0, [0, 1, 2, 0xff], [0, 1, 2, 0xff]),
            (["-f", "3"], 3, 7, [], [0x00, 0xff, 0x10, 0x80]),
            (["-f", "2", "--hex", hexString(full)], 2, 0, full, full),
            (["-f", "9", "--text", "nobody"], 9, -3, Array("nobody".utf8), []),
        ]
        var pids: [Int32] = []
        for c in calls {
            let p = scope.ipcscope(["call", name] + c.args, timeout: 15)
            #expect(p.exitStatus == 0, "\(c.args): \(p.stderr)")
            pids.append(p.pid)
        }
        // A client killed while the server works on its call: the call is still answered and recorded.
        let killed = scope.spawn(ipcscopePath, ["call", name, "-f", "8", "--text", "bye"])
        let reader = try SectionReader(service: name)
        #expect(waitUntil(timeout: 10) { (try? reader.snapshot()).map { $0.state == .processing && $0.requestSeq == 6 } ?? false })
        killed.killAndReap()
        pids.append(killed.pid)
        let all = calls + [(["-f", "8"], 8, 5, Array("bye".utf8), Array("late".utf8))]

        #expect(recorder.wait(timeout: 20) == 0, "\(recorder.stderr)")
        #expect(recorder.stdout.contains("recorded 6 calls to \(file): 6 complete, 0 partial; missed 0 (count reached)"), "\(recorder.stdout)")

        let fields = ["frame.number", "ipcscope.direction", "ipcscope.seq", "ipcscope.function", "ipcscope.status",
                      "ipcscope.request_size", "ipcscope.response_size", "ipcscope.client_pid", "ipcscope.client_tid",
                      "ipcscope.epoch", "ipcscope.flags", "ipcscope.payload_length", "ipcscope.payload",
                      "ipcscope.response_in", "ipcscope.request_in", "ipcscope.sent_ns", "ipcscope.done_ns", "frame.interface_name"]
        let (rows, t) = scope.tshark(file, fields: fields)
        try #require(rows.count == 12, "tshark: \(t.stdout)\n\(t.stderr)")
        for (i, c) in all.enumerated() {
            let seq = i + 1, req = 2 * i + 1, rsp = 2 * i + 2
            for (frame, direction, payload) in [(req, 0, c.request), (rsp, 1, c.response)] {
                let r = rows[frame - 1]
                let expected = ["\(frame)", "\(direction)", "\(seq)", "\(c.function)", "\(c.status)", "\(c.request.count)",
                                "\(c.response.count)", "\(pids[i])", "\(pids[i])", "1", "0x0000", "\(payload.count)",
                                payload.isEmpty ? "" : hexString(payload),
                                direction == 0 ? "\(rsp)" : "", direction == 1 ? "\(req)" : ""]
                #expect(Array(r.prefix(15)) == expected, "frame \(frame)")
                let sent = UInt64(r[15]) ?? 0, done = UInt64(r[16]) ?? 0
                #expect(sent > 0 && done >= sent, "frame \(frame) times \(r[15]) \(r[16])")
                #expect(r[17] == name)
            }
        }
        // The payload as text, and the filters the dissector makes possible.
        let text = scope.tshark(file, filter: "ipcscope.seq == 1", fields: ["ipcscope.payload_text"]).rows.map { $0.first ?? "" }
        #expect(text == ["ping", "pong"])
        let negative = scope.tshark(file, filter: "ipcscope.status < 0", fields: ["frame.number"]).rows.map { $0.first ?? "" }
        #expect(negative == ["9", "10"])
        let three = scope.tshark(file, filter: "ipcscope.function == 3", fields: ["frame.number"]).rows.map { $0.first ?? "" }
        #expect(three == ["5", "6"])

        // Replay against the same script: every answer matches.
        let same = scope.ipcscope(["replay", file, "--to", name], timeout: 30)
        #expect(same.exitStatus == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("replayed 6 calls to '\(name)': 6 matched, 0 differed, 0 skipped"), "\(same.stdout)")

        // Against a changed script: the two changed calls are reported, exit 1.
        let changedName = scope.serviceName("rec2")
        let changed = recordScript.replacingOccurrences("text: \"pong\"", "text: \"poNG\"").replacingOccurrences("status: 7", "status: 8")
        _ = scope.startScriptedServer(changedName, script: changed, extra: ["--request-capacity", "64", "--response-capacity", "64"])
        let diff = scope.ipcscope(["replay", file, "--to", changedName], timeout: 30)
        #expect(diff.exitStatus == 1)
        let lines = diff.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            "seq 1 (function 1): response bytes differ; at 0x2: recorded 6e 67, got 4e 47",
            "seq 3 (function 3): status 8, recorded 7",
            "replayed 6 calls to '\(changedName)': 4 matched, 2 differed, 0 skipped (partial)",
        ], "\(diff.stdout)")
        let json = scope.ipcscope(["replay", file, "--to", changedName, "--function", "3", "--json"], timeout: 30)
        #expect(json.exitStatus == 1)
        let objects = jsonLines(json.stdout)
        #expect(objects.count == 2)
        #expect(objects.first?["event"] as? String == "difference" && int(objects.first?["status"]) == 8 && int(objects.first?["recorded_status"]) == 7)
        #expect(int(objects.last?["replayed"]) == 1 && int(objects.last?["differed"]) == 1)
    }

    @Test func dissectorMarksPacketsThatAreNotIpcscopeRecords() throws {
        try #require(access("/usr/bin/tshark", X_OK) == 0, "tshark is needed: apt-get install -y tshark")
        let scope = TestScope()
        defer { scope.cleanup() }
        let interface = RecordedInterface(service: "Svc", epoch: 1, requestCapacity: 64, responseCapacity: 64, traceCapacity: 8)
        var call = RecordingFixture.calls[0]
        var file = PcapNG.sectionHeader(application: "test") + PcapNG.interface(interface)
        file += PcapNG.packet(interfaceID: 0, unixNS: 1, data: Array("not a record".utf8), inbound: true)
        var lying = RecordPacket.encode(call, .request)
        lying[44] = 200  // payload_length past the end
        file += PcapNG.packet(interfaceID: 0, unixNS: 2, data: lying, inbound: true)
        call.flags = [.partial]
        file += PcapNG.packet(interfaceID: 0, unixNS: 3, data: RecordPacket.encode(call, .response), inbound: false)
        let path = scope.directory + "/odd.pcapng"
        writeBytes(path, file)
        let (rows, t) = scope.tshark(path, fields: ["_ws.col.Info", "_ws.expert.message", "ipcscope.payload_text"])
        try #require(rows.count == 3, "\(t.stdout)\(t.stderr)")
        #expect(rows[0][0] == "not an ipcscope record")
        #expect(rows[1][1].contains("payload_length runs past the packet") && rows[1][2] == "ping")
        #expect(rows[2][1].contains("Partial call") && rows[2][2] == "pong")
    }

    @Test(arguments: [(traceCapacity: 256, interval: "1"), (traceCapacity: 8, interval: "30")])
    func fourClientsBackToBackAllAccountedFor(traceCapacity: Int, interval: String) throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rec4")
        _ = scope.startEchoServer(name, extra: ["--quiet", "--trace-capacity", "\(traceCapacity)"])
        let file = scope.directory + "/four.pcapng"
        let recorder = scope.startRecorder(name, file, ["--interval", interval, "--json"])
        let perClient = 400
        let clients = (0..<4).map { i in
            scope.spawn(ipcscopePath, ["call", name, "-f", "\(i + 1)", "--text", "client \(i) says hello", "--repeat", "\(perClient)", "--json"])
        }
        for c in clients { #expect(c.wait(timeout: 120) == 0, "\(c.stderr)") }
        sleepSeconds(0.3)
        recorder.signal(SIGINT)
        #expect(recorder.wait(timeout: 15) == 0, "\(recorder.stderr)")
        let summary = try #require(jsonObject(recorder.stdout), "\(recorder.stdout)")
        let complete = try #require(int(summary["complete"])), partial = try #require(int(summary["partial"]))
        let missed = try #require(int(summary["missed"]))
        #expect(complete + partial + missed == 4 * perClient, "\(summary)")
        let recording = try PcapNG.read(readBytes(file))
        #expect(recording.calls.count == complete + partial)
        #expect(recording.calls.filter(\.partial).count == partial)
        #expect(Int(recording.missed) == missed)
        for c in recording.calls where !c.partial {
            #expect(c.request == Array("client \(c.function - 1) says hello".utf8) && c.response == c.request, "seq \(c.seq)")
        }
        for c in recording.calls where c.partial {
            let sent = Array("client \(c.function - 1) says hello".utf8)
            #expect(sent.starts(with: c.request) && (c.request.count == 16 || c.request.count == sent.count), "seq \(c.seq)")
        }
        // The dissector flags the same calls as partial (both packets of each).
        let partialFrames = scope.tshark(file, filter: "ipcscope.flags.partial == 1", fields: ["frame.number"]).rows.count
        #expect(partialFrames == 2 * partial)
        print("trace \(traceCapacity), interval \(interval) ms: \(complete) complete, \(partial) partial, \(missed) missed of \(4 * perClient)")
    }

    @Test func survivesServerDeathTakeoverAndRestart() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("recdie")
        let first = scope.startEchoServer(name, extra: ["--quiet"])
        let file = scope.directory + "/epochs.pcapng"
        let recorder = scope.startRecorder(name, file, ["--json"])
        #expect(scope.ipcscope(["call", name, "--text", "one"]).exitStatus == 0)
        // Killed: the object stays; a new server takes it over (epoch 2).
        first.signal(SIGKILL)
        first.wait(timeout: 5)
        let second = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(scope.ipcscope(["call", name, "--text", "two"]).exitStatus == 0)
        // A clean stop removes the object; the recorder waits for the next server.
        second.signal(SIGTERM)
        let code = second.wait(timeout: 10)
        // If it hangs, say where (the server's own state, for whoever reads the failure).
        let diag = code != nil ? "" : "server still running: \(second.stdout) \(second.stderr) wchan \(readFile("/proc/\(second.pid)/wchan")) "
            + readFile("/proc/\(second.pid)/status").split(separator: "\n").filter { $0.hasPrefix("State") || $0.hasPrefix("Sig") }.joined(separator: " ")
        #expect(code == 0, "\(diag)")
        #expect(recorder.waitForOutput("waiting for a new one", timeout: 10))
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(recorder.waitForOutput("is back", timeout: 10))
        #expect(scope.ipcscope(["call", name, "--text", "three"]).exitStatus == 0)
        sleepSeconds(0.3)
        recorder.signal(SIGINT)
        #expect(recorder.wait(timeout: 10) == 0, "\(recorder.stderr)")
        let r = try PcapNG.read(readBytes(file))
        #expect(r.calls.map { String(decoding: $0.response, as: UTF8.self) } == ["one", "two", "three"])
        #expect(r.calls.map(\.epoch) == [1, 2, 1])
        #expect(r.interfaces.map(\.epoch) == [1, 2, 1])
        #expect(r.interfaces.allSatisfy { $0.service == name && $0.requestCapacity == 4096 && $0.traceCapacity == 256 })
    }

    @Test func replaysWatchJSONLinesAndStopsAfterDuration() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("recjson")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let jsonl = scope.directory + "/calls.jsonl"
        let watch = scope.spawn(ipcscopePath, ["watch", name, "-o", jsonl, "--limit", "3"])
        #expect(watch.waitForOutput("watching", timeout: 10))
        let idle = scope.startRecorder(name, scope.directory + "/idle.pcapng", ["--duration", "0.5"])
        for t in ["short", "sixteen bytes ok", "longer than sixteen bytes"] {
            #expect(scope.ipcscope(["call", name, "--text", t]).exitStatus == 0)
        }
        #expect(watch.wait(timeout: 10) == 0)
        #expect(idle.wait(timeout: 10) == 0)
        #expect(idle.stdout.contains("(duration reached)"), "\(idle.stdout)")
        // watch saw each call whole (one at a time): every request is sent in full.
        let same = scope.ipcscope(["replay", jsonl, "--to", name], timeout: 30)
        #expect(same.exitStatus == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("3 matched, 0 differed, 0 skipped"), "\(same.stdout)")
        // The same lines as watch writes them for calls seen only in part: the ring's 16 bytes.
        let partial = scope.file("partial.jsonl", readFile(jsonl).replacing(/,"(request|response)_hex":"[0-9a-f]*"/, with: ""))
        let head = scope.ipcscope(["replay", partial, "--to", name], timeout: 30)
        #expect(head.exitStatus == 0, "\(head.stdout)\(head.stderr)")
        #expect(head.stdout.contains("seq 3 (function 0) skipped: only 16 of its 25 request bytes were recorded"), "\(head.stdout)")
        #expect(head.stdout.contains("2 matched, 0 differed, 1 skipped"), "\(head.stdout)")
        // A server that answers differently: the size differs.
        let other = scope.serviceName("recjson2")
        _ = scope.startScriptedServer(other, script: "rules:\n  - match: any\n    reply: { status: 0, text: \"x\" }\n")
        let diff = scope.ipcscope(["replay", jsonl, "--to", other], timeout: 30)
        #expect(diff.exitStatus == 1)
        #expect(diff.stdout.contains("seq 1 (function 0): 1 response bytes, recorded 5"), "\(diff.stdout)")
    }

    @Test func truncatedOrCorruptFilesGiveOneClearLine() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("reccut")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let file = scope.directory + "/good.pcapng"
        let recorder = scope.startRecorder(name, file, ["--count", "2"])
        for t in ["alpha", "beta"] { #expect(scope.ipcscope(["call", name, "--text", t]).exitStatus == 0) }
        #expect(recorder.wait(timeout: 15) == 0)
        let good = readBytes(file)
        try #require(good.count > 200)
        let truncated = scope.directory + "/truncated.pcapng", corrupt = scope.directory + "/corrupt.pcapng"
        writeBytes(truncated, Array(good[0..<(good.count - 30)]))
        var bad = good
        bad[Int(good[4]) + 4] = 0x03  // the interface block's length: no longer a multiple of 4
        writeBytes(corrupt, bad)
        let garbage = scope.file("garbage.pcapng", "this is not a recording")
        for (path, words) in [(truncated, "truncated"), (corrupt, "corrupt"), (garbage, "not a pcapng file")] {
            for args in [["replay", path, "--to", name], ["attach", "--file", path]] {
                let p = scope.ipcscope(args, timeout: 15)
                #expect(p.exitStatus == 1, "\(args)")
                #expect(p.exitSignal == nil)
                let lines = p.stderr.split(separator: "\n")
                #expect(lines.count == 1 && lines[0].contains("cannot read the recording") && lines[0].contains(words), "\(args): \(p.stderr)")
            }
        }
    }
}

extension String {
    func replacingOccurrences(_ a: String, _ b: String) -> String { replacing(a, with: b) }
}
