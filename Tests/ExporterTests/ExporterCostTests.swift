// What one scrape costs: 100 live sections (servers created in-process, each holding its
// liveness lock), each with a trace ring, read and rendered by one scrape.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeExporter
import IPCScopeKit
import Testing
import TestSupport

@Suite("Exporter cost", .serialized)
struct ExporterCostTests {
    @Test("one scrape of 100 live sections takes well under 50 ms (median of 20; printed)")
    func hundredSections() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var servers: [Server] = []
        defer { servers.removeAll() }
        var names: [String] = []
        for _ in 0..<100 {
            let n = scope.serviceName("expcost")
            servers.append(try Server(service: n))
            names.append(n)
        }
        let model = ExporterModel(options: ExporterOptions(services: names))
        let first = now()
        let text = String(decoding: model.scrape(), as: UTF8.self)
        let firstMS = (now() - first) * 1000
        let s = samples(text)
        #expect(s.value("ipcscope_exporter_sections", ["condition": "live"]) == 100)
        var times: [Double] = []
        for _ in 0..<20 {
            let t = now()
            _ = model.scrape()
            times.append((now() - t) * 1000)
        }
        times.sort()
        let median = times[10]
        func ms(_ x: Double) -> String { "\((x * 10).rounded() / 10)" }
        print("exporter cost: one scrape of 100 live sections: first \(ms(firstMS)) ms, median \(ms(median)) ms, max \(ms(times.last!)) ms")
        // The target is 50 ms; the bound leaves room for a loaded 2-core machine.
        #expect(median < 50, "median scrape \(median) ms")
    }
}
