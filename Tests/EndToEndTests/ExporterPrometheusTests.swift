// `ipcscope exporter` scraped by a real Prometheus server (Debian's `prometheus`, started by the
// test on 127.0.0.1 on a free port, its config and TSDB in the test's folder), with a C-library
// server and `ipcscope serve --echo` answering known calls; `promtool` checks the exposition and
// the alerting rules of docs/prometheus. Every process is stopped by pid when the test ends.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeExporter
import IPCScopeKit
import IPCScopeObserve
import Testing
import TestSupport

@Suite("Exporter scraped by Prometheus", .serialized)
struct ExporterPrometheusTests {
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"
    static let curl = "/usr/bin/curl"

    /// A port nothing listens on now (bound to port 0 and released).
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: a.sin_port))
    }

    /// GET `url` with curl (5 s at most); the body, or nil.
    static func get(_ scope: TestScope, _ url: String, _ extra: [String] = []) -> String? {
        let c = scope.run(curl, ["-s", "-f", "--max-time", "5"] + extra + [url], timeout: 10)
        return c.exitStatus == 0 ? c.stdout : nil
    }

    /// The value of an instant query's single result, or nil while it has none.
    static func query(_ scope: TestScope, _ port: Int, _ promql: String) -> Double? {
        guard let body = get(scope, "http://127.0.0.1:\(port)/api/v1/query", ["-G", "--data-urlencode", "query=" + promql]),
              let j = jsonObject(body), let data = j["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]], result.count == 1,
              let value = result[0]["value"] as? [Any], value.count == 2, let text = value[1] as? String
        else { return nil }
        return Double(text)
    }

    /// The exporter on a free port (it prints the port it bound); returns the process and port.
    static func startExporter(_ scope: TestScope, _ services: [String]) throws -> (ChildProcess, Int) {
        let e = scope.spawn(ipcscopePath, ["exporter", "--listen", "127.0.0.1:0", "--service"] + services)
        try #require(e.waitForOutput("/metrics", timeout: 15), "exporter did not start: \(e.stderr)")
        let port = e.stderr.range(of: "http://127.0.0.1:").flatMap { Int(e.stderr[$0.upperBound...].prefix { $0.isNumber }) }
        return (e, try #require(port, "no port in: \(e.stderr)"))
    }

    /// Prometheus scraping `127.0.0.1:target` every second, its data in the scope's folder.
    static func startPrometheus(_ scope: TestScope, target: Int) throws -> (ChildProcess, Int) {
        let port = freePort()
        let config = scope.file("prometheus.yml", """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: ipcscope
                static_configs:
                  - targets: ['127.0.0.1:\(target)']

            """)
        let p = scope.spawn(prometheus, ["--config.file=" + config, "--storage.tsdb.path=" + scope.directory + "/tsdb",
                                         "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"])
        let ready = waitUntil(timeout: 30, interval: 0.2) { p.hasExited || get(scope, "http://127.0.0.1:\(port)/-/ready") != nil }
        try #require(ready && !p.hasExited, "prometheus did not start: \(p.stderr)")
        return (p, port)
    }

    /// The C library's echo server (Sources/MBVIPC with make, Tests/CLibrary/echo_server.cpp with c++).
    static func buildCServer(_ scope: TestScope) throws -> String {
        let lib = scope.directory + "/mbvipc", out = scope.directory + "/echo_server"
        let make = scope.run("/usr/bin/make", ["-s", "-C", repositoryRoot + "/Sources/MBVIPC", "O=" + lib], timeout: 180)
        try #require(make.exitStatus == 0, "make: \(make.stderr)")
        let cxx = scope.run("/usr/bin/c++", ["-std=c++11", "-I", repositoryRoot + "/Sources/MBVIPC/include", "-I", repositoryRoot + "/Sources/CIPCScope/include",
                                             "-o", out, repositoryRoot + "/Tests/CLibrary/echo_server.cpp", lib + "/libmbvipc.a", "-lpthread"], timeout: 180)
        try #require(cxx.exitStatus == 0, "c++: \(cxx.stderr)")
        return out
    }

    @Test("Prometheus reads exact call counts, a p50 in the trace ring's bucket, up 0 after SIGKILL, a takeover; promtool finds the output clean")
    func scrapedByPrometheus() throws {
        let scope = TestScope()
        defer { scope.cleanup() }  // SIGTERM then SIGKILL to every pid started here: prometheus, exporter, servers
        let cName = scope.serviceName("expc"), swiftName = scope.serviceName("expswift")
        let cServer = try Self.buildCServer(scope)
        let c = scope.spawn(cServer, [cName, "slow=20"])
        let cUp = waitUntil(timeout: 10) { c.stdout.contains("serving") || c.hasExited }
        try #require(cUp && !c.hasExited, "C server: \(c.stderr)")
        let swiftServer = scope.startEchoServer(swiftName, extra: ["--quiet"])
        try #require(!swiftServer.hasExited, "serve: \(swiftServer.stderr)")

        let (_, exporterPort) = try Self.startExporter(scope, [cName, swiftName])
        let (_, promPort) = try Self.startPrometheus(scope, target: exporterPort)

        for _ in 0..<6 { #expect(scope.ipcscope(["call", cName, "--function", "3", "--text", "slow"]).exitStatus == 0) }
        for _ in 0..<4 { #expect(scope.ipcscope(["call", swiftName, "--function", "1", "--text", "echo"]).exitStatus == 0) }

        // The counters, exactly, once a scrape after the calls landed.
        let counted = waitUntil(timeout: 20, interval: 0.5) {
            Self.query(scope, promPort, "ipcscope_calls_served_total{service=\"\(cName)\"}") == 6
                && Self.query(scope, promPort, "ipcscope_calls_served_total{service=\"\(swiftName)\"}") == 4
        }
        #expect(counted)
        #expect(Self.query(scope, promPort, "ipcscope_function_calls_total{service=\"\(cName)\",function=\"3\"}") == 6)
        #expect(Self.query(scope, promPort, "ipcscope_function_calls_total{service=\"\(swiftName)\",function=\"1\"}") == 4)
        #expect(Self.query(scope, promPort, "ipcscope_server_up{service=\"\(cName)\"}") == 1)

        // The median Prometheus computes from the buckets lies in the bucket of the median the ring recorded.
        let snap = try SectionReader(service: cName).snapshot()
        let latencies = snap.trace.filter { $0.function == 3 }.map { Double($0.latencyNS) / 1e9 }.sorted()
        try #require(latencies.count == 6)
        let median = (latencies[2] + latencies[3]) / 2
        let buckets = [0] + MetricCatalog.durationBuckets
        let hi = try #require(buckets.first { $0 >= latencies[3] }), lo = try #require(buckets.last { $0 < latencies[2] })
        let p50 = try #require(Self.query(scope, promPort, "histogram_quantile(0.5, ipcscope_call_duration_seconds_bucket{service=\"\(cName)\"})"))
        #expect(p50 >= lo && p50 <= hi, "p50 \(p50) outside [\(lo), \(hi)] around the ring's median \(median)")
        #expect(median >= 0.02, "slow=20 calls take 20 ms or more")

        // SIGKILL: up goes to 0 within two scrapes (1 s apart), give or take a query.
        swiftServer.signal(SIGKILL)
        _ = swiftServer.wait(timeout: 5)
        let killedAt = now()
        let down = waitUntil(timeout: 10, interval: 0.2) { Self.query(scope, promPort, "ipcscope_server_up{service=\"\(swiftName)\"}") == 0 }
        #expect(down)
        #expect(now() - killedAt < 3.5, "up still 1 \(now() - killedAt) s after SIGKILL")

        // A new server takes the stale section over: one takeover, up again, the count goes on.
        let second = scope.startEchoServer(swiftName, extra: ["--quiet"])
        try #require(!second.hasExited, "serve: \(second.stderr)")
        #expect(scope.ipcscope(["call", swiftName, "--function", "1", "--text", "again"]).exitStatus == 0)
        let takenOver = waitUntil(timeout: 15, interval: 0.5) {
            Self.query(scope, promPort, "ipcscope_server_takeovers_total{service=\"\(swiftName)\"}") == 1
                && Self.query(scope, promPort, "ipcscope_server_up{service=\"\(swiftName)\"}") == 1
        }
        #expect(takenOver)
        #expect(Self.query(scope, promPort, "ipcscope_server_epoch{service=\"\(swiftName)\"}") == 2)
        let served = Self.query(scope, promPort, "ipcscope_calls_served_total{service=\"\(swiftName)\"}") ?? 0
        #expect(served >= 5, "the count went back to \(served) after the takeover")

        // Every query of the Grafana dashboard is valid PromQL and finds series here.
        let dashboard = try #require(jsonObject(readFile(repositoryRoot + "/docs/grafana/ipcscope.json")))
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                let expr = try #require(target["expr"] as? String)
                let q = expr.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$instance", with: ".*")
                    .replacingOccurrences(of: "$service", with: ".*")
                let body = Self.get(scope, "http://127.0.0.1:\(promPort)/api/v1/query", ["-G", "--data-urlencode", "query=" + q]) ?? ""
                let j = jsonObject(body)
                #expect(j?["status"] as? String == "success", "dashboard query failed: \(q): \(body)")
                let result = (j?["data"] as? [String: Any])?["result"] as? [Any] ?? []
                #expect(!result.isEmpty, "dashboard query found nothing: \(q)")
            }
        }

        // promtool finds nothing wrong in the exposition.
        let metrics = try #require(Self.get(scope, "http://127.0.0.1:\(exporterPort)/metrics"))
        #expect(metrics.contains("ipcscope_exporter_scrape_duration_seconds"))
        let file = scope.file("metrics.txt", metrics)
        let check = scope.run("/bin/sh", ["-c", "\(Self.promtool) check metrics < '\(file)'"], timeout: 30)
        #expect(check.exitStatus == 0 && check.stdout.isEmpty && check.stderr.isEmpty, "promtool: \(check.stdout) \(check.stderr)")
        let index = try #require(Self.get(scope, "http://127.0.0.1:\(exporterPort)/"))
        #expect(index.contains("ipcscope_call_duration_seconds") && index.contains("/metrics"))
        #expect(Self.get(scope, "http://127.0.0.1:\(exporterPort)/nothing") == nil, "404 for other paths")
    }

    @Test("the alerting rules pass promtool check rules, and promtool test rules fires each alert (and none for a healthy service)")
    func alertingRules() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let dir = repositoryRoot + "/docs/prometheus"
        let check = scope.run(Self.promtool, ["check", "rules", dir + "/ipcscope-rules.yml"], timeout: 60)
        #expect(check.exitStatus == 0 && check.stdout.contains("SUCCESS: 5 rules found"), "\(check.stdout) \(check.stderr)")
        let test = scope.run(Self.promtool, ["test", "rules", dir + "/ipcscope-rules.test.yml"], timeout: 60)
        #expect(test.exitStatus == 0 && test.stdout.contains("SUCCESS"), "\(test.stdout) \(test.stderr)")
        let text = readFile(dir + "/ipcscope-rules.test.yml")
        for alert in ["IPCScopeServerDown", "IPCScopeServerHung", "IPCScopeMutexOwnerDied", "IPCScopeCallsRejected", "IPCScopeSlowCalls"] {
            #expect(text.contains("alertname: \(alert)\n        exp_alerts:\n          - exp_labels"), "no firing test for \(alert)")
        }
    }

    @Test("run as another user, the exporter skips and counts a section it may not read, and exports one it may")
    func anotherUsersSection() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let privateName = scope.serviceName("expprivate"), publicName = scope.serviceName("exppublic")
        var b = SectionBytes(traceCapacity: 0)
        b.server(pid: 0, epoch: 1, heartbeat: 1, served: 3)
        plantSection(privateName, bytes: b.bytes, size: b.bytes.count)  // root's, 0600
        plantSection(publicName, bytes: b.bytes, size: b.bytes.count)
        #expect(chmod("/dev/shm/ipcscope." + publicName, 0o644) == 0)
        let port = Self.freePort()
        _ = scope.spawn("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", otherUserRunnable(ipcscopePath),
                                             "exporter", "--listen", "127.0.0.1:\(port)", "--service", privateName, publicName])
        var text = ""
        let answered = waitUntil(timeout: 15, interval: 0.2) {
            text = Self.get(scope, "http://127.0.0.1:\(port)/metrics") ?? ""
            return !text.isEmpty
        }
        try #require(answered, "the exporter run as nobody did not answer")
        #expect(text.contains("ipcscope_calls_served_total{service=\"\(publicName)\"} 3"))
        #expect(!text.contains(privateName), "another user's private section exported")
        #expect(text.contains("ipcscope_exporter_errors_total{kind=\"unreadable\"} 1"))
    }

    @Test("bad --listen and --service are refused with a message saying what to do")
    func badArguments() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let a = scope.ipcscope(["exporter", "--listen", "9464"])
        #expect(a.exitStatus != 0 && a.stderr.contains("HOST:PORT"))
        let b = scope.ipcscope(["exporter", "--service", "bad/name"])
        #expect(b.exitStatus != 0 && b.stderr.contains("--service"))
        let port = Self.freePort()
        let blocker = scope.spawn(ipcscopePath, ["exporter", "--listen", "127.0.0.1:\(port)"])
        #expect(blocker.waitForOutput("/metrics", timeout: 15))
        let c = scope.ipcscope(["exporter", "--listen", "127.0.0.1:\(port)"])
        #expect(c.exitStatus == 1 && c.stderr.contains("cannot listen"))
    }
}
