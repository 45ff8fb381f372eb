// `ipcscope exporter --otlp-endpoint` pushing to a real OTLP/HTTP receiver (Tests/Scripts/
// otlp_receiver.py, started by the test on 127.0.0.1 and stopped by pid) that parses every body
// into opentelemetry-proto's protobuf classes; and `exporter --via` and `--host` (a real sshd on
// 127.0.0.1) reading sections through the agent. Known calls go to a C-library server and to
// `ipcscope serve --script`.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeKit
import Testing
import TestSupport

@Suite("Exporter pushing OTLP, and reading through the agent", .serialized)
struct ExporterOTLPTests {
    static let receiverScript = repositoryRoot + "/Tests/Scripts/otlp_receiver.py"

    /// The receiver, its port and the file it logs each request to.
    static func startReceiver(_ scope: TestScope, port: Int = 0, failFirst: Int = 0, name: String = "otlp") throws -> (ChildProcess, Int, String) {
        let out = scope.directory + "/\(name).jsonl"
        let r = scope.spawn("/usr/bin/env", ["python3", receiverScript, "--out", out, "--port", String(port), "--fail-first", String(failFirst)])
        try #require(r.waitForOutput("listening ", timeout: 30), "receiver did not start: \(r.stderr)")
        let p = r.stdout.range(of: "listening ").flatMap { Int(r.stdout[$0.upperBound...].prefix { $0.isNumber }) }
        return (r, try #require(p), out)
    }

    /// A script for `serve`: function 2 answers status 7 (an error span), the others echo.
    static let script = """
        rules:
          - match: { function: 2 }
            reply: { status: 7, text: "no" }
          - reply: { echo: true }

        """

    /// The attributes of an OTLP object (from MessageToDict) as key → string value.
    static func attributes(_ o: [String: Any]?) -> [String: String] {
        var out: [String: String] = [:]
        for a in o?["attributes"] as? [[String: Any]] ?? [] {
            guard let k = a["key"] as? String, let v = a["value"] as? [String: Any] else { continue }
            if let s = v["stringValue"] as? String { out[k] = s } else if let i = v["intValue"] as? String { out[k] = i }
            else if let b = v["boolValue"] as? Bool { out[k] = String(b) }
        }
        return out
    }

    /// Every data point of the metric `name` in the last metrics request, with its attributes.
    static func points(_ requests: [[String: Any]], _ name: String) -> [(attributes: [String: String], point: [String: Any], metric: [String: Any])] {
        guard let last = requests.last(where: { $0["signal"] as? String == "metrics" })?["request"] as? [String: Any] else { return [] }
        var out: [([String: String], [String: Any], [String: Any])] = []
        for rm in last["resourceMetrics"] as? [[String: Any]] ?? [] {
            for sm in rm["scopeMetrics"] as? [[String: Any]] ?? [] {
                for m in sm["metrics"] as? [[String: Any]] ?? [] where m["name"] as? String == name {
                    let body = (m["sum"] ?? m["gauge"] ?? m["histogram"]) as? [String: Any]
                    for p in body?["dataPoints"] as? [[String: Any]] ?? [] { out.append((attributes(p), p, m)) }
                }
            }
        }
        return out
    }

    /// A counter's value for the data point whose attributes include `match`.
    static func value(_ requests: [[String: Any]], _ name: String, _ match: [String: String]) -> Double? {
        guard let p = points(requests, name).first(where: { p in match.allSatisfy { p.attributes[$0.key] == $0.value } }) else { return nil }
        if let i = p.point["asInt"] as? String { return Double(i) }
        if let d = p.point["asDouble"] as? Double { return d }
        if let c = p.point["count"] as? String { return Double(c) }
        return nil
    }

    /// Every span received, with its resource's attributes.
    static func spans(_ requests: [[String: Any]]) -> [(resource: [String: String], span: [String: Any])] {
        var out: [([String: String], [String: Any])] = []
        for r in requests where r["signal"] as? String == "traces" {
            for rs in (r["request"] as? [String: Any])?["resourceSpans"] as? [[String: Any]] ?? [] {
                let resource = attributes(rs["resource"] as? [String: Any])
                for ss in rs["scopeSpans"] as? [[String: Any]] ?? [] {
                    for s in ss["spans"] as? [[String: Any]] ?? [] { out.append((resource, s)) }
                }
            }
        }
        return out
    }

    @Test("OTLP/JSON metrics with exact call counts and one span per call (RPC conventions, real times, error status), all parsed by opentelemetry-proto")
    func pushedToReceiver() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let cName = scope.serviceName("otlpc"), swiftName = scope.serviceName("otlpswift")
        let (_, port, out) = try Self.startReceiver(scope)
        let cServer = try ExporterPrometheusTests.buildCServer(scope)
        let c = scope.spawn(cServer, [cName, "slow=20"])
        let cUp = waitUntil(timeout: 10) { c.stdout.contains("serving") || c.hasExited }
        try #require(cUp && !c.hasExited, "C server: \(c.stderr)")
        let script = scope.file("replies.yaml", Self.script)
        let swiftServer = scope.spawn(ipcscopePath, ["serve", swiftName, "--script", script, "--quiet"])
        let swiftUp = waitUntil(timeout: 10) { swiftServer.stdout.contains("serving") || swiftServer.hasExited }
        try #require(swiftUp && !swiftServer.hasExited, "serve: \(swiftServer.stderr)")
        // A schema naming function 1 of the Swift service: its spans and series say `echo`.
        let config = scope.directory + "/config"
        mkdir(config, 0o755); mkdir(config + "/ipcscope", 0o755); mkdir(config + "/ipcscope/schemas", 0o755)
        _ = scope.file("config/ipcscope/schemas/\(swiftName).yaml", """
            functions:
              1:
                name: echo
                request:
                  - data: bytes
                response:
                  - data: bytes

            """)

        let e = scope.spawn(ipcscopePath, ["exporter", "--listen", "127.0.0.1:0", "--service", cName, swiftName,
                                           "--otlp-endpoint", "http://127.0.0.1:\(port)", "--otlp-interval", "0.5", "--trace-sample", "1"],
                            environment: ["XDG_CONFIG_HOME": config])
        try #require(e.waitForOutput("pushing OTLP", timeout: 15), "exporter did not start: \(e.stderr)")

        let before = realtimeNanoseconds()
        for _ in 0..<6 { #expect(scope.ipcscope(["call", cName, "--function", "3", "--text", "slow"]).exitStatus == 0) }
        for _ in 0..<4 { #expect(scope.ipcscope(["call", swiftName, "--function", "1", "--text", "echo"]).exitStatus == 0) }
        for _ in 0..<2 { _ = scope.ipcscope(["call", swiftName, "--function", "2", "--text", "fail"]) }
        let after = realtimeNanoseconds()

        var requests: [[String: Any]] = []
        let arrived = waitUntil(timeout: 30, interval: 0.25) {
            requests = jsonLines(readFile(out))
            return Self.value(requests, "ipcscope.calls.served", ["rpc.service": cName]) == 6
                && Self.value(requests, "ipcscope.calls.served", ["rpc.service": swiftName]) == 6
                && Self.spans(requests).count >= 12
        }
        #expect(arrived, "receiver got: \(readFile(out).suffix(2000)) exporter: \(e.stderr)")
        let errors = requests.filter { $0["signal"] as? String == "error" }
        #expect(errors.isEmpty, "bodies the receiver refused: \(errors)")

        // Metrics: the exact counts, the RPC histogram in seconds with every bucket, the exporter's health.
        #expect(Self.value(requests, "ipcscope.function.calls", ["rpc.service": cName, "rpc.method": "3", "rpc.system": "ipcscope"]) == 6)
        #expect(Self.value(requests, "ipcscope.function.calls", ["rpc.service": swiftName, "rpc.method": "echo"]) == 4)
        #expect(Self.value(requests, "ipcscope.function.calls", ["rpc.service": swiftName, "rpc.method": "2"]) == 2)
        let histogram = try #require(Self.points(requests, "rpc.server.call.duration").first { $0.attributes["rpc.service"] == cName })
        #expect(histogram.metric["unit"] as? String == "s")
        #expect(histogram.point["count"] as? String == "6")
        let buckets = (histogram.point["bucketCounts"] as? [String] ?? []).compactMap { Int($0) }
        let bounds = histogram.point["explicitBounds"] as? [Double] ?? []
        #expect(buckets.count == bounds.count + 1 && buckets.reduce(0, +) == 6)
        #expect(((histogram.point["sum"] as? Double) ?? 0) >= 0.12, "six calls of 20 ms or more")
        #expect((Self.value(requests, "ipcscope.exporter.otlp.exports", ["signal": "metrics", "result": "ok"]) ?? 0) >= 1)
        #expect(Self.value(requests, "ipcscope.server.up", ["rpc.service": cName]) == 1)

        // Spans: one per call (distinct seq), named ipcscope/<method>, SERVER, the RPC attributes,
        // the call's own times on the wall clock, ERROR for status 7 only.
        let all = Self.spans(requests)
        #expect(all.count == 12, "one span per call: \(all.count)")
        let cSpans = all.filter { $0.resource["service.name"] == cName }
        #expect(cSpans.count == 6 && Set(cSpans.map { Self.attributes($0.span)["ipcscope.seq"] ?? "" }).count == 6)
        for (_, s) in cSpans {
            let a = Self.attributes(s)
            #expect(s["name"] as? String == "ipcscope/3" && s["kind"] as? String == "SPAN_KIND_SERVER")
            #expect(a["rpc.system"] == "ipcscope" && a["rpc.service"] == cName && a["rpc.method"] == "3" && a["ipcscope.status"] == "0")
            #expect(s["status"] == nil || (s["status"] as? [String: Any])?["code"] == nil)
            let start = UInt64(s["startTimeUnixNano"] as? String ?? "") ?? 0, end = UInt64(s["endTimeUnixNano"] as? String ?? "") ?? 0
            #expect(start >= before - 1_000_000_000 && end <= after + 1_000_000_000, "span times outside the calls' window")
            #expect(end >= start + 20_000_000, "a slow=20 call lasts 20 ms or more: \(Double(end &- start) / 1e6) ms")
            #expect((s["traceId"] as? String)?.isEmpty == false && (s["spanId"] as? String)?.isEmpty == false)
        }
        let echo = all.filter { $0.span["name"] as? String == "ipcscope/echo" }
        #expect(echo.count == 4 && echo.allSatisfy { $0.resource["service.name"] == swiftName && Self.attributes($0.span)["rpc.method"] == "echo" })
        let failed = all.filter { $0.span["name"] as? String == "ipcscope/2" }
        #expect(failed.count == 2)
        for (_, s) in failed {
            let status = s["status"] as? [String: Any]
            #expect(status?["code"] as? String == "STATUS_CODE_ERROR" && status?["message"] as? String == "status 7", "\(s)")
            #expect(Self.attributes(s)["ipcscope.status"] == "7")
        }
    }

    @Test("a collector that is down: retried with backoff, scrapes still answer at once, spans past the queue dropped and counted; then delivered")
    func collectorDown() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("otlpdown")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(!server.hasExited, "serve: \(server.stderr)")
        let port = ExporterPrometheusTests.freePort()
        let (e, metricsPort) = try startExporter(scope, [name], ["--otlp-endpoint", "http://127.0.0.1:\(port)", "--otlp-interval", "0.3",
                                                                  "--trace-sample", "1", "--otlp-queue", "3"])
        for _ in 0..<10 { #expect(scope.ipcscope(["call", name, "--function", "1", "--text", "x"]).exitStatus == 0) }
        // Nothing listens: pushes fail; a scrape is not held up by the sender.
        var text = ""
        let failing = waitUntil(timeout: 20, interval: 0.3) {
            let t0 = now()
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(metricsPort)/metrics") ?? ""
            #expect(now() - t0 < 2, "a scrape took \(now() - t0) s while the collector was down")
            return (Self.promValue(text, "ipcscope_exporter_otlp_exports_total{signal=\"metrics\",result=\"failed\"}") ?? 0) >= 2
                && (Self.promValue(text, "ipcscope_exporter_otlp_dropped_total{signal=\"traces\"}") ?? 0) >= 7
        }
        #expect(failing, "\(text.split(separator: "\n").filter { $0.contains("otlp") })")
        #expect(Self.promValue(text, "ipcscope_exporter_otlp_exports_total{signal=\"metrics\",result=\"ok\"}") == 0)
        #expect((Self.promValue(text, "ipcscope_exporter_otlp_queued{signal=\"traces\"}") ?? 99) <= 3)

        // The collector comes up (answering 503 twice first): the queued spans and the metrics arrive.
        let (_, _, out) = try Self.startReceiver(scope, port: port, failFirst: 2)
        var requests: [[String: Any]] = []
        // Every call is either a span delivered or a span counted as dropped: none lost uncounted.
        let delivered = waitUntil(timeout: 45, interval: 0.5) {
            requests = jsonLines(readFile(out))
            let dropped = Self.value(requests, "ipcscope.exporter.otlp.dropped", ["signal": "traces"]) ?? 0
            return Self.value(requests, "ipcscope.calls.served", ["rpc.service": name]) == 10
                && Double(Self.spans(requests).count) + dropped == 10
        }
        #expect(delivered, "receiver: \(readFile(out).suffix(1500)) exporter: \(e.stderr)")
        #expect(Self.spans(requests).count <= 3, "a queue of 3 spans delivered \(Self.spans(requests).count)")
        #expect(requests.prefix(2).allSatisfy { $0["signal"] as? String == "refused" }, "the first two answered 503")
        #expect(requests.filter { $0["signal"] as? String == "error" }.isEmpty)
        #expect((Self.value(requests, "ipcscope.exporter.otlp.exports", ["signal": "metrics", "result": "failed"]) ?? 0) >= 3)
    }

    @Test("exporter --via the agent: the same series with a host label, exact counts")
    func throughAgent() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("expvia")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(!server.hasExited)
        for _ in 0..<3 { #expect(scope.ipcscope(["call", name, "--function", "4", "--text", "via"]).exitStatus == 0) }
        let (e, port) = try startExporter(scope, [name], ["--via", agent])
        let host = HostName.current
        var text = ""
        let counted = waitUntil(timeout: 20, interval: 0.3) {
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return Self.promValue(text, "ipcscope_calls_served_total{service=\"\(name)\",host=\"\(host)\"}") == 3
        }
        #expect(counted, "\(text.split(separator: "\n").filter { $0.contains(name) }) \(e.stderr)")
        #expect(Self.promValue(text, "ipcscope_function_calls_total{service=\"\(name)\",host=\"\(host)\",function=\"4\"}") == 3)
        #expect(Self.promValue(text, "ipcscope_server_up{service=\"\(name)\",host=\"\(host)\"}") == 1)
        #expect(e.stderr.contains("on via"), "\(e.stderr)")
        // More calls are seen at the next scrape; a stopped server's section disappears.
        for _ in 0..<2 { #expect(scope.ipcscope(["call", name, "--function", "4", "--text", "again"]).exitStatus == 0) }
        let more = waitUntil(timeout: 10, interval: 0.3) {
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return Self.promValue(text, "ipcscope_function_calls_total{service=\"\(name)\",host=\"\(host)\",function=\"4\"}") == 5
        }
        #expect(more)
        server.signal(SIGTERM)
        _ = server.wait(timeout: 10)
        let gone = waitUntil(timeout: 10, interval: 0.3) {
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return !text.isEmpty && !text.contains(name)
        }
        #expect(gone)
    }

    @Test("exporter --host over a real sshd on 127.0.0.1: the agent's sections with a host label; a broken stream counted, then read again")
    func overSSH() throws {
        let agent = try AgentBuild.require()
        try #require(access("/usr/sbin/sshd", X_OK) == 0, "openssh-server is not installed (see .ci/run)")
        let scope = TestScope()
        defer { scope.cleanup() }
        let (sshPort, config, sshd) = try RemoteAgentTests.startSSHD(scope)
        let name = scope.serviceName("expssh")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(!server.hasExited)
        for _ in 0..<2 { #expect(scope.ipcscope(["call", name, "--function", "6", "--text", "ssh"]).exitStatus == 0) }
        let (e, port) = try startExporter(scope, [name], ["--host", "127.0.0.1:\(sshPort)", "--ssh-config", config, "--agent-command", agent])
        let host = HostName.current
        var text = ""
        let counted = waitUntil(timeout: 30, interval: 0.5) {
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return Self.promValue(text, "ipcscope_function_calls_total{service=\"\(name)\",host=\"\(host)\",function=\"6\"}") == 2
        }
        #expect(counted, "\(text.split(separator: "\n").filter { $0.contains(name) || $0.contains("errors") }) \(e.stderr) sshd: \(sshd.stderr.suffix(800))")
        #expect(Self.promValue(text, "ipcscope_calls_served_total{service=\"\(name)\",host=\"\(host)\"}") == 2)
        // The ssh session dies (its agent killed): that scrape counts an agent error and drops the
        // host's series; the next one connects again and finds the section with its counts.
        let agents = scope.run("/usr/bin/pgrep", ["-f", "^" + agent])
        for pid in agents.stdout.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        #expect(!agents.stdout.isEmpty, "no agent process found")
        let again = waitUntil(timeout: 30, interval: 0.5) {
            text = ExporterPrometheusTests.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return (Self.promValue(text, "ipcscope_exporter_errors_total{kind=\"agent\"}") ?? 0) >= 1
                && Self.promValue(text, "ipcscope_calls_served_total{service=\"\(name)\",host=\"\(host)\"}") == 2
        }
        #expect(again, "\(text.split(separator: "\n").filter { $0.contains(name) || $0.contains("errors") }) \(e.stderr)")
        e.signal(SIGTERM)
        _ = e.wait(timeout: 10)
        // Let sshd's per-connection children finish before it is stopped, so none outlives it.
        waitUntil(timeout: 5, interval: 0.05) { scope.run("/usr/bin/pgrep", ["-P", String(sshd.pid)]).exitStatus == 1 }
    }

    @Test("bad OTLP and remote arguments: a usage error saying what is wrong, before anything starts")
    func badArguments() {
        let scope = TestScope()
        defer { scope.cleanup() }
        for (args, why) in [(["--trace-sample", "0.5"], "go with --otlp-endpoint"),
                            (["--otlp-endpoint", "https://127.0.0.1:4318"], "no TLS"),
                            (["--otlp-endpoint", "127.0.0.1:4318"], "not an http:// URL"),
                            (["--otlp-endpoint", "http://127.0.0.1:4318", "--trace-sample", "2"], "fraction from 0 to 1"),
                            (["--otlp-endpoint", "http://127.0.0.1:4318", "--otlp-interval", "0"], "0.1 to 3600"),
                            (["--via", "x", "--host", "y"], "give one")] {
            let c = scope.ipcscope(["exporter", "--listen", "127.0.0.1:0"] + args, timeout: 20)
            #expect(c.exitStatus == 64 && c.stderr.contains(why), "\(args): \(c.exitStatus as Any) \(c.stderr)")
        }
    }

    /// The exporter on a free port with these extra arguments.
    func startExporter(_ scope: TestScope, _ services: [String], _ extra: [String]) throws -> (ChildProcess, Int) {
        let e = scope.spawn(ipcscopePath, ["exporter", "--listen", "127.0.0.1:0", "--service"] + services + extra)
        try #require(e.waitForOutput("/metrics", timeout: 15), "exporter did not start: \(e.stderr)")
        let port = e.stderr.range(of: "http://127.0.0.1:").flatMap { Int(e.stderr[$0.upperBound...].prefix { $0.isNumber }) }
        return (e, try #require(port, "no port in: \(e.stderr)"))
    }

    /// One sample's value in Prometheus text (`name{labels}` exactly as written), or nil.
    static func promValue(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).split(separator: " ").first ?? "")
        }
        return nil
    }
}

enum HostName {
    static var current: String {
        var buf = [CChar](repeating: 0, count: 256)
        _ = gethostname(&buf, 255)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
