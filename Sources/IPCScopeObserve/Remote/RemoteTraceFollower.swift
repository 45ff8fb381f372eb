// `ipcscope watch` through an agent: each poll is one snapshot (after the first, only the lines
// that changed cross the wire), and the new trace records are taken from it.
import CIPCScope
import IPCScopeKit

/// Follows a section's trace ring on the agent's host. Like `TraceFollower`, it counts what it
/// could not read as missed, never guesses; a record counts once, by its `seq` (which only grows
/// within a section's history).
package final class RemoteTraceFollower {
    package let service: String
    package let connection: AgentConnection
    package private(set) var layout: SectionLayout?
    /// The position of the next record to read.
    package private(set) var next: UInt64 = 0
    private var lastSeq: UInt64 = 0
    private var created: UInt64 = 0
    /// The snapshot the last `poll` (or `start`) took: its slots are what `CallRecorder` copies.
    package private(set) var lastTaken: RemoteSnapshot?

    package init(service: String, connection: AgentConnection) {
        self.service = service
        self.connection = connection
    }

    /// Takes the first snapshot and positions at its head (or at the oldest record still in the
    /// ring when `fromStart`).
    /// - Throws: the agent's errors, and an `.agent` error for a section that is not valid or has
    ///   no trace ring.
    package func start(fromStart: Bool) throws(AgentProtocolError) {
        lastTaken = nil
        var taken = try connection.snapshot(service: service)
        let end = monotonicNanoseconds() + 1_000_000_000
        while taken.snapshot.starting && monotonicNanoseconds() < end {
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
            taken = try connection.snapshot(service: service)
        }
        lastTaken = taken
        let snap = taken.snapshot
        guard let l = snap.layout else {
            throw .agent(code: AgentErrorCode.io, message: "service '\(service)' on \(connection.transport.place) is not a valid section: "
                         + (snap.problems.first ?? "unreadable"))
        }
        guard l.traceCapacity > 0 else {
            throw .agent(code: AgentErrorCode.io, message:
                "service '\(service)' has no trace ring (trace capacity 0): start its server with --trace-capacity 256 to watch it")
        }
        position(snap, fromStart: fromStart)
    }

    /// Positions at `snap`'s head (or at the oldest record still in its ring when `fromStart`),
    /// for a caller that took the first snapshot itself (the exporter). `snap` must have a layout.
    package func position(_ snap: Snapshot, fromStart: Bool) {
        guard let l = snap.layout else { return }
        layout = l
        created = snap.identity?.createdUnixNS ?? 0
        let head = snap.traceHead
        next = fromStart ? head &- min(head, UInt64(l.traceCapacity)) : head
        lastSeq = fromStart ? 0 : (snap.trace.last?.seq ?? 0)
    }

    /// What the server wrote since the last poll.
    package func poll() throws(AgentProtocolError) -> TraceFollower.Poll {
        var p = TraceFollower.Poll()
        let taken: RemoteSnapshot
        do {
            taken = try connection.snapshot(service: service)
        } catch {
            if case .agent(let code, _) = error, code == AgentErrorCode.noSection { p.gone = true; return p }
            throw error
        }
        return poll(taken)
    }

    /// The records `taken` (a snapshot of this section the caller took) holds that were not read yet.
    package func poll(_ taken: RemoteSnapshot) -> TraceFollower.Poll {
        var p = TraceFollower.Poll()
        lastTaken = taken
        let snap = taken.snapshot
        p.alive = snap.serverAlive
        guard let l = snap.layout else { return p }
        if let id = snap.identity, id.createdUnixNS != created {
            // A new object under the name: a new history.
            created = id.createdUnixNS
            layout = l
            next = 0
            lastSeq = 0
            p.replaced = true
        }
        let cap = UInt64(l.traceCapacity)
        let head = snap.traceHead
        p.head = head
        var count = head &- next
        if count > UInt64(Int64.max) { next = head; count = 0 }
        guard count > 0, cap > 0, snap.bytes.count >= l.traceOffset + l.traceCapacity * 64 else { return p }
        var first = next
        if count > cap {
            p.missed += count - cap
            first = head &- cap
            count = cap
        }
        var records: [TraceRecord] = []
        snap.bytes.withUnsafeBytes { b in
            for k in 0..<count {
                let idx = Int((first &+ k) & (cap - 1))
                let o = l.traceOffset + idx * 64
                let seq = b.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                guard seq != 0, seq > lastSeq, !taken.tornIndexes.contains(UInt32(idx)) else { continue }
                records.append(TraceRecord(decoding: b, at: o))
            }
        }
        records.sort { $0.seq < $1.seq }
        p.missed += count - UInt64(records.count)
        p.records = records
        if let last = records.last { lastSeq = last.seq }
        next = head
        return p
    }
}
