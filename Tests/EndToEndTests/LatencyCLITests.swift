// `status` and `watch --stats` latency figures against real calls to a real scripted server:
// every figure is worked out again here from the trace records the same run printed (nearest
// rank: the ⌈p·n⌉-th smallest), never hard-coded.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// Replies: function 1 echoes at once, function 2 after 30 ms, function 3 answers status 4.
let latencyScript = """
    rules:
      - match: { function: 1 }
        reply: { status: 0, echo: true }
      - match: { function: 2 }
        reply: { status: 0, text: "slow" }
        delay_ms: 30
      - match: { function: 3 }
        reply: { status: 4, text: "no" }
    """

let latencyCLISchema = """
    functions:
      1: { name: echo }
      2: { name: slow }
    """

/// The nearest-rank percentile of `values`.
func nearestRank(_ values: [UInt64], _ p: Double) -> UInt64 {
    let v = values.sorted()
    let rank = max(1, Int((Double(v.count) * p / 100).rounded(.up)))
    return v[min(v.count, rank) - 1]
}

/// HdrHistogram's three significant digits: `got` is `want` to 0.1%, and never above it.
func sameLatency(_ got: Int?, _ want: UInt64) -> Bool {
    guard let got, got >= 0 else { return false }
    let g = UInt64(got)
    return g <= want && (want - g) * 1000 <= want
}

@Suite(.serialized) struct LatencyCLITests {
    @Test func statusSummarisesTheRingAsTheRecordsSay() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("lat")
        let server = scope.startScriptedServer(name, script: latencyScript)
        #expect(server.stdout.contains("serving"), "\(server.stderr)")
        for (fn, n) in [(1, 20), (2, 5), (3, 3)] {
            let c = scope.ipcscope(["call", name, "-f", String(fn), "--text", "x", "--repeat", String(n), "--quiet"])
            #expect(c.exitStatus == 0 || fn == 3, "\(c.stderr)")
        }
        let schema = scope.file("lat.yaml", latencyCLISchema)
        let status = scope.ipcscope(["status", name, "--json", "--trace", "all", "--schema", schema])
        let o = try #require(jsonObject(status.stdout), "\(status.stdout)\(status.stderr)")
        let records = try #require((o["trace"] as? [String: Any])?["records"] as? [[String: Any]])
        #expect(records.count == 28)
        let latency = try #require(o["latency"] as? [String: Any])
        func check(_ series: [String: Any], _ rs: [[String: Any]], _ label: String) {
            let values = rs.map { UInt64(int($0["latency_ns"]) ?? -1) }
            #expect(int(series["count"]) == values.count, "\(label)")
            for (key, p) in [("p50_ns", 50.0), ("p90_ns", 90.0), ("p99_ns", 99.0), ("p99_9_ns", 99.9)] {
                #expect(sameLatency(int(series[key]), nearestRank(values, p)), "\(label) \(key): \(series[key] ?? "-") vs \(nearestRank(values, p))")
            }
            #expect(int(series["max_ns"]).map(UInt64.init) == values.max(), "\(label) max")
            #expect(int(series["failed"]) == rs.filter { int($0["status"]) != 0 }.count, "\(label) failed")
        }
        check(try #require(latency["all"] as? [String: Any]), records, "all")
        let fns = try #require(latency["functions"] as? [[String: Any]])
        #expect(fns.map { int($0["function"]) } == [1, 2, 3])
        #expect(fns.map { $0["name"] as? String } == ["echo", "slow", nil])
        for f in fns {
            check(f, records.filter { int($0["function"]) == int(f["function"]) }, "fn \(f["function"] ?? "?")")
        }
        // The slow function really is slow, and its calls queued behind nothing: each client
        // stamps sent_ns after it holds the mutex, so the server is always free by then.
        #expect((int(fns[1]["p50_ns"]) ?? 0) >= 30_000_000)
        let queued = try #require(fns[1]["queued"] as? [String: Any])
        #expect(int(queued["max_ns"]) == 0)
        #expect(int((latency["all"] as? [String: Any])?["split_count"]) == 27, "every call but the first has its predecessor")

        // The same figures as text, after the trace ring.
        let text = scope.ipcscope(["status", name, "--schema", schema]).stdout
        #expect(text.contains("latency (the 28 calls in the trace ring, sent to answered)"), "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("  all        calls 28  p50 ") }, "\(text)")
        #expect(lines.contains { $0.hasPrefix("  fn 1 echo  calls 20  p50 ") })
        #expect(lines.contains { $0.hasPrefix("  fn 3       calls 3  p50 ") && $0.contains("status≠0 3") })
    }

    @Test func watchStatsPerIntervalAgreeWithTheCallsWatched() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("wst")
        _ = scope.startScriptedServer(name, script: latencyScript)
        let schema = scope.file("lat.yaml", latencyCLISchema)
        let calls = scope.directory + "/calls.jsonl"
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--stats", "--stats-interval", "0.5", "--json", "-o", calls,
                                               "--timeout", "4", "--schema", schema])
        #expect(watch.waitForOutput("watching '\(name)'", timeout: 10))
        // Two bursts, with a quiet second between them.
        for (fn, n) in [(1, 30), (2, 4)] { _ = scope.ipcscope(["call", name, "-f", String(fn), "--text", "a", "--repeat", String(n), "--quiet"]) }
        sleepSeconds(1.2)
        for (fn, n) in [(1, 10), (3, 2)] { _ = scope.ipcscope(["call", name, "-f", String(fn), "--text", "b", "--repeat", String(n), "--quiet"]) }
        #expect(watch.wait(timeout: 15) == 0, "\(watch.stderr)")

        let watched = jsonLines(readFile(calls)).filter { $0["event"] as? String == "call" }
        #expect(watched.count == 46, "every call was watched: \(watched.count)")
        let out = jsonLines(watch.stdout)
        let stats = out.filter { $0["event"] as? String == "stats" }
        let all = stats.filter { $0["function"] == nil || $0["function"] is NSNull }
        #expect(all.reduce(0) { $0 + (int($1["calls"]) ?? 0) } == 46, "\(watch.stdout)")
        #expect(all.count >= 6, "an all-calls line per half second, quiet ones too: \(all.count)")
        #expect(all.contains { int($0["calls"]) == 0 }, "the quiet interval says 0 calls")
        #expect(out.last?["event"] as? String == "summary")
        // Each interval's figures, worked out again from the calls answered in it.
        for line in stats {
            let from = UInt64(int(line["from_ns"]) ?? 0), to = UInt64(int(line["to_ns"]) ?? 0)
            let fn = int(line["function"])
            let inside = watched.filter {
                let done = UInt64(int($0["done_ns"]) ?? 0)
                return done >= from && done < to && (fn == nil || int($0["function"]) == fn)
            }
            if int(all.first { int($0["from_ns"]) == int(line["from_ns"]) }?["late"]) != 0 { continue }
            #expect(int(line["calls"]) == inside.count, "\(line)")
            guard !inside.isEmpty else { continue }
            let values = inside.map { UInt64(int($0["latency_ns"]) ?? -1) }
            #expect(sameLatency(int(line["p50_ns"]), nearestRank(values, 50)), "\(line)")
            #expect(sameLatency(int(line["p99_ns"]), nearestRank(values, 99)), "\(line)")
            #expect(int(line["max_ns"]).map(UInt64.init) == values.max(), "\(line)")
            if fn == 1 { #expect(line["name"] as? String == "echo") }
            if fn == 3 { #expect(int(line["failed"]) == inside.count) }
        }
        #expect(Set(stats.compactMap { int($0["function"]) }) == [1, 2, 3])

        // The text form: a line per interval for all calls, one per function with calls.
        let text = scope.spawn(ipcscopePath, ["watch", name, "--stats", "--stats-interval", "1", "--timeout", "2.5", "--schema", schema])
        #expect(text.waitForOutput("watching '\(name)'", timeout: 10))
        _ = scope.ipcscope(["call", name, "-f", "1", "--text", "c", "--repeat", "5", "--quiet"])
        #expect(text.wait(timeout: 15) == 0, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map(String.init)
        // Five calls, in one interval or two: the all-calls lines add up to them.
        let counted = lines.compactMap { l in l.firstRange(of: "  all  calls ").flatMap { Int(l[$0.upperBound...].prefix { $0.isNumber }) } }
        #expect(counted.reduce(0, +) == 5, "\(text.stdout)")
        #expect(lines.contains { $0.contains("  fn 1 echo  calls ") && $0.contains("  p50 ") && $0.contains("  p99 ") && $0.contains("  max ") }, "\(text.stdout)")
        // --stats-interval without --stats is a usage error.
        #expect(scope.ipcscope(["watch", name, "--stats-interval", "1"]).exitStatus == 64)
    }
}
