// `list`, `status`, `watch`, `clean`, `bench` on live and stale sections, run as a user would.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("CLI inspect", .serialized)
struct CLIInspectTests {
    /// A section whose server died (the script's exit fault), with `calls` calls in its ring.
    static func makeStale(_ scope: TestScope, _ name: String, calls: Int) {
        let server = scope.startScriptedServer(name, script: "- match: {function: 66}\n  fault: exit\n- match: any\n  reply: {echo: true}\n")
        if calls > 0 { _ = scope.ipcscope(["call", name, "--text", "before", "--repeat", String(calls), "--quiet"]) }
        _ = scope.ipcscope(["call", name, "-f", "66", "--timeout", "10"])
        _ = server.wait(timeout: 5)
    }

    @Test("list, status and watch on a live section; --json parsed back")
    func live() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("live")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        _ = scope.ipcscope(["call", name, "-f", "3", "--text", "hello status", "--repeat", "3", "--quiet"])

        let list = scope.ipcscope(["list", "--json"])
        let entries = (jsonObject(list.stdout)?["sections"] as? [[String: Any]]) ?? []
        let mine = try #require(entries.first { $0["name"] as? String == name }, "\(list.stdout)")
        #expect(mine["alive"] as? Bool == true && mine["stale"] as? Bool == false)
        #expect(int(mine["server_pid"]) == Int(server.pid))
        #expect(mine["command"] as? String == "ipcscope serve \(name) --echo --quiet")  // the whole command line
        #expect(int(mine["calls_served"]) == 3)
        #expect(int(mine["request_capacity"]) == 4096 && int(mine["trace_capacity"]) == 256)
        #expect(mine["mode"] as? String == "0600")
        let text = scope.ipcscope(["list"]).stdout
        #expect(text.contains("NAME") && text.split(separator: "\n").contains { $0.hasPrefix(name + " ") && $0.contains(" yes ") })

        let status = scope.ipcscope(["status", name])
        #expect(status.exitStatus == 0)
        for part in ["liveness lock     alive", "state             IDLE", "kernel word       0x0: free", "request slot",
                     "hello status", "trace ring (256 records, head 3)", "f=3 req=12 rsp=12 status=0"] {
            #expect(status.stdout.contains(part), "status shows \(part)")
        }
        let sj = try #require(jsonObject(scope.ipcscope(["status", name, "--json"]).stdout))
        #expect(sj["alive"] as? Bool == true)
        #expect((sj["server"] as? [String: Any])?["command"] as? String == "ipcscope serve \(name) --echo --quiet")
        #expect(int((sj["server"] as? [String: Any])?["calls_served"]) == 3)
        #expect(((sj["state"] as? [String: Any])?["name"]) as? String == "IDLE")
        #expect(int((sj["mutex"] as? [String: Any])?["owner_tid"]) == 0)
        #expect((sj["request"] as? [String: Any])?["data_hex"] as? String == "68656c6c6f20737461747573")
        #expect(((sj["trace"] as? [String: Any])?["records"] as? [Any])?.count == 3)

        // watch: only new calls; --limit ends it; -o records JSON Lines.
        let out = scope.directory + "/calls.jsonl"
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--limit", "2", "--timeout", "20", "-o", out])
        #expect(watch.waitForOutput("watching", timeout: 5))
        _ = scope.ipcscope(["call", name, "-f", "4", "--text", "w1", "--quiet"])
        _ = scope.ipcscope(["call", name, "-f", "5", "--text", "w2", "--quiet"])
        #expect(watch.wait(timeout: 10) == 0)
        let lines = watch.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains("f=4 req=2 rsp=2 status=0") == true && lines.first?.contains("\"w1\"") == true)
        let recorded = jsonLines(readFile(out))
        #expect(recorded.map { int($0["function"]) } == [4, 5])
        #expect(recorded.allSatisfy { int($0["seq"]) != nil && int($0["latency_ns"]) != nil && int($0["client_pid"]) != nil })
    }

    @Test("list, status, watch and clean on a stale section; clean never removes a live one")
    func stale() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let dead = scope.serviceName("stale")
        Self.makeStale(scope, dead, calls: 4)
        #expect(scope.objectExists(dead))
        let alive = scope.serviceName("alive")
        _ = scope.startEchoServer(alive, extra: ["--quiet"])

        let entries = (jsonObject(scope.ipcscope(["list", "--json"]).stdout)?["sections"] as? [[String: Any]]) ?? []
        let e = try #require(entries.first { $0["name"] as? String == dead })
        #expect(e["stale"] as? Bool == true && e["alive"] as? Bool == false)
        #expect(e["state"] as? String == "PROCESSING", "it died processing")
        #expect(int(e["calls_served"]) == 4)
        #expect(scope.ipcscope(["list"]).stdout.split(separator: "\n").contains { $0.hasPrefix(dead + " ") && $0.contains(" stale ") })

        let status = scope.ipcscope(["status", dead])
        #expect(status.exitStatus == 2, "a stale section is a problem for a health check")
        #expect(status.stdout.contains("dead (stale section"))
        #expect(status.stdout.contains("PROCESSING"))
        let sj = try #require(jsonObject(scope.ipcscope(["status", dead, "--json"]).stdout))
        #expect(sj["stale"] as? Bool == true)
        #expect((sj["request"] as? [String: Any])?["function"] as? Int == 66)

        let watch = scope.ipcscope(["watch", dead, "--from-start", "--json", "--timeout", "0.3"])
        #expect(watch.exitStatus == 0)
        #expect(watch.stderr.contains("no server is running"))
        let calls = jsonLines(watch.stdout).filter { $0["event"] as? String == "call" }
        #expect(calls.count == 4, "the ring still holds the calls served before the crash")

        // clean NAME refuses a live one; clean removes the stale one only.
        let refuse = scope.ipcscope(["clean", alive])
        #expect(refuse.exitStatus == 1 && refuse.stderr.contains("still running"))
        #expect(scope.objectExists(alive))
        // Without NAME, clean would remove every stale section on the machine (other tests' too):
        // check its choice with --dry-run, then remove ours by name.
        let dry = scope.ipcscope(["clean", "--dry-run", "--json"])
        let would = (jsonObject(dry.stdout)?["removed"] as? [String]) ?? []
        #expect(would.contains(dead) && !would.contains(alive))
        #expect(scope.objectExists(dead))
        let clean = scope.ipcscope(["clean", dead, "--json"])
        #expect(clean.exitStatus == 0)
        #expect((jsonObject(clean.stdout)?["removed"] as? [String]) == [dead])
        #expect(!scope.objectExists(dead))
        #expect(scope.objectExists(alive))
        #expect(scope.ipcscope(["call", alive, "--text", "still here"]).exitStatus == 0)
        #expect(scope.ipcscope(["status", dead]).exitStatus == 1)
    }

    @Test("watch misses nothing at a modest rate")
    func watchModest() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("modest")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "300", "--timeout", "30"])
        #expect(watch.waitForOutput("watching", timeout: 5))
        // 300 calls in 3 processes: a few thousand calls a second against a 256-record ring.
        let callers = (0..<3).map { i in scope.spawn(ipcscopePath, ["call", name, "-f", String(i), "--text", "m\(i)", "--repeat", "100", "--quiet"]) }
        for c in callers { #expect(c.wait(timeout: 20) == 0) }
        #expect(watch.wait(timeout: 10) == 0)
        let lines = jsonLines(watch.stdout)
        let calls = lines.filter { $0["event"] as? String == "call" }
        #expect(calls.count == 300)
        #expect(Set(calls.compactMap { int($0["seq"]) }).count == 300, "each call once")
        #expect(lines.last?["event"] as? String == "summary" && int(lines.last?["missed"]) == 0)
        #expect(calls.compactMap { int($0["seq"]) } == calls.compactMap { int($0["seq"]) }.sorted(), "in order")
    }

    @Test("watch counts the calls it missed when the ring is overrun")
    func watchOverrun() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("overrun")
        _ = scope.startEchoServer(name, extra: ["--quiet", "--trace-capacity", "8"])
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--interval", "300", "--timeout", "2.5"])
        #expect(watch.waitForOutput("watching", timeout: 5))
        let total = 500
        #expect(scope.ipcscope(["call", name, "--text", "o", "--repeat", String(total), "--quiet"]).exitStatus == 0)
        #expect(watch.wait(timeout: 10) == 0)
        let lines = jsonLines(watch.stdout)
        let seen = lines.filter { $0["event"] as? String == "call" }.count
        let missed = lines.filter { $0["event"] as? String == "missed" }.compactMap { int($0["count"]) }.reduce(0, +)
        let summary = try #require(lines.last)
        #expect(summary["event"] as? String == "summary")
        #expect(missed > 0, "a ring of 8 polled every 300 ms is overrun by \(total) fast calls")
        #expect(seen + missed == total, "every call is either printed or counted as missed")
        #expect(int(summary["missed"]) == missed && int(summary["calls"]) == seen)
        #expect(seen <= 8 * 12, "no more than a ring per poll")
    }

    @Test("bench: threads and processes, percentiles in --json")
    func bench() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("bench")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let b = scope.ipcscope(["bench", name, "--count", "2000", "--threads", "2", "--processes", "2", "--size", "32", "--json"], timeout: 60)
        #expect(b.exitStatus == 0, "\(b.stderr)")
        let o = try #require(jsonObject(b.stdout), "\(b.stdout)")
        #expect(int(o["calls"]) == 2000 && int(o["errors"]) == 0)
        let lat = try #require(o["latency_ns"] as? [String: Any])
        let p = ["p50", "p90", "p99", "p99_9", "max"].compactMap { int(lat[$0]) }
        #expect(p.count == 5 && p[0] > 0 && p == p.sorted())
        #expect(((o["calls_per_second"] as? NSNumber)?.doubleValue ?? 0) > 0)
        let text = scope.ipcscope(["bench", name, "--count", "300"], timeout: 60)
        #expect(text.stdout.contains("throughput") && text.stdout.contains("p99.9"))
        let none = scope.ipcscope(["bench", scope.serviceName("nobody"), "--count", "10"])
        #expect(none.exitStatus == 1)
    }
}
