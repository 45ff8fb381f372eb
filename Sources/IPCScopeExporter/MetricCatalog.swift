/// Every metric the exporter writes: name, type, labels and meaning. The exporter registers
/// metrics only through this table, so `/`, the docs and the tests name the same things.
package struct MetricInfo: Sendable, Equatable {
    package enum Kind: String, Sendable { case counter, gauge, histogram }
    /// The full Prometheus name (`ipcscope_` prefix, base units, `_total` on counters).
    package var name: String
    package var kind: Kind
    /// Label names besides none (`service`, `function`, `state`, `kind`, `condition`).
    package var labels: [String]
    /// The `# HELP` text.
    package var help: String
}

package enum MetricCatalog {
    // MARK: - per section (label `service`)
    package static let serverUp = MetricInfo(name: "ipcscope_server_up", kind: .gauge, labels: ["service"],
        help: "1 when a server holds the section's liveness lock, 0 when none does (stale section).")
    package static let epoch = MetricInfo(name: "ipcscope_server_epoch", kind: .gauge, labels: ["service"],
        help: "The section's server_epoch: +1 at every start or takeover of the section object.")
    package static let takeovers = MetricInfo(name: "ipcscope_server_takeovers_total", kind: .counter, labels: ["service"],
        help: "Takeovers of the section object by a new server (server_epoch increments; epoch - 1 at first sight).")
    package static let heartbeatAge = MetricInfo(name: "ipcscope_server_heartbeat_age_seconds", kind: .gauge, labels: ["service"],
        help: "Seconds since the server last refreshed heartbeat_ns (over 5 s while up: hung).")
    package static let state = MetricInfo(name: "ipcscope_section_state", kind: .gauge, labels: ["service", "state"],
        help: "1 for the protocol state the section is in (IDLE, REQUEST_READY, PROCESSING, RESPONSE_READY), 0 for the others.")
    package static let callsServed = MetricInfo(name: "ipcscope_calls_served_total", kind: .counter, labels: ["service"],
        help: "Calls the servers of this section answered (calls_served, folded across restarts).")
    package static let callsRejected = MetricInfo(name: "ipcscope_calls_rejected_total", kind: .counter, labels: ["service"],
        help: "Calls the servers rejected (bad request size; calls_rejected, folded across restarts).")
    package static let functionCalls = MetricInfo(name: "ipcscope_function_calls_total", kind: .counter, labels: ["service", "function"],
        help: "Calls per function read from the trace ring (function: the schema's name, the number, or other past the limit).")
    package static let callDuration = MetricInfo(name: "ipcscope_call_duration_seconds", kind: .histogram, labels: ["service", "function"],
        help: "Call latency as the server saw it (trace record done - sent), per function.")
    package static let mutexLocks = MetricInfo(name: "ipcscope_mutex_locks_total", kind: .counter, labels: ["service"],
        help: "Acquisitions of the section's robust mutex (lock_count).")
    package static let mutexContended = MetricInfo(name: "ipcscope_mutex_contended_total", kind: .counter, labels: ["service"],
        help: "Acquisitions that found the mutex held (contended_count).")
    package static let mutexRecovered = MetricInfo(name: "ipcscope_mutex_recovered_total", kind: .counter, labels: ["service"],
        help: "Acquisitions that got EOWNERDEAD and repaired the section (recovered_count).")
    package static let serverWaiting = MetricInfo(name: "ipcscope_server_waiting_threads", kind: .gauge, labels: ["service"],
        help: "Server threads waiting on request_event (server_waiting).")
    package static let clientWaiting = MetricInfo(name: "ipcscope_client_waiting_threads", kind: .gauge, labels: ["service"],
        help: "Client threads waiting on response_event (client_waiting).")
    package static let mutexWaiters = MetricInfo(name: "ipcscope_mutex_waiters", kind: .gauge, labels: ["service"],
        help: "1 when FUTEX_WAITERS is set in the mutex word: someone sleeps in the kernel on the mutex.")
    package static let traceMissed = MetricInfo(name: "ipcscope_trace_records_missed_total", kind: .counter, labels: ["service"],
        help: "Trace records the server wrote that the ring overwrote before the exporter read them.")
    package static let ownerDied = MetricInfo(name: "ipcscope_mutex_owner_died_total", kind: .counter, labels: ["service"],
        help: "Times the exporter saw the mutex held by a thread that no longer exists (or FUTEX_OWNER_DIED set).")
    // MARK: - the exporter itself
    package static let scrapeDuration = MetricInfo(name: "ipcscope_exporter_scrape_duration_seconds", kind: .gauge, labels: [],
        help: "How long reading every section took in the last scrape.")
    package static let sections = MetricInfo(name: "ipcscope_exporter_sections", kind: .gauge, labels: ["condition"],
        help: "ipcscope.* objects in /dev/shm seen in the last scrape, by condition (live, stale, starting, skipped).")
    package static let errors = MetricInfo(name: "ipcscope_exporter_errors_total", kind: .counter, labels: ["kind"],
        help: "Objects skipped or failures, by kind (invalid_name, not_regular, unreadable, corrupt, schema, read, agent).")

    package static let otlpExports = MetricInfo(name: "ipcscope_exporter_otlp_exports_total", kind: .counter, labels: ["signal", "result"],
        help: "OTLP pushes by signal (metrics, traces) and result: ok, failed (the collector did not answer or asked to retry; retried), rejected (4xx; dropped).")
    package static let otlpDropped = MetricInfo(name: "ipcscope_exporter_otlp_dropped_total", kind: .counter, labels: ["signal"],
        help: "Spans (traces) or unsent metric batches (metrics) dropped because the OTLP queue was full or the collector rejected them.")
    package static let otlpQueued = MetricInfo(name: "ipcscope_exporter_otlp_queued", kind: .gauge, labels: ["signal"],
        help: "Spans (traces) or metric batches (metrics) waiting to be sent to the OTLP collector.")

    /// Every metric, in the order `/` and docs/observability.md list them.
    package static let all: [MetricInfo] = [
        serverUp, epoch, takeovers, heartbeatAge, state, callsServed, callsRejected, functionCalls, callDuration,
        mutexLocks, mutexContended, mutexRecovered, serverWaiting, clientWaiting, mutexWaiters, traceMissed, ownerDied,
        scrapeDuration, sections, errors, otlpExports, otlpDropped, otlpQueued,
    ]

    /// The latency buckets (seconds): 1 µs to 10 s, 1-2.5-5 per decade, for calls that take
    /// microseconds when served in shared memory and seconds when a handler blocks.
    package static let durationBuckets: [Double] = {
        var out: [Double] = []
        var decade = 1e-6
        while decade < 10 {
            out += [decade, decade * 2.5, decade * 5]
            decade *= 10
        }
        return out + [10]
    }()

    /// The `function` label of calls past the per-service limit.
    package static let otherFunction = "other"
    /// The error kinds `ipcscope_exporter_errors_total` counts.
    package static let errorKinds = ["invalid_name", "not_regular", "unreadable", "corrupt", "schema", "read", "agent"]
    /// The OTLP signals.
    package static let signals = ["metrics", "traces"]
    /// The conditions `ipcscope_exporter_sections` reports.
    package static let conditions = ["live", "stale", "starting", "skipped"]
}

import Prometheus

extension PrometheusCollectorRegistry {
    /// The descriptor of a catalogue entry (its name is already complete: no namespace or unit added).
    private func descriptor(_ m: MetricInfo) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: m.name, unitName: "", helpText: m.help)
    }
    /// The label names a catalogue entry lists: all but `host`, which every per-section series
    /// of a remote exporter has.
    static func named(_ labels: [(String, String)]) -> [String] { labels.map(\.0).filter { $0 != "host" } }
    func counter(_ m: MetricInfo, _ labels: [(String, String)] = []) -> Counter {
        precondition(m.kind == .counter && m.labels == Self.named(labels))
        return makeCounter(descriptor: descriptor(m), labels: labels)
    }
    func gauge(_ m: MetricInfo, _ labels: [(String, String)] = []) -> Gauge {
        precondition(m.kind == .gauge && m.labels == Self.named(labels))
        return makeGauge(descriptor: descriptor(m), labels: labels)
    }
    func histogram(_ m: MetricInfo, _ labels: [(String, String)], buckets: [Double]) -> ValueHistogram {
        precondition(m.kind == .histogram && m.labels == Self.named(labels))
        return makeValueHistogram(descriptor: descriptor(m), labels: labels, buckets: buckets)
    }
}

extension MetricInfo {
    /// The OpenTelemetry name: the RPC conventions' `rpc.server.call.duration` for the call
    /// histogram; the others keep the Prometheus name without `_total` or the unit, dotted.
    package var otlpName: String {
        if name == MetricCatalog.callDuration.name { return "rpc.server.call.duration" }
        var n = name
        for suffix in ["_total", "_seconds"] where n.hasSuffix(suffix) { n.removeLast(suffix.count) }
        return n.split(separator: "_").joined(separator: ".")
    }
    /// The UCUM unit: seconds, else a count.
    package var otlpUnit: String { name.hasSuffix("_seconds") ? "s" : "1" }
}
