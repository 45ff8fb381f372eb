#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import IPCScopePOSIX
import IPCScopeSchema
import Prometheus

/// What the exporter reads and how (the verb's options, as a value).
package struct ExporterOptions: Sendable {
    /// Only these services (empty: every section on the host).
    package var services: [String] = []
    /// The most distinct `function` labels per service; later functions are counted as `other`.
    package var maxFunctions: Int = 32
    /// Read another host's sections through an agent (nil: this host's /dev/shm).
    package var remote: AgentTransport?
    /// Seconds of silence from the agent before a read fails.
    package var agentTimeout: Double = 10
    /// The fraction of the calls seen in the trace rings kept as OTLP spans (0: none).
    package var traceSample: Double = 0
    /// The most sampled calls waiting for the next push; more are dropped and counted.
    package var spanQueue: Int = 8192

    package init(services: [String] = [], maxFunctions: Int = 32, remote: AgentTransport? = nil, agentTimeout: Double = 10,
                 traceSample: Double = 0, spanQueue: Int = 8192) {
        self.services = services
        self.maxFunctions = maxFunctions
        self.remote = remote
        self.agentTimeout = agentTimeout
        self.traceSample = traceSample
        self.spanQueue = spanQueue
    }
}

/// Picks calls for spans (a fraction of those seen) and keeps them, at most `capacity`, until
/// the next push takes them. Not thread-safe (the model's lock).
package final class CallSampler {
    package let fraction: Double
    package let capacity: Int
    private(set) var pending: [SampledCall] = []
    /// Sampled calls dropped because `capacity` were already waiting, since the last `drain`.
    private(set) var dropped: UInt64 = 0

    init(fraction: Double, capacity: Int) {
        self.fraction = fraction
        self.capacity = capacity
    }

    /// Whether to keep the next call.
    func take() -> Bool { fraction >= 1 || Double.random(in: 0..<1) < fraction }

    func add(_ call: SampledCall) {
        if pending.count < capacity { pending.append(call) } else { dropped += 1 }
    }

    /// The waiting calls and how many were dropped since the last drain.
    func drain() -> ([SampledCall], UInt64) {
        defer { pending = []; dropped = 0 }
        return (pending, dropped)
    }
}

/// The exporter's model: on every `collect()` it lists /dev/shm (or asks the agent for its
/// list), reads each section read-only (SectionReader's `pread` snapshot, TraceFollower's ring;
/// or the agent's snapshot), and updates the series. Never writes a section, never takes its
/// mutex, never waits on a futex.
///
/// Not thread-safe: `ExporterService` calls it under a lock.
package final class ExporterModel {
    package let registry: PrometheusCollectorRegistry
    package let series: SeriesTable
    package let options: ExporterOptions
    /// The calls sampled for spans (nil when `traceSample` is 0).
    package let sampler: CallSampler?
    private var tracked: [String: TrackedSection] = [:]
    private let scrapeDuration: GaugeSeries
    private var sectionGauges: [String: GaugeSeries] = [:]
    private var errorCounters: [String: CounterSeries] = [:]
    private var otlpExports: [String: CounterSeries] = [:]
    private var otlpDropped: [String: CounterSeries] = [:]
    private var otlpQueued: [String: GaugeSeries] = [:]
    /// The agent connection, while it works (remote only).
    private var connection: AgentConnection?

    package init(options: ExporterOptions = ExporterOptions(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
                 otlp: Bool = false) {
        self.options = options
        self.registry = registry
        series = SeriesTable(registry: registry)
        sampler = options.traceSample > 0 ? CallSampler(fraction: options.traceSample, capacity: options.spanQueue) : nil
        scrapeDuration = series.gauge(MetricCatalog.scrapeDuration)
        for c in MetricCatalog.conditions {
            sectionGauges[c] = series.gauge(MetricCatalog.sections, [("condition", c)])
        }
        for k in MetricCatalog.errorKinds {
            errorCounters[k] = series.counter(MetricCatalog.errors, [("kind", k)])
        }
        if otlp {
            for s in MetricCatalog.signals {
                for r in ["ok", "failed", "rejected"] {
                    otlpExports[s + "/" + r] = series.counter(MetricCatalog.otlpExports, [("signal", s), ("result", r)])
                }
                otlpDropped[s] = series.counter(MetricCatalog.otlpDropped, [("signal", s)])
                otlpQueued[s] = series.gauge(MetricCatalog.otlpQueued, [("signal", s)])
            }
        }
    }

    deinit { connection?.close() }

    /// The services currently exported (for tests and the `/` page).
    package var services: [String] { tracked.keys.sorted() }

    /// Reads every section once and updates the registry. Returns the metrics text.
    @discardableResult
    package func scrape() -> [UInt8] {
        collect()
        return registry.emitToBuffer()
    }

    /// Counts an OTLP push's result (`ok`, `failed`, `rejected`).
    package func countExport(signal: String, result: String) { otlpExports[signal + "/" + result]?.increment() }
    /// Counts spans or metric batches dropped.
    package func countDropped(signal: String, _ n: UInt64) {
        if n > 0 { otlpDropped[signal]?.increment(by: Int64(clamping: n)) }
    }
    /// What waits in the OTLP queue.
    package func setQueued(signal: String, _ n: Int) { otlpQueued[signal]?.set(Double(n)) }

    /// Reads every section once and updates the registry.
    package func collect() {
        let start = monotonicNanoseconds()
        var counts: [String: Int] = Dictionary(uniqueKeysWithValues: MetricCatalog.conditions.map { ($0, 0) })
        var seen: Set<String> = []
        if let transport = options.remote {
            collectRemote(transport, &counts, &seen)
        } else {
            collectLocal(&counts, &seen)
        }
        for name in Array(tracked.keys) where !seen.contains(name) {
            tracked.removeValue(forKey: name)?.unregister(from: series)
        }
        for (c, n) in counts { sectionGauges[c]?.set(Double(n)) }
        scrapeDuration.set(Double(monotonicNanoseconds() &- start) / 1e9)
    }

    private func tally(_ name: String, _ outcome: Outcome, _ counts: inout [String: Int], _ seen: inout Set<String>) {
        switch outcome {
        case .exported(let alive):
            seen.insert(name)
            counts[alive ? "live" : "stale", default: 0] += 1
        case .starting:
            counts["starting", default: 0] += 1
            if tracked[name] != nil { seen.insert(name) }
        case .gone:
            break
        case .skipped(let kind):
            skip(kind, &counts)
        }
    }

    private func collectLocal(_ counts: inout [String: Int], _ seen: inout Set<String>) {
        let wanted = Set(options.services)
        for raw in SectionDirectory.listing() {
            guard raw.isServiceName else {
                if wanted.isEmpty { skip("invalid_name", &counts) }
                continue
            }
            let name = String(decoding: raw.bytes, as: UTF8.self)
            if !wanted.isEmpty, !wanted.contains(name) { continue }
            tally(name, read(name), &counts, &seen)
        }
    }

    /// The agent's /dev/shm: its list, then one snapshot per section (the agent reads with
    /// `pread` as the local reader does). A broken connection drops every series of the host
    /// (counted as `agent`) and is made again at the next collection.
    private func collectRemote(_ transport: AgentTransport, _ counts: inout [String: Int], _ seen: inout Set<String>) {
        if connection == nil {
            do {
                connection = try AgentConnection(transport, timeout: options.agentTimeout)
            } catch {
                errorCounters["agent"]?.increment()
                return
            }
        }
        guard let c = connection else { return }
        let host = c.hello.host
        let wanted = Set(options.services)
        func lost() {
            c.close()
            connection = nil
            errorCounters["agent"]?.increment()
            seen = []
        }
        let listing: [AgentListEntry]
        do {
            listing = try c.list()
        } catch {
            return lost()
        }
        for l in listing {
            let raw = DirectoryName(l.rawName)
            guard raw.isServiceName else {
                if wanted.isEmpty { skip("invalid_name", &counts) }
                continue
            }
            let name = String(decoding: raw.bytes, as: UTF8.self)
            if !wanted.isEmpty, !wanted.contains(name) { continue }
            guard l.kind == 0 else {
                tally(name, drop(name, "not_regular"), &counts, &seen)
                continue
            }
            let taken: RemoteSnapshot
            do {
                taken = try c.snapshot(service: name)
            } catch {
                guard case .agent(let code, _) = error else { return lost() }
                switch code {
                case AgentErrorCode.noSection:
                    tracked.removeValue(forKey: name)?.unregister(from: series)
                    tally(name, .gone, &counts, &seen)
                case AgentErrorCode.notRegular: tally(name, drop(name, "not_regular"), &counts, &seen)
                case AgentErrorCode.unreadable: tally(name, drop(name, "unreadable"), &counts, &seen)
                default: tally(name, drop(name, "read"), &counts, &seen)
                }
                continue
            }
            let section = tracked[name] ?? TrackedSection(service: name, reader: nil, host: host)
            tally(name, export(name, section, taken.snapshot, remote: RemoteRead(taken: taken, connection: c)), &counts, &seen)
        }
    }

    private func skip(_ kind: String, _ counts: inout [String: Int]) {
        counts["skipped", default: 0] += 1
        errorCounters[kind]?.increment()
    }

    private enum Outcome { case exported(alive: Bool), starting, gone, skipped(String) }

    /// Reads one local section and updates its metrics.
    private func read(_ name: String) -> Outcome {
        // Never open what is not a regular file (a FIFO would be opened O_NONBLOCK anyway, but
        // it is not a section and is counted as such).
        var st = stat()
        guard lstat(SectionDirectory.directory + "/" + ServiceName.filePrefix + name, &st) == 0 else { return .gone }
        guard FileKind.isRegular(mode: st.st_mode) else { return drop(name, "not_regular") }
        let section: TrackedSection
        if let t = tracked[name] {
            section = t
        } else {
            guard let reader = try? SectionReader(service: name) else { return drop(name, "invalid_name") }
            section = TrackedSection(service: name, reader: reader)
        }
        let snap: Snapshot
        do {
            snap = try section.reader!.snapshot()
        } catch {
            switch error.code {
            case .noSuchService: tracked.removeValue(forKey: name)?.unregister(from: series); return .gone
            case .foreignOwner: return drop(name, "unreadable")
            case .corruptSection: return drop(name, "corrupt")
            default: return drop(name, "read")
            }
        }
        return export(name, section, snap, remote: nil)
    }

    /// Updates a section's series from a snapshot (registering them at first sight).
    private func export(_ name: String, _ section: TrackedSection, _ snap: Snapshot, remote: RemoteRead?) -> Outcome {
        if snap.starting { return .starting }
        guard snap.isValid else { return drop(name, "corrupt") }
        if tracked[name] == nil {
            tracked[name] = section
            do {
                section.schema = try Schema.find(service: name, explicit: nil)
            } catch {
                errorCounters["schema"]?.increment()
            }
            section.register(in: series)
        }
        section.update(snap, remote: remote, registry: series, maxFunctions: options.maxFunctions, sampler: sampler) {
            self.errorCounters[$0]?.increment()
        }
        return .exported(alive: snap.serverAlive)
    }

    private func drop(_ name: String, _ kind: String) -> Outcome {
        tracked.removeValue(forKey: name)?.unregister(from: series)
        return .skipped(kind)
    }
}
