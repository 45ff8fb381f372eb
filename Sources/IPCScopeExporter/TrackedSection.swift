import IPCScopeKit
import IPCScopeObserve
import IPCScopeSchema
import Prometheus

/// One section the exporter follows: its reader and trace follower, the last values of its
/// counters (so a server restart, whose counters start again from 0, still adds up), and the
/// Prometheus series labelled with its `service`.
final class TrackedSection {
    let service: String
    let reader: SectionReader
    var follower: TraceFollower?
    var schema: Schema?

    private var last: Snapshot?
    private var lastDeadOwnerTID: Int32 = 0
    /// The `function` label of each function number seen, at most `maxFunctions` of them.
    private var functionLabels: [UInt32: String] = [:]
    private var perFunction: [String: (calls: Counter, duration: ValueHistogram)] = [:]

    private var gauges: [String: Gauge] = [:]
    private var counters: [String: Counter] = [:]
    private var stateGauges: [(ProtocolState, Gauge)] = []

    init(service: String, reader: SectionReader) {
        self.service = service
        self.reader = reader
    }

    private var labels: [(String, String)] { [("service", service)] }

    func register(in registry: PrometheusCollectorRegistry) {
        for m in [MetricCatalog.serverUp, MetricCatalog.epoch, MetricCatalog.heartbeatAge, MetricCatalog.serverWaiting,
                  MetricCatalog.clientWaiting, MetricCatalog.mutexWaiters] {
            gauges[m.name] = registry.gauge(m, labels)
        }
        for m in [MetricCatalog.takeovers, MetricCatalog.callsServed, MetricCatalog.callsRejected, MetricCatalog.mutexLocks,
                  MetricCatalog.mutexContended, MetricCatalog.mutexRecovered, MetricCatalog.traceMissed, MetricCatalog.ownerDied] {
            counters[m.name] = registry.counter(m, labels)
        }
        stateGauges = ProtocolState.allCases.map { s in
            (s, registry.gauge(MetricCatalog.state, labels + [("state", s.name)]))
        }
    }

    func unregister(from registry: PrometheusCollectorRegistry) {
        for g in gauges.values { registry.unregisterGauge(g) }
        for c in counters.values { registry.unregisterCounter(c) }
        for (_, g) in stateGauges { registry.unregisterGauge(g) }
        for (c, h) in perFunction.values {
            registry.unregisterCounter(c)
            registry.unregisterValueHistogram(h)
        }
        gauges = [:]; counters = [:]; stateGauges = []; perFunction = [:]
    }

    /// Updates every series from a new snapshot and the records the trace ring gained.
    func update(_ snap: Snapshot, registry: PrometheusCollectorRegistry, maxFunctions: Int, report: (String) -> Void) {
        gauges[MetricCatalog.serverUp.name]?.set(to: snap.serverAlive ? 1 : 0)
        gauges[MetricCatalog.epoch.name]?.set(Double(snap.serverEpoch))
        let age = snap.heartbeatNS > 0 && snap.takenNS >= snap.heartbeatNS ? Double(snap.takenNS - snap.heartbeatNS) / 1e9 : 0
        gauges[MetricCatalog.heartbeatAge.name]?.set(age)
        gauges[MetricCatalog.serverWaiting.name]?.set(Double(snap.serverWaiting))
        gauges[MetricCatalog.clientWaiting.name]?.set(Double(snap.clientWaiting))
        gauges[MetricCatalog.mutexWaiters.name]?.set(to: snap.mutexWord.waiters ? 1 : 0)
        for (s, g) in stateGauges { g.set(to: snap.state == s ? 1 : 0) }

        // A new object under the same name (its creation time differs): its counters started
        // from 0, so all of them are new. A takeover keeps the object and its counters.
        if let l = last, l.identity?.createdUnixNS != snap.identity?.createdUnixNS {
            last = nil
            lastDeadOwnerTID = 0
        }
        // Takeovers: epoch - 1 at first sight of an object; then every increment. A lower
        // epoch is a new object too.
        let e = UInt64(snap.serverEpoch)
        if let prev = last.map({ UInt64($0.serverEpoch) }) {
            add(MetricCatalog.takeovers, e >= prev ? e - prev : e &- min(e, 1))
        } else {
            add(MetricCatalog.takeovers, e &- min(e, 1))
        }
        fold(MetricCatalog.callsServed, last?.callsServed, snap.callsServed)
        fold(MetricCatalog.callsRejected, last?.callsRejected, snap.callsRejected)
        fold(MetricCatalog.mutexLocks, last?.lockCount, snap.lockCount)
        fold(MetricCatalog.mutexContended, last?.contendedCount, snap.contendedCount)
        fold(MetricCatalog.mutexRecovered, last?.recoveredCount, snap.recoveredCount)

        // An owner that died holding the mutex: counted once per owner thread.
        if !snap.ntObjects, snap.ownerThreadDead || snap.mutexWord.ownerDied {
            if snap.mutexWord.ownerTID != lastDeadOwnerTID {
                add(MetricCatalog.ownerDied, 1)
                lastDeadOwnerTID = snap.mutexWord.ownerTID
            }
        } else {
            lastDeadOwnerTID = 0
        }
        last = snap
        followTrace(snap, registry: registry, maxFunctions: maxFunctions, report: report)
    }

    private func followTrace(_ snap: Snapshot, registry: PrometheusCollectorRegistry, maxFunctions: Int, report: (String) -> Void) {
        if follower == nil, (snap.layout?.traceCapacity ?? 0) > 0 {
            do {
                let f = try TraceFollower(service: service)
                try f.start(fromStart: true)
                follower = f
            } catch {
                // No ring yet (or the object changed between the two reads): tried again next scrape.
                return
            }
        }
        guard let f = follower else { return }
        let poll: TraceFollower.Poll
        do {
            poll = try f.poll()
        } catch {
            follower = nil
            report("read")
            return
        }
        add(MetricCatalog.traceMissed, poll.missed)
        for r in poll.records {
            let label = functionLabel(r.function, maxFunctions: maxFunctions)
            let series = perFunctionSeries(label, registry: registry)
            series.calls.increment()
            series.duration.record(Double(r.latencyNS) / 1e9)
        }
    }

    /// The schema's name of the function, else its number; `other` past the limit.
    func functionLabel(_ number: UInt32, maxFunctions: Int) -> String {
        if let l = functionLabels[number] { return l }
        guard functionLabels.count < maxFunctions else { return MetricCatalog.otherFunction }
        let l = schema?.function(number)?.name ?? String(number)
        functionLabels[number] = l
        return l
    }

    private func perFunctionSeries(_ label: String, registry: PrometheusCollectorRegistry) -> (calls: Counter, duration: ValueHistogram) {
        if let s = perFunction[label] { return s }
        let l = labels + [("function", label)]
        let calls = registry.counter(MetricCatalog.functionCalls, l)
        let duration = registry.histogram(MetricCatalog.callDuration, l, buckets: MetricCatalog.durationBuckets)
        perFunction[label] = (calls, duration)
        return (calls, duration)
    }

    private func add(_ m: MetricInfo, _ n: UInt64) {
        guard n > 0 else { return }
        counters[m.name]?.increment(by: Int64(clamping: n))
    }

    /// Adds what a section counter gained; a counter that went down started again (a new
    /// server or a new object), so all of its new value is new.
    private func fold(_ m: MetricInfo, _ previous: UInt64?, _ now: UInt64) {
        guard let previous else { add(m, now); return }
        add(m, now >= previous ? now - previous : now)
    }
}
