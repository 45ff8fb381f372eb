// The docs, the rules and the dashboard name the metrics the exporter writes, and only those.
import IPCScopeExporter
import IPCScopePOSIX
import Testing
import TestSupport

@Suite("Exporter docs")
struct ExporterDocsTests {
    /// Every `ipcscope_…` word in `text` (not the bare prefix, not the C header's file name).
    static func metricNames(_ text: String) -> Set<String> {
        var out: Set<String> = []
        var word = ""
        for ch in text + " " {
            if ch.isLetter || ch.isNumber || ch == "_" { word.append(ch); continue }
            if word.hasPrefix("ipcscope_"), word != "ipcscope_", ch != "." { out.insert(word) }
            word = ""
        }
        return out
    }

    /// A name the exporter writes: a catalogue name, or a histogram's `_bucket`/`_sum`/`_count`.
    static func known(_ name: String) -> Bool {
        MetricCatalog.all.contains { m in
            m.name == name || (m.kind == .histogram && ["_bucket", "_sum", "_count"].contains { m.name + $0 == name })
        }
    }

    @Test("docs/observability.md lists every metric in its table")
    func observabilityTable() throws {
        let doc = try #require(readTextFile(repositoryRoot + "/docs/observability.md"))
        for m in MetricCatalog.all { #expect(doc.contains("| `\(m.name)` | \(m.kind.rawValue) |"), "\(m.name) missing from the table") }
    }

    @Test("the alerting rules, the dashboard and the docs use only metrics the exporter writes")
    func onlyKnownNames() throws {
        for file in ["docs/prometheus/ipcscope-rules.yml", "docs/prometheus/ipcscope-rules.test.yml", "docs/grafana/ipcscope.json",
                     "docs/observability.md", "README.md"] {
            let text = try #require(readTextFile(repositoryRoot + "/" + file), "\(file) unreadable")
            let names = Self.metricNames(text)
            #expect(!names.isEmpty, "\(file) names no metric")
            for n in names where !Self.known(n) { Issue.record("\(file) names \(n), which the exporter does not write") }
        }
    }
}
