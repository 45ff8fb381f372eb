// `ipcscope watch` with whole calls: the slots are copied between calls under the recorder's rule,
// so a schema user gets every field of both directions of each call seen whole, and calls seen
// only in part are marked. And a section without a trace ring is an unusable section (exit 1).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("watch: whole calls", .serialized)
struct WatchWholeCallsTests {
    /// A scripted server that answers set_value (function 3 of the fixture schema) with fields.
    static let script = """
        schema: s.yaml
        rules:
          - match: {function: set_value}
            reply: {fields: {ok: true, previous: 1.5}}
        """

    static func start(_ scope: TestScope, _ prefix: String) throws -> (name: String, schema: String) {
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let name = scope.serviceName(prefix)
        let server = scope.startScriptedServer(name, script: script)
        try #require(server.stdout.contains("serving"), "serve: \(server.stderr)")
        return (name, schema)
    }

    @Test("watch --json: every request and response field of each call seen whole, past the ring's 16 bytes")
    func wholeCallsCarryBothDirections() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, schema) = try Self.start(scope, "whole")
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "3", "--timeout", "30", "--schema", schema])
        try #require(watch.waitForOutput("watching", timeout: 10), "watch: \(watch.stderr)")
        // One call at a time (each its own process): the 5 ms polls see every call's slots.
        for id in 1...3 {
            let c = scope.ipcscope(["call", name, "set_value", "--schema", schema, "--field", "id=\(id)",
                                    "--field", "value=\(id).25", "--field", "name=pump\(id)"])
            #expect(c.exitStatus == 0, "call: \(c.stderr)")
        }
        #expect(watch.wait(timeout: 15) == 0, "watch: \(watch.stderr)")
        let calls = jsonLines(watch.stdout).filter { $0["event"] as? String == "call" }
        try #require(calls.count == 3, "\(watch.stdout)")
        for (i, call) in calls.enumerated() {
            let id = i + 1
            #expect(call["partial"] as? Bool == false, "seen whole: \(call)")
            #expect(call["function_name"] as? String == "set_value")
            let fields = try #require(call["fields"] as? [String: Any], "\(call)")
            #expect(int(fields["id"]) == id)
            #expect((fields["value"] as? NSNumber)?.doubleValue == Double(id) + 0.25)
            #expect(fields["name"] as? String == "pump\(id)", "name lies past the ring's 16 bytes: from the whole request")
            #expect(call["warnings"] == nil, "\(call)")
            let request = try #require(call["request_fields"] as? [String: Any])
            #expect(NSDictionary(dictionary: request).isEqual(to: fields), "request_fields is fields")
            let response = try #require(call["response_fields"] as? [String: Any], "\(call)")
            #expect(response["ok"] as? Bool == true)
            #expect((response["previous"] as? NSNumber)?.doubleValue == 1.5)
            // The keys of the trace record are all still there, and the whole payloads.
            #expect(int(call["function"]) == 3 && int(call["request_size"]) == 32 && int(call["response_size"]) == 16)
            #expect(call["request_head_hex"] is String && call["latency_ns"] != nil)
            #expect((call["request_hex"] as? String)?.count == 64 && (call["response_hex"] as? String)?.count == 32, "\(call)")
        }
        // The lines with the schema's nested fields are a recording replay reads back, like plain ones.
        let saved = scope.file("calls.jsonl", watch.stdout)
        let replay = scope.ipcscope(["replay", saved, "--to", name, "--json"])
        #expect(replay.exitStatus == 0, "\(replay.stdout) \(replay.stderr)")
        let summary = try #require(jsonLines(replay.stdout).last, "\(replay.stdout)")
        #expect(int(summary["replayed"]) == 3 && int(summary["matched"]) == 3 && int(summary["skipped"]) == 0, "\(summary)")
    }

    @Test("replay reads watch's whole calls back: every request sent in full, every answer compared byte for byte")
    func replayFromWatchJSONLines() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("wreplay")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let out = scope.directory + "/calls.jsonl"
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--limit", "3", "--timeout", "30", "-o", out])
        try #require(watch.waitForOutput("watching", timeout: 10), "watch: \(watch.stderr)")
        for i in 1...3 {
            let text = "a request of more than sixteen bytes, number \(i)"
            #expect(scope.ipcscope(["call", name, "-f", String(i), "--text", text, "--quiet"]).exitStatus == 0)
        }
        #expect(watch.wait(timeout: 15) == 0, "watch: \(watch.stderr)")
        let replay = scope.ipcscope(["replay", out, "--to", name, "--json"])
        #expect(replay.exitStatus == 0, "\(replay.stdout) \(replay.stderr)")
        let summary = try #require(jsonLines(replay.stdout).last, "\(replay.stdout)")
        #expect(int(summary["replayed"]) == 3 && int(summary["matched"]) == 3 && int(summary["skipped"]) == 0, "\(summary)")
    }

    @Test("watch (text): the request's and the response's fields on the call's line")
    func wholeCallsAsText() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, schema) = try Self.start(scope, "wholetext")
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--limit", "1", "--timeout", "30", "--schema", schema])
        try #require(watch.waitForOutput("watching", timeout: 10), "watch: \(watch.stderr)")
        let c = scope.ipcscope(["call", name, "set_value", "--schema", schema, "--field", "id=7", "--field", "name=tank"])
        #expect(c.exitStatus == 0, "call: \(c.stderr)")
        #expect(watch.wait(timeout: 15) == 0, "watch: \(watch.stderr)")
        #expect(watch.stdout.contains("set_value {id=7 value=0.0 name=\"tank\"} -> {ok=true previous=1.5}"), "\(watch.stdout)")
        #expect(!watch.stdout.contains("partial"), "\(watch.stdout)")
    }

    @Test("calls whose slots were overwritten before a poll are marked partial, with the head's fields only")
    func partialCallsAreMarked() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, schema) = try Self.start(scope, "part")
        // Polled every 300 ms: a burst of calls overwrites the slots many times between two polls.
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--interval", "300", "--timeout", "2.5", "--schema", schema])
        try #require(watch.waitForOutput("watching", timeout: 10), "watch: \(watch.stderr)")
        let total = 100
        let c = scope.ipcscope(["call", name, "set_value", "--schema", schema, "--field", "id=9", "--field", "name=burst",
                                "--repeat", String(total), "--quiet"])
        #expect(c.exitStatus == 0, "call: \(c.stderr)")
        #expect(watch.wait(timeout: 15) == 0, "watch: \(watch.stderr)")
        let lines = jsonLines(watch.stdout)
        let calls = lines.filter { $0["event"] as? String == "call" }
        #expect(calls.count == total, "a ring of 256 holds them all: each call once, whole or partial")
        #expect(calls.compactMap { int($0["seq"]) } == calls.compactMap { int($0["seq"]) }.sorted(), "in order")
        let partial = calls.filter { $0["partial"] as? Bool == true }
        #expect(!partial.isEmpty, "100 calls between two polls 300 ms apart cannot all be seen whole")
        for call in partial {
            let fields = call["fields"] as? [String: Any]
            #expect(int(fields?["id"]) == 9, "the head's fields are still decoded")
            #expect(fields?["name"] == nil, "not known: only 16 request bytes")
            #expect(call["response_fields"] == nil, "a response not copied is not decoded")
            #expect((call["warnings"] as? [String])?.contains { $0.contains("first 16 of the request's 32 bytes") } == true, "\(call)")
        }
        for call in calls where call["partial"] as? Bool == false {
            #expect((call["fields"] as? [String: Any])?["name"] as? String == "burst", "\(call)")
            #expect((call["response_fields"] as? [String: Any])?["ok"] as? Bool == true, "\(call)")
        }
        let summary = try #require(lines.last)
        #expect(summary["event"] as? String == "summary" && int(summary["calls"]) == total && int(summary["missed"]) == 0)
    }

    @Test("watch and record on a section without a trace ring: exit 1 (an unusable section), not 64 (usage)")
    func noTraceRing() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("noring")
        let server = scope.startEchoServer(name, extra: ["--quiet", "--trace-capacity", "0"])
        try #require(server.stdout.contains("serving"), "serve: \(server.stderr)")
        let watch = scope.ipcscope(["watch", name, "--timeout", "1"], timeout: 10)
        #expect(watch.exitStatus == 1, "\(watch.stderr)")
        #expect(watch.stderr.contains("service '\(name)' has no trace ring (trace capacity 0)"), "\(watch.stderr)")
        #expect(!watch.stderr.contains("Usage"), "the command line was fine: \(watch.stderr)")
        let record = scope.ipcscope(["record", name, "-w", scope.directory + "/r.pcapng", "--duration", "1"], timeout: 10)
        #expect(record.exitStatus == 1, "\(record.stderr)")
        #expect(record.stderr.contains("has no trace ring"), "\(record.stderr)")
        // Unlike a real usage error on the same verb.
        #expect(scope.ipcscope(["watch", name, "--limit", "0"]).exitStatus == 64)
    }
}
