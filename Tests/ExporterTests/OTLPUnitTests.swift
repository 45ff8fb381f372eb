// The OTLP pieces without a network: the endpoint parser's answers, and the OTLP/JSON metrics
// body of a real served section carrying the same figures as the Prometheus text.
import IPCScopeExporter
import IPCScopeKit
import IPCScopeObserve
import Foundation
import Testing
import TestSupport

@Suite("Exporter OTLP encoding", .serialized)
struct OTLPUnitTests {
    @Test("endpoints: http URLs with a default port and a base path; https, other schemes and bad ports refused with a reason")
    func endpoints() throws {
        let a = try OTLPEndpoint("http://127.0.0.1:4318")
        #expect(a.host == "127.0.0.1" && a.port == 4318 && a.path("metrics") == "/v1/metrics")
        let b = try OTLPEndpoint("http://collector/otlp/")
        #expect(b.host == "collector" && b.port == 4318 && b.path("traces") == "/otlp/v1/traces")
        let c = try OTLPEndpoint("http://[::1]:9999")
        #expect(c.host == "::1" && c.port == 9999 && c.description == "http://[::1]:9999")
        for (bad, why) in [("https://x:4318", "no TLS"), ("grpc://x", "not an http:// URL"), ("http://x:0", "not 1 to 65535"),
                           ("http://x:abc", "bad port"), ("http://:4318", "no host"), ("http://x/p?q=1", "no query")] {
            #expect(throws: OTLPEndpointError.self) { try OTLPEndpoint(bad) }
            do { _ = try OTLPEndpoint(bad) } catch { #expect(error.message.contains(why), "\(bad): \(error.message)") }
        }
    }

    @Test("the OTLP metrics body of a served section has the Prometheus text's figures, and a sampled span per call")
    func sameFigures() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("otlpunit")
        let server = try ExporterModelTests.EchoServer(name)
        defer { server.stop() }
        let service = ExporterService(options: ExporterOptions(services: [name], traceSample: 1), otlp: true)
        let client = try Client(service: name)
        for _ in 0..<5 { _ = try client.call(function: 9, payload: Array("x".utf8)) }
        let batch = service.otlpBatch()
        let prom = samples(String(decoding: service.metrics(), as: UTF8.self))
        #expect(prom.value("ipcscope_function_calls_total", ["service": name, "function": "9"]) == 5)
        let body = try #require(jsonObject(String(decoding: batch.metrics, as: UTF8.self)))
        let metrics = (((body["resourceMetrics"] as? [[String: Any]])?.first?["scopeMetrics"] as? [[String: Any]])?.first?["metrics"]
            as? [[String: Any]]) ?? []
        func point(_ metric: String) -> [String: Any]? {
            let m = metrics.first { $0["name"] as? String == metric }
            let data = (m?["sum"] ?? m?["histogram"] ?? m?["gauge"]) as? [String: Any]
            return (data?["dataPoints"] as? [[String: Any]])?.first { p in
                (p["attributes"] as? [[String: Any]] ?? []).contains { ($0["value"] as? [String: Any])?["stringValue"] as? String == name }
            }
        }
        #expect(point("ipcscope.function.calls")?["asInt"] as? String == "5")
        #expect(point("ipcscope.calls.served")?["asInt"] as? String == "5")
        let h = try #require(point("rpc.server.call.duration"))
        #expect(h["count"] as? String == "5")
        #expect(((h["bucketCounts"] as? [String]) ?? []).compactMap { Int($0) }.reduce(0, +) == 5)
        #expect(point("ipcscope.server.up")?["asDouble"] as? Double == 1)
        #expect(batch.spanCount == 5)
        let tracesBody = try #require(batch.traces)
        let traces = try #require(jsonObject(String(decoding: tracesBody, as: UTF8.self)))
        let spans = (((traces["resourceSpans"] as? [[String: Any]])?.first?["scopeSpans"] as? [[String: Any]])?.first?["spans"]
            as? [[String: Any]]) ?? []
        #expect(spans.count == 5 && spans.allSatisfy { $0["name"] as? String == "ipcscope/9" })
        #expect(spans.allSatisfy { ($0["traceId"] as? String)?.count == 32 && ($0["spanId"] as? String)?.count == 16 })
        // The calls were taken: the next batch has no spans.
        #expect(service.otlpBatch().traces == nil)
    }
}
