import IPCScopeKit
import Prometheus

/// One series' current figures, kept beside its Prometheus object: swift-prometheus renders text
/// but does not give its values back, and the OTLP push sends the same figures.
package final class SeriesValue {
    package let info: MetricInfo
    package let labels: [(String, String)]
    /// When the series was registered (unix ns): the start of a cumulative OTLP point.
    package let startUnixNS: UInt64
    /// A counter's total or a gauge's value.
    package var value: Double = 0
    /// A histogram's count per bucket (not cumulative; the last one is past the last bound).
    package var bucketCounts: [UInt64] = []
    package var sum: Double = 0
    package var count: UInt64 = 0

    init(_ info: MetricInfo, _ labels: [(String, String)]) {
        self.info = info
        self.labels = labels
        startUnixNS = realtimeNanoseconds()
        if info.kind == .histogram { bucketCounts = Array(repeating: 0, count: MetricCatalog.durationBuckets.count + 1) }
    }

    /// A copy of the figures as they are now (taken under the model's lock, encoded outside it).
    package var point: SeriesPoint {
        SeriesPoint(info: info, labels: labels, startUnixNS: startUnixNS, value: value, bucketCounts: bucketCounts, sum: sum, count: count)
    }
}

/// A `SeriesValue` copied out of the model.
package struct SeriesPoint: Sendable {
    package var info: MetricInfo
    package var labels: [(String, String)]
    package var startUnixNS: UInt64
    package var value: Double
    package var bucketCounts: [UInt64]
    package var sum: Double
    package var count: UInt64
}

struct CounterSeries {
    let prometheus: Counter
    let value: SeriesValue
    func increment(by n: Int64 = 1) {
        prometheus.increment(by: n)
        value.value += Double(n)
    }
}

struct GaugeSeries {
    let prometheus: Gauge
    let value: SeriesValue
    func set(_ v: Double) {
        prometheus.set(v)
        value.value = v
    }
}

struct HistogramSeries {
    let prometheus: ValueHistogram
    let value: SeriesValue
    func record(_ v: Double) {
        prometheus.record(v)
        // Prometheus' `le`: a value on a bound counts in that bound's bucket (OTLP's rule too).
        let i = MetricCatalog.durationBuckets.firstIndex { v <= $0 } ?? MetricCatalog.durationBuckets.count
        value.bucketCounts[i] += 1
        value.sum += v
        value.count += 1
    }
}

/// Every live series: registered in the Prometheus registry and kept here, so both exports
/// name the same series with the same figures. Not thread-safe (the model's lock).
package final class SeriesTable {
    package let registry: PrometheusCollectorRegistry
    private var live: [ObjectIdentifier: SeriesValue] = [:]

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    /// The figures of every live series, in a stable order (metric, then labels).
    package var points: [SeriesPoint] {
        live.values.map(\.point).sorted { a, b in
            a.info.name != b.info.name ? a.info.name < b.info.name
                : a.labels.map { $0.0 + "=" + $0.1 }.joined(separator: ",") < b.labels.map { $0.0 + "=" + $0.1 }.joined(separator: ",")
        }
    }

    private func track(_ m: MetricInfo, _ labels: [(String, String)]) -> SeriesValue {
        let v = SeriesValue(m, labels)
        live[ObjectIdentifier(v)] = v
        return v
    }

    func counter(_ m: MetricInfo, _ labels: [(String, String)] = []) -> CounterSeries {
        CounterSeries(prometheus: registry.counter(m, labels), value: track(m, labels))
    }
    func gauge(_ m: MetricInfo, _ labels: [(String, String)] = []) -> GaugeSeries {
        GaugeSeries(prometheus: registry.gauge(m, labels), value: track(m, labels))
    }
    func histogram(_ m: MetricInfo, _ labels: [(String, String)]) -> HistogramSeries {
        HistogramSeries(prometheus: registry.histogram(m, labels, buckets: MetricCatalog.durationBuckets), value: track(m, labels))
    }

    func remove(_ s: CounterSeries) {
        registry.unregisterCounter(s.prometheus)
        live[ObjectIdentifier(s.value)] = nil
    }
    func remove(_ s: GaugeSeries) {
        registry.unregisterGauge(s.prometheus)
        live[ObjectIdentifier(s.value)] = nil
    }
    func remove(_ s: HistogramSeries) {
        registry.unregisterValueHistogram(s.prometheus)
        live[ObjectIdentifier(s.value)] = nil
    }
}
