import IPCScopeKit
import IPCScopeObserve
import IPCScopeSchema
import IPCScopePOSIX

/// Where a section's trace records come from: the local ring read with `pread`, or the
/// snapshots an agent takes on another host.
enum TraceSource {
    case local(TraceFollower)
    case remote(RemoteTraceFollower)
}

/// A section read through an agent in this collection: the snapshot the agent took and the
/// connection it came through.
struct RemoteRead {
    var taken: RemoteSnapshot
    var connection: AgentConnection
}

/// A call the exporter sampled for an OTLP span: the trace record with its times on the wall
/// clock and its names resolved.
package struct SampledCall: Sendable, Equatable {
    package var service: String
    package var host: String?
    /// The function's name in the schema, else its number.
    package var method: String
    package var function: UInt32
    package var status: Int32
    package var rejected: Bool
    package var afterRecovery: Bool
    package var startUnixNS: UInt64
    package var endUnixNS: UInt64
    package var requestSize: UInt32
    package var responseSize: UInt32
    package var clientPID: Int32
    package var seq: UInt64
    /// The project's convention: a call failed when the server rejected it or answered with a
    /// non-zero status.
    package var failed: Bool { rejected || status != 0 }
}

/// One section the exporter follows: its reader and trace follower, the last values of its
/// counters (so a server restart, whose counters start again from 0, still adds up), and the
/// series labelled with its `service` (and `host` when read through an agent).
final class TrackedSection {
    let service: String
    let host: String?
    /// The local reader (nil when the section is read through an agent).
    let reader: SectionReader?
    var trace: TraceSource?
    var schema: Schema?

    private var last: Snapshot?
    private var lastDeadOwnerTID: Int32 = 0
    /// The `function` label of each function number seen, at most `maxFunctions` of them.
    private var functionLabels: [UInt32: String] = [:]
    private var perFunction: [String: (calls: CounterSeries, duration: HistogramSeries)] = [:]

    private var gauges: [String: GaugeSeries] = [:]
    private var counters: [String: CounterSeries] = [:]
    private var stateGauges: [(ProtocolState, GaugeSeries)] = []

    init(service: String, reader: SectionReader?, host: String? = nil) {
        self.service = service
        self.reader = reader
        self.host = host
    }

    private var labels: [(String, String)] { [("service", service)] + (host.map { [("host", $0)] } ?? []) }

    func register(in registry: SeriesTable) {
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

    func unregister(from registry: SeriesTable) {
        for g in gauges.values { registry.remove(g) }
        for c in counters.values { registry.remove(c) }
        for (_, g) in stateGauges { registry.remove(g) }
        for (c, h) in perFunction.values {
            registry.remove(c)
            registry.remove(h)
        }
        gauges = [:]; counters = [:]; stateGauges = []; perFunction = [:]
    }

    /// Updates every series from a new snapshot and the records the trace ring gained.
    func update(_ snap: Snapshot, remote: RemoteRead? = nil, registry: SeriesTable, maxFunctions: Int, sampler: CallSampler?,
                report: (String) -> Void) {
        gauges[MetricCatalog.serverUp.name]?.set(snap.serverAlive ? 1 : 0)
        gauges[MetricCatalog.epoch.name]?.set(Double(snap.serverEpoch))
        let age = snap.heartbeatNS > 0 && snap.takenNS >= snap.heartbeatNS ? Double(snap.takenNS - snap.heartbeatNS) / 1e9 : 0
        gauges[MetricCatalog.heartbeatAge.name]?.set(age)
        gauges[MetricCatalog.serverWaiting.name]?.set(Double(snap.serverWaiting))
        gauges[MetricCatalog.clientWaiting.name]?.set(Double(snap.clientWaiting))
        gauges[MetricCatalog.mutexWaiters.name]?.set(snap.mutexWord.waiters ? 1 : 0)
        for (s, g) in stateGauges { g.set(snap.state == s ? 1 : 0) }

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
        followTrace(snap, remote: remote, registry: registry, maxFunctions: maxFunctions, sampler: sampler, report: report)
    }

    private func followTrace(_ snap: Snapshot, remote: RemoteRead?, registry: SeriesTable, maxFunctions: Int, sampler: CallSampler?,
                             report: (String) -> Void) {
        if trace == nil, (snap.layout?.traceCapacity ?? 0) > 0 {
            if let remote {
                let f = RemoteTraceFollower(service: service, connection: remote.connection)
                f.position(snap, fromStart: true)
                trace = .remote(f)
            } else {
                do {
                    let f = try TraceFollower(service: service)
                    try f.start(fromStart: true)
                    trace = .local(f)
                } catch {
                    // No ring yet (or the object changed between the two reads): tried again next scrape.
                    return
                }
            }
        }
        let poll: TraceFollower.Poll
        // The wall clock of a monotonic time on the section's host: an agent's snapshot carries
        // its host's monotonic time of taking, read against this host's wall clock now.
        let toUnix: (UInt64) -> UInt64
        switch trace {
        case nil:
            return
        case .local(let f)?:
            do {
                poll = try f.poll()
            } catch {
                trace = nil
                report("read")
                return
            }
            toUnix = { Units.unixNS(monotonicNS: $0) }
        case .remote(let f)?:
            guard let remote else { return }
            poll = f.poll(remote.taken)
            let taken = snap.takenNS, wall = realtimeNanoseconds()
            toUnix = { wall &- (taken &- min($0, taken)) }
        }
        add(MetricCatalog.traceMissed, poll.missed)
        for r in poll.records {
            let label = functionLabel(r.function, maxFunctions: maxFunctions)
            let series = perFunctionSeries(label, registry: registry)
            series.calls.increment()
            series.duration.record(Double(r.latencyNS) / 1e9)
            if let sampler, sampler.take() {
                sampler.add(SampledCall(
                    service: service, host: host, method: schema?.function(r.function)?.name ?? String(r.function), function: r.function,
                    status: r.status, rejected: r.rejected, afterRecovery: r.afterRecovery,
                    startUnixNS: toUnix(r.sentNS), endUnixNS: toUnix(max(r.doneNS, r.sentNS)),
                    requestSize: r.requestSize, responseSize: r.responseSize, clientPID: r.clientPID, seq: r.seq))
            }
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

    private func perFunctionSeries(_ label: String, registry: SeriesTable) -> (calls: CounterSeries, duration: HistogramSeries) {
        if let s = perFunction[label] { return s }
        let l = labels + [("function", label)]
        let calls = registry.counter(MetricCatalog.functionCalls, l)
        let duration = registry.histogram(MetricCatalog.callDuration, l)
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
