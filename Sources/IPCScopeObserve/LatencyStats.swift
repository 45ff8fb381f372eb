/// Latency statistics of served calls, from their trace records: the one place `attach`'s
/// latency pane, `watch --stats` and `status` compute percentiles (an HdrHistogram each, three
/// significant digits: a percentile is the nearest-rank value to 0.1%, never above it).
///
/// A call's latency is `done_ns − sent_ns`. The server answers one call at a time, so a call's
/// service cannot start before `max(sent_ns, the previous call's done_ns)`: the time before that
/// is **queued** (behind other calls), the time after it is **service** (the server's handling).
/// The split needs the previous call's record (`seq − 1`); a call whose predecessor was never
/// seen (missed, or the first one) counts in the totals but not in the split.
///
/// Clients of this framework and of libmbvipc stamp `sent_ns` after they hold the mutex and the
/// slot is free, so their calls never queue by this measure: clients waiting for each other wait
/// at the mutex, before `sent_ns`, where no trace record sees it (`lock_count` and
/// `contended_count` in the header count those waits; the pane shows them beside the split).
import Histogram

package struct LatencyStats: Sendable {
    /// The percentiles of one histogram, in nanoseconds.
    package struct Summary: Sendable, Equatable {
        package var count: UInt64 = 0
        package var min: UInt64 = 0
        package var p50: UInt64 = 0
        package var p90: UInt64 = 0
        package var p99: UInt64 = 0
        package var p999: UInt64 = 0
        package var max: UInt64 = 0
        /// The sum of every value (for the busy fraction), saturating.
        package var total: UInt64 = 0
        package init() {}
    }

    /// One function's calls (or all calls): latency, and the split into queued and service time.
    package struct Series: Sendable {
        package private(set) var latency = LatencyStats.histogram()
        package private(set) var queued = LatencyStats.histogram()
        package private(set) var service = LatencyStats.histogram()
        package private(set) var latencyTotal: UInt64 = 0
        package private(set) var serviceTotal: UInt64 = 0
        /// Calls with a non-zero status (rejected ones included).
        package private(set) var failed: UInt64 = 0
        package init() {}

        mutating func add(latencyNS: UInt64, split: (queued: UInt64, service: UInt64)?, failed isFailed: Bool) {
            let v = Swift.min(latencyNS, LatencyStats.highest)
            _ = latency.record(v)
            latencyTotal = latencyTotal.addingReportingOverflow(v).overflow ? .max : latencyTotal + v
            if isFailed { failed += 1 }
            if let split {
                _ = queued.record(Swift.min(split.queued, LatencyStats.highest))
                let s = Swift.min(split.service, LatencyStats.highest)
                _ = service.record(s)
                serviceTotal = serviceTotal.addingReportingOverflow(s).overflow ? .max : serviceTotal + s
            }
        }

        /// Calls counted.
        package var count: UInt64 { latency.totalCount }
        /// Calls whose queued/service split is known.
        package var splitCount: UInt64 { service.totalCount }
        package var summary: Summary { LatencyStats.summary(latency, total: latencyTotal) }
        package var queuedSummary: Summary { LatencyStats.summary(queued, total: 0) }
        package var serviceSummary: Summary { LatencyStats.summary(service, total: serviceTotal) }
    }

    /// All calls.
    package private(set) var all = Series()
    /// Per function number; at most `maxFunctions` of them (a hostile trace may name billions),
    /// the rest counted in `all` only and in `otherCalls`.
    package private(set) var functions: [UInt32: Series] = [:]
    /// Calls of functions past `maxFunctions`.
    package private(set) var otherCalls: UInt64 = 0
    /// The earliest `sent_ns` and the latest `done_ns` counted (0 when none).
    package private(set) var firstSentNS: UInt64 = 0
    package private(set) var lastDoneNS: UInt64 = 0
    private var previous: (seq: UInt64, doneNS: UInt64)?

    /// How many functions get their own series.
    package static let maxFunctions = 64
    /// Latencies are clamped to an hour (the histograms' range).
    package static let highest: UInt64 = 3_600_000_000_000

    package init() {}

    /// A histogram of nanoseconds, 1 ns to an hour, three significant digits, sized as values come.
    static func histogram() -> Histogram<UInt64> {
        var h = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        h.autoResize = true
        return h
    }

    static func summary(_ h: Histogram<UInt64>, total: UInt64) -> Summary {
        var s = Summary()
        s.count = h.totalCount
        guard s.count > 0 else { return s }
        s.min = h.min
        s.max = h.maxRecorded
        // The lowest value of the bucket holding the rank (HdrHistogram reports the highest, up
        // to 0.1% over any value recorded; the lowest never overstates a latency).
        func at(_ p: Double) -> UInt64 { Swift.max(s.min, Swift.min(s.max, h.lowestEquivalentForValue(h.valueAtPercentile(p)))) }
        s.p50 = at(50)
        s.p90 = at(90)
        s.p99 = at(99)
        s.p999 = at(99.9)
        s.total = total
        return s
    }

    /// Adds one call. Its queued/service split uses `previousDoneNS` when given, else the
    /// previous call added when that was `seq − 1`.
    package mutating func add(_ r: TraceRecord, previousDoneNS: UInt64? = nil) {
        let prevDone = previousDoneNS ?? previous.flatMap { $0.seq &+ 1 == r.seq ? $0.doneNS : nil }
        let split = prevDone.map { p -> (queued: UInt64, service: UInt64) in
            let start = r.serviceStartNS(previousDoneNS: p)
            return (start - Swift.min(start, r.sentNS), r.doneNS - Swift.min(r.doneNS, start))
        }
        let failed = r.status != 0 || r.rejected
        all.add(latencyNS: r.latencyNS, split: split, failed: failed)
        if functions[r.function] != nil || functions.count < LatencyStats.maxFunctions {
            functions[r.function, default: Series()].add(latencyNS: r.latencyNS, split: split, failed: failed)
        } else {
            otherCalls += 1
        }
        if r.sentNS > 0 && (firstSentNS == 0 || r.sentNS < firstSentNS) { firstSentNS = r.sentNS }
        lastDoneNS = Swift.max(lastDoneNS, r.doneNS)
        if previous.map({ r.seq > $0.seq }) ?? true { previous = (r.seq, r.doneNS) }
    }

    /// Adds records in `seq` order (each one's predecessor is the record before it when its
    /// `seq` is one less).
    package mutating func add(_ records: some Sequence<TraceRecord>) {
        for r in records { add(r) }
    }

    /// The series of `function`, or of all calls when nil.
    package func series(_ function: UInt32?) -> Series? {
        guard let function else { return all.count > 0 ? all : nil }
        return functions[function]
    }

    /// Function numbers, most calls first (ties: lower number first).
    package var functionsByCalls: [UInt32] {
        functions.sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }.map(\.key)
    }

    /// Forgets everything.
    package mutating func reset() { self = LatencyStats() }

    /// Takes the last call counted by `other` as the one before the next call added here (for
    /// the queued/service split across intervals).
    package mutating func carryPrevious(from other: LatencyStats) { previous = other.previous }
}

extension TraceRecord {
    /// When the server can have started on this call: not before it was sent, nor before the
    /// previous call was answered (the server answers one call at a time); never after its own
    /// answer.
    package func serviceStartNS(previousDoneNS: UInt64?) -> UInt64 {
        LatencyStats.serviceStartNS(sentNS: sentNS, doneNS: doneNS, previousDoneNS: previousDoneNS)
    }
}

extension LatencyStats {
    /// When the server can have started on a call sent at `sentNS` and answered at `doneNS`:
    /// not before it was sent, nor before the previous call was answered (the server answers one
    /// call at a time); never after its own answer. The one formula behind the latency pane's
    /// split and the server slices of `ipcscope timeline`.
    package static func serviceStartNS(sentNS: UInt64, doneNS: UInt64, previousDoneNS: UInt64?) -> UInt64 {
        Swift.min(doneNS, Swift.max(sentNS, previousDoneNS ?? 0))
    }
}

// MARK: - text and JSON for the command line

extension LatencyStats.Summary {
    /// `p50 12.3 µs  p99 45.6 µs  max 1.02 ms`, the percentiles `which` names.
    package func text(_ which: [LatencyStats.Percentile] = [.p50, .p90, .p99, .p999, .max]) -> String {
        which.map { $0.label + " " + Units.duration(ns: $0.value(self)) }.joined(separator: "  ")
    }

    /// `{"count":N,"p50_ns":..,"p90_ns":..,"p99_ns":..,"p99_9_ns":..,"max_ns":..}`.
    package var jsonPairs: [(String, JSON)] {
        [("count", .uint(count))] + LatencyStats.Percentile.allCases.map { ($0.jsonKey, .uint($0.value(self))) }
    }
}

extension LatencyStats {
    /// The percentiles shown, in order.
    package enum Percentile: CaseIterable, Sendable {
        case p50, p90, p99, p999, max

        package var label: String {
            switch self {
            case .p50: "p50"
            case .p90: "p90"
            case .p99: "p99"
            case .p999: "p99.9"
            case .max: "max"
            }
        }

        package var jsonKey: String {
            switch self {
            case .p50: "p50_ns"
            case .p90: "p90_ns"
            case .p99: "p99_ns"
            case .p999: "p99_9_ns"
            case .max: "max_ns"
            }
        }

        package func value(_ s: Summary) -> UInt64 {
            switch self {
            case .p50: s.p50
            case .p90: s.p90
            case .p99: s.p99
            case .p999: s.p999
            case .max: s.max
            }
        }
    }

    /// One JSON object per series: `all` first, then each function by number.
    /// `name` gives a function's schema name, when known.
    package func json(name: (UInt32) -> String? = { _ in nil }) -> JSON {
        func seriesJSON(_ s: Series) -> JSON {
            var pairs = s.summary.jsonPairs
            pairs.append(("failed", .uint(s.failed)))
            pairs.append(("split_count", .uint(s.splitCount)))
            pairs.append(("queued", .object(s.queuedSummary.jsonPairs.dropFirst().map { $0 })))
            pairs.append(("service", .object(s.serviceSummary.jsonPairs.dropFirst().map { $0 })))
            return .object(pairs)
        }
        var fns: [JSON] = []
        for f in functions.keys.sorted() {
            guard let s = functions[f] else { continue }
            guard case .object(let pairs) = seriesJSON(s) else { continue }
            fns.append(.object([("function", .number(f)), ("name", name(f).map { .string($0) } ?? .null)] + pairs))
        }
        return .object([("all", seriesJSON(all)), ("functions", .array(fns)), ("other_calls", .uint(otherCalls))])
    }
}

extension LatencyStats {
    /// One line per series for a terminal: `all calls`, then each function by number, each with
    /// its count, percentiles and (when known) the queued/service split.
    ///
    ///     all        calls 12  p50 21.4 µs  p90 30.1 µs  p99 1.21 ms  p99.9 1.21 ms  max 1.21 ms  queued p99 0 ns  service p99 1.21 ms
    ///     fn 1 echo   calls 10  ...
    package func textLines(name: (UInt32) -> String? = { _ in nil }) -> [String] {
        func label(_ f: UInt32?) -> String {
            guard let f else { return "all" }
            return "fn \(f)" + (name(f).map { " " + $0 } ?? "")
        }
        let labels = [nil] + functions.keys.sorted().map { Optional($0) }
        let width = labels.map { label($0).count }.max() ?? 3
        return labels.compactMap { f -> String? in
            guard let s = series(f) else { return nil }
            let l = label(f)
            var line = l + String(repeating: " ", count: max(0, width - l.count)) + "  calls \(s.count)  " + s.summary.text()
            if s.failed > 0 { line += "  status≠0 \(s.failed)" }
            if s.splitCount > 0 {
                line += "  queued p99 " + Units.duration(ns: s.queuedSummary.p99) + "  service p99 " + Units.duration(ns: s.serviceSummary.p99)
            }
            return line
        } + (otherCalls > 0 ? ["(\(otherCalls) calls of functions past the first \(LatencyStats.maxFunctions) are in 'all' only)"] : [])
    }
}
