/// The section's own counters at the end of a demo run (read from the section, not the clients).
package struct DemoSectionCounters: Sendable {
    /// `calls_served`: calls the server answered.
    package var callsServed: UInt64
    /// `lock_count`: mutex acquisitions.
    package var lockCount: UInt64
    /// `contended_count`: acquisitions that had to wait.
    package var contendedCount: UInt64
    /// `recovered_count`: acquisitions that repaired a dead owner's mutex.
    package var recoveredCount: UInt64
    /// `server_epoch`.
    package var epoch: UInt32

    package init(callsServed: UInt64, lockCount: UInt64, contendedCount: UInt64, recoveredCount: UInt64, epoch: UInt32) {
        self.callsServed = callsServed
        self.lockCount = lockCount
        self.contendedCount = contendedCount
        self.recoveredCount = recoveredCount
        self.epoch = epoch
    }
}

/// What `ipcscope demo --no-tui` prints at the end: calls by function, errors by status,
/// latency percentiles, the mutex counters, and whether everything was cleaned up.
package struct DemoSummary: Sendable {
    package var service: String
    package var stats: DemoStats
    package var section: DemoSectionCounters?
    /// Whether `/dev/shm/ipcscope.<service>` is gone after the stop.
    package var sectionRemoved: Bool
    /// Client processes that did not send a report (killed, crashed).
    package var missingReports: Int

    package init(service: String, stats: DemoStats, section: DemoSectionCounters?, sectionRemoved: Bool, missingReports: Int) {
        self.service = service
        self.stats = stats
        self.section = section
        self.sectionRemoved = sectionRemoved
        self.missingReports = missingReports
    }

    /// Latency at a percentile, in nanoseconds (0 when nothing was answered).
    package func latencyNS(_ percentile: Double) -> UInt64 {
        stats.latency.totalCount == 0 ? 0 : stats.latency.valueAtPercentile(percentile)
    }

    private var seconds: Double { Double(stats.elapsedNS) / 1e9 }

    // MARK: - text

    /// Several lines for a person.
    package var text: String {
        let s = stats
        var out: [String] = []
        func row(_ k: String, _ v: String) { out.append(k.padded(13) + v) }
        out.append("ipcscope demo: \(s.clients) client processes, \(format(seconds, 1)) s of traffic on '\(service)'")
        let rate = seconds > 0 ? Double(s.calls) / seconds : 0
        row("calls", "\(s.calls) made (\(format(rate, 0))/s), \(s.answered) answered, \(s.failed) without an answer")
        row("by function", s.callsByFunction.sorted { $0.key < $1.key }
            .map { "\(DemoFunction.name(of: $0.key)) \($0.value)" }.joined(separator: ", "))
        row("by status", s.answersByStatus.sorted { ($0.key != 0 ? 1 : 0, $0.key) < ($1.key != 0 ? 1 : 0, $1.key) }
            .map { "\($0.key) \(DemoStatus.meaning($0.key)): \($0.value)" }.joined(separator: ", "))
        var errors = "\(s.errorAnswers) answered with a non-zero status"
        if !s.failures.isEmpty {
            errors += "; no answer: " + s.failures.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        } else {
            errors += "; none without an answer"
        }
        row("errors", errors)
        if s.latency.totalCount > 0 {
            row("latency", "p50 \(duration(latencyNS(50))), p90 \(duration(latencyNS(90))), p99 \(duration(latencyNS(99))), max \(duration(s.latency.max)) (round trip, as the clients saw it)")
        } else {
            row("latency", "-")
        }
        if let c = section {
            row("section", "\(c.callsServed) calls served; mutex \(c.lockCount) locks, \(c.contendedCount) contended, \(c.recoveredCount) recovered; epoch \(c.epoch)")
        }
        if missingReports > 0 { row("note", "\(missingReports) client(s) sent no report") }
        row("cleanup", sectionRemoved ? "server stopped, clients ended, /dev/shm/ipcscope.\(service) removed"
                                      : "/dev/shm/ipcscope.\(service) is STILL THERE: remove it with 'ipcscope clean \(service)'")
        return out.joined(separator: "\n") + "\n"
    }

    // MARK: - JSON

    /// One JSON object, on one line.
    package var json: String {
        let s = stats
        var o: [(String, String)] = [
            ("service", quote(service)), ("clients", "\(s.clients)"), ("seconds", format(seconds, 3)),
            ("calls", "\(s.calls)"), ("answered", "\(s.answered)"), ("errors", "\(s.errorAnswers + s.failed)"),
            ("calls_by_function", object(s.callsByFunction.sorted { $0.key < $1.key }.map { (DemoFunction.name(of: $0.key), "\($0.value)") })),
            ("answers_by_status", object(s.answersByStatus.sorted { $0.key < $1.key }.map { ("\($0.key)", "\($0.value)") })),
            ("failures", object(s.failures.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") })),
            ("latency_ns", object([("p50", "\(latencyNS(50))"), ("p90", "\(latencyNS(90))"), ("p99", "\(latencyNS(99))"),
                                   ("max", "\(s.latency.totalCount == 0 ? 0 : s.latency.max)")])),
            ("bytes_sent", "\(s.bytesSent)"), ("bytes_received", "\(s.bytesReceived)"),
        ]
        if let c = section {
            o.append(("section", object([("calls_served", "\(c.callsServed)"), ("lock_count", "\(c.lockCount)"),
                                         ("contended_count", "\(c.contendedCount)"), ("recovered_count", "\(c.recoveredCount)"),
                                         ("epoch", "\(c.epoch)")])))
        }
        o.append(("missing_reports", "\(missingReports)"))
        o.append(("section_removed", sectionRemoved ? "true" : "false"))
        return object(o)
    }

    private func object(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { quote($0.0) + ":" + $0.1 }.joined(separator: ",") + "}"
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

// MARK: - formatting

/// `x` with `digits` decimals.
func format(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (x * scale).rounded() / scale
    if digits == 0 { return "\(Int(r))" }
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

/// Nanoseconds for a person: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
package func duration(_ ns: UInt64) -> String {
    let x = Double(ns)
    if ns < 1_000 { return "\(ns) ns" }
    if ns < 1_000_000 { return format(x / 1e3, x < 1e4 ? 2 : 1) + " µs" }
    if ns < 1_000_000_000 { return format(x / 1e6, x < 1e7 ? 2 : 1) + " ms" }
    return format(x / 1e9, 2) + " s"
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
