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
    /// Where `ipcscope.*` objects are looked for (tests point it elsewhere only through the names).
    package init(services: [String] = [], maxFunctions: Int = 32) {
        self.services = services
        self.maxFunctions = maxFunctions
    }
}

/// The exporter's model: on every `collect()` it lists /dev/shm, reads each section read-only
/// (SectionReader's `pread` snapshot, TraceFollower's ring), and updates the Prometheus
/// registry. Never writes a section, never takes its mutex, never waits on a futex.
///
/// Not thread-safe: `ExporterService` calls it under a lock.
package final class ExporterModel {
    package let registry: PrometheusCollectorRegistry
    package let options: ExporterOptions
    private var tracked: [String: TrackedSection] = [:]
    private let scrapeDuration: Gauge
    private var sectionGauges: [String: Gauge] = [:]
    private var errorCounters: [String: Counter] = [:]

    package init(options: ExporterOptions = ExporterOptions(), registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.options = options
        self.registry = registry
        scrapeDuration = registry.gauge(MetricCatalog.scrapeDuration)
        for c in MetricCatalog.conditions {
            sectionGauges[c] = registry.gauge(MetricCatalog.sections, [("condition", c)])
        }
        for k in MetricCatalog.errorKinds {
            errorCounters[k] = registry.counter(MetricCatalog.errors, [("kind", k)])
        }
    }

    /// The services currently exported (for tests and the `/` page).
    package var services: [String] { tracked.keys.sorted() }

    /// Reads every section once and updates the registry. Returns the metrics text.
    @discardableResult
    package func scrape() -> [UInt8] {
        collect()
        return registry.emitToBuffer()
    }

    /// Reads every section once and updates the registry.
    package func collect() {
        let start = monotonicNanoseconds()
        var counts: [String: Int] = Dictionary(uniqueKeysWithValues: MetricCatalog.conditions.map { ($0, 0) })
        var seen: Set<String> = []
        let wanted = Set(options.services)
        for raw in SectionDirectory.listing() {
            guard raw.isServiceName else {
                if wanted.isEmpty { skip("invalid_name", &counts) }
                continue
            }
            let name = String(decoding: raw.bytes, as: UTF8.self)
            if !wanted.isEmpty, !wanted.contains(name) { continue }
            switch read(name) {
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
        for name in Array(tracked.keys) where !seen.contains(name) {
            tracked.removeValue(forKey: name)?.unregister(from: registry)
        }
        for (c, n) in counts { sectionGauges[c]?.set(Double(n)) }
        scrapeDuration.set(Double(monotonicNanoseconds() &- start) / 1e9)
    }

    private func skip(_ kind: String, _ counts: inout [String: Int]) {
        counts["skipped", default: 0] += 1
        errorCounters[kind]?.increment()
    }

    private enum Outcome { case exported(alive: Bool), starting, gone, skipped(String) }

    /// Reads one section and updates its metrics.
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
            snap = try section.reader.snapshot()
        } catch {
            switch error.code {
            case .noSuchService: tracked.removeValue(forKey: name)?.unregister(from: registry); return .gone
            case .foreignOwner: return drop(name, "unreadable")
            case .corruptSection: return drop(name, "corrupt")
            default: return drop(name, "read")
            }
        }
        if snap.starting { return .starting }
        guard snap.isValid else { return drop(name, "corrupt") }
        if tracked[name] == nil {
            tracked[name] = section
            do {
                section.schema = try Schema.find(service: name, explicit: nil)
            } catch {
                errorCounters["schema"]?.increment()
            }
            section.register(in: registry)
        }
        section.update(snap, registry: registry, maxFunctions: options.maxFunctions) { self.errorCounters[$0]?.increment() }
        return .exported(alive: snap.serverAlive)
    }

    private func drop(_ name: String, _ kind: String) -> Outcome {
        tracked.removeValue(forKey: name)?.unregister(from: registry)
        return .skipped(kind)
    }
}
