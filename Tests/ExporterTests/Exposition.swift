// Reading the Prometheus text exposition back, for the tests.

/// One sample line: `name{label="value",…} value`.
struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// The samples of an exposition (comments skipped). Label values here never hold quotes.
func samples(_ text: String) -> [Sample] {
    var out: [Sample] = []
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        let series = line[..<space]
        var labels: [String: String] = [:]
        var name = String(series)
        if let brace = series.firstIndex(of: "{") {
            name = String(series[..<brace])
            let inner = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            for pair in inner.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
        }
        out.append(Sample(name: name, labels: labels, value: value))
    }
    return out
}

extension [Sample] {
    /// The value of the one sample of `name` whose labels include `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let hits = filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }
        return hits.count == 1 ? hits[0].value : nil
    }

    /// Every sample mentioning `service`.
    func of(service: String) -> [Sample] { filter { $0.labels["service"] == service } }
}
