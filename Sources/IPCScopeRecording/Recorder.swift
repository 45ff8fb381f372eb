#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX
import IPCScopeObserve

/// Records every call a service serves, with full payloads when it can copy them in time
/// (for `ipcscope record`). Read-only like every reader: `O_RDONLY | O_NOFOLLOW`, `pread`;
/// never a mapping, the mutex or a futex wait.
///
/// The trace ring (followed by a `TraceFollower`) says which calls were served; the slots
/// give what the ring lacks: the payloads and the client's thread id. A request copy for
/// call `S` is kept only when the slot's `seq` read `S` before the copy and `next_seq` still
/// read `S` after it (a newer call bumps `next_seq` before it writes the slot); a response
/// copy when the slot's `seq` read `S` before and after it and `state` and `next_seq` after
/// it show that no newer call's handler can have run (only such a handler rewrites the
/// slot). So a copy never mixes two calls. A call whose slots were overwritten before a poll saw them is kept
/// with what the ring has (the first 16 request bytes) and marked partial; calls the ring
/// lapped are counted as missed.
///
/// Through an agent (`init(remote:)`) each poll is one snapshot of the remote section: the ring
/// and the slots come from the same copy, and a slot is kept under the rule `History` applies
/// to snapshots (state and seqs settled, nobody able to write it during the copy).
package final class CallRecorder {
    package let service: ServiceName
    private let follower: any TraceSource
    private let remote: RemoteTraceFollower?
    private var fd: Int32 = -1
    private var captures: [UInt64: Capture] = [:]
    private var pending: [(record: TraceRecord, polls: Int)] = []
    /// `created_unix_ns` of the section followed, and the last epoch read from it.
    private var created: UInt64 = 0
    private var epoch: UInt32 = 0
    private var lastNextSeq: UInt64 = 0
    /// The highest seq the ring has shown.
    private var lastTraced: UInt64 = 0

    private struct Capture {
        var request: [UInt8]?
        var clientTID: Int32 = 0
        var response: [UInt8]?
    }

    /// What one poll found.
    package struct Poll: Sendable {
        /// Calls finished since the last poll, oldest first.
        package var calls: [RecordedCall] = []
        /// Calls the trace ring lapped before they could be read.
        package var missed: UInt64 = 0
        /// The section as it is now (service, epoch, capacities); nil when it could not be read.
        package var interface: RecordedInterface?
        /// The object was removed (its server stopped); `start` again to wait for a new one.
        package var gone = false
        /// A new object replaced the one followed.
        package var replaced = false
        /// Whether a server holds the liveness lock.
        package var alive = false
        /// Whether a new call started since the last look (`next_seq` moved).
        package var started = false
    }

    /// Validates the name; nothing is opened yet.
    package init(service: String) throws(IPCError) {
        self.service = try ServiceName(service)
        follower = try TraceFollower(service: service)
        remote = nil
    }

    /// Records the section an agent follows (`RemoteTraceFollower`).
    package init(remote: RemoteTraceFollower) throws(IPCError) {
        service = try ServiceName(remote.service)
        follower = remote
        self.remote = remote
    }

    /// The clocks of the section's host (this machine's unless through an agent).
    package var clock: HostClock { remote?.connection.clock ?? .local }

    deinit { if fd >= 0 { close(fd) } }

    /// The layout of the section followed.
    package var layout: SectionLayout? { follower.layout }
    /// The trace ring position of the next record to read (`trace_head` when started without `fromStart`).
    package var position: UInt64 { follower.next }
    /// Whether a call whose slots are still current but not copied yet is held back for a few
    /// polls to copy them (default). Off: each call is handed out as soon as the ring has it.
    package var waitsForSlots = true

    /// Opens the section; only calls served from now on are recorded (all of the ring's when `fromStart`).
    /// - Throws: what `TraceFollower.start` throws (no such service, no trace ring, corrupt).
    package func start(fromStart: Bool = false) throws(SourceError) {
        try follower.startTrace(fromStart: fromStart)
        do { try reopen() } catch { throw .section(error) }
        pending = []
        captures = [:]
        lastTraced = 0
    }

    private func reopen() throws(IPCError) {
        if let remote {
            created = remote.lastTaken?.snapshot.identity?.createdUnixNS ?? 0
            return
        }
        if fd >= 0 { close(fd) }
        fd = try openSectionReadOnly(service)
        created = read64(Int(IPCSCOPE_OFF_CREATED_UNIX_NS)) ?? 0
    }

    /// Reads the ring, copies the slots, and returns the calls that are complete or can no
    /// longer be completed.
    package func poll() throws(SourceError) -> Poll {
        var p = Poll()
        let t = try follower.pollTrace()
        p.alive = t.alive
        p.missed = t.missed
        var records = t.records
        if t.gone {
            // A stopping server unlinks the name, but the object lives while we hold it open:
            // its last calls are still there to read.
            p.gone = true
            let last = finalRecords()
            records = last.records
            p.missed += last.missed
        }
        if t.replaced {
            // The old section's calls end here: its seqs mean nothing in the new one.
            p.replaced = true
            p.calls = drain()
            do { try reopen() } catch { throw .section(error) }
            captures = [:]
            lastTraced = 0
        }
        pending += records.map { ($0, 0) }
        lastTraced = records.reduce(lastTraced) { max($0, $1.seq) }
        guard let l = follower.layout else { return p }
        let slots = copySlots(l)
        epoch = slots?.epoch ?? epoch
        if let n = slots?.nextSeq {
            p.started = n != lastNextSeq
            lastNextSeq = n
        }
        p.interface = RecordedInterface(service: service.rawValue, epoch: epoch,
                                        requestCapacity: UInt32(clamping: l.requestCapacity),
                                        responseCapacity: UInt32(clamping: l.responseCapacity),
                                        traceCapacity: UInt32(clamping: l.traceCapacity), createdUnixNS: created)
        let nextSeq = slots?.nextSeq ?? UInt64.max
        var keep: [(record: TraceRecord, polls: Int)] = []
        for (record, polls) in pending {
            let c = captures[record.seq]
            let complete = (record.requestSize == 0 || record.rejected || c?.request?.count == Int(record.requestSize))
                && (record.responseSize == 0 || c?.response?.count == Int(record.responseSize))
            // Still in the slots (the response stays until the next call's handler runs) and
            // not copied yet: try again next poll, a few times at most. The calls after one kept
            // wait with it, so calls come out in seq order.
            // Through an agent each poll is a round trip apart, and the slots are copied only when
            // a snapshot finds them settled: allow more polls.
            let wait = waitsForSlots && !complete && (nextSeq == record.seq || nextSeq == record.seq &+ 1)
                && polls < (remote == nil ? 3 : 20)
            if wait || !keep.isEmpty {
                keep.append((record, wait ? polls + 1 : polls))
                continue
            }
            p.calls.append(finish(record, epoch: epoch))
        }
        pending = keep
        if p.gone { p.calls += drain() }
        // Keep the copies of calls still pending, and of calls the ring has not shown yet.
        let oldest = pending.first?.record.seq ?? UInt64.max
        captures = captures.filter { $0.key >= oldest || $0.key > lastTraced }
        return p
    }

    /// Copies the slots only (cheap: no ring), between two `poll`s while calls flow.
    /// Returns whether a new call started since the last look.
    package func capture() -> Bool {
        guard remote == nil, let l = follower.layout, let s = copySlots(l) else { return false }
        defer { lastNextSeq = s.nextSeq }
        return s.nextSeq != lastNextSeq
    }

    /// The calls still waiting for a slot copy, as they are (at the end of a recording).
    package func drain() -> [RecordedCall] {
        defer { pending = [] }
        return pending.map { finish($0.record, epoch: epoch) }
    }

    /// Builds the call from its trace record and whatever the slots gave for it.
    private func finish(_ r: TraceRecord, epoch: UInt32) -> RecordedCall {
        let c = captures.removeValue(forKey: r.seq)
        return RecordedCall(trace: r, request: c?.request, response: c?.response, clientTID: c?.clientTID ?? 0, epoch: epoch)
    }

    /// Copies the header and both slots, keeping each slot's payload only when no newer call
    /// can have touched it during the copy. Returns the epoch and `next_seq` read.
    private func copySlots(_ l: SectionLayout) -> (epoch: UInt32, nextSeq: UInt64)? {
        if let remote {
            guard let snap = remote.lastTaken?.snapshot else { return nil }
            copySlots(snap, l)
            return (snap.serverEpoch, snap.nextSeq)
        }
        let rq = l.requestOffset, rs = l.responseOffset
        guard let nextBefore = read64(Int(IPCSCOPE_OFF_NEXT_SEQ)) else { return nil }
        let server = preadBytes(fd, at: Int(IPCSCOPE_OFF_SERVER_PID), count: 8)
        let requestHeader = preadBytes(fd, at: rq, count: Int(IPCSCOPE_SLOT_HEADER_SIZE))
        let responseHeader = preadBytes(fd, at: rs, count: Int(IPCSCOPE_SLOT_HEADER_SIZE))
        guard server.count == 8, requestHeader.count == Int(IPCSCOPE_SLOT_HEADER_SIZE),
              responseHeader.count == Int(IPCSCOPE_SLOT_HEADER_SIZE) else { return nil }
        func u32<O: BinaryInteger>(_ b: [UInt8], _ o: O) -> UInt32 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(o), as: UInt32.self) } }
        func u64<O: BinaryInteger>(_ b: [UInt8], _ o: O) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(o), as: UInt64.self) } }
        let epoch = u32(server, IPCSCOPE_OFF_SERVER_EPOCH - IPCSCOPE_OFF_SERVER_PID)
        // A slot's seq is stored after its payload: reading it first means the payload is whole.
        let requestSeq = u64(requestHeader, IPCSCOPE_REQ_SEQ), requestSize = Int(u32(requestHeader, IPCSCOPE_REQ_SIZE))
        let responseSeq = u64(responseHeader, IPCSCOPE_RSP_SEQ), responseSize = Int(u32(responseHeader, IPCSCOPE_RSP_SIZE))
        var request: [UInt8]?, response: [UInt8]?
        if requestSeq != 0, requestSeq == nextBefore, requestSize <= l.requestCapacity, captures[requestSeq]?.request == nil {
            let data = preadBytes(fd, at: rq + Int(IPCSCOPE_REQ_DATA), count: requestSize)
            if data.count == requestSize { request = data }
        }
        if responseSeq != 0, responseSize <= l.responseCapacity, captures[responseSeq]?.response == nil {
            let data = preadBytes(fd, at: rs + Int(IPCSCOPE_RSP_DATA), count: responseSize)
            if data.count == responseSize { response = data }
        }
        // The request slot: a newer call bumps next_seq before it writes it, so an unchanged
        // next_seq means the copy is whole.
        let line = preadBytes(fd, at: Int(IPCSCOPE_OFF_STATE), count: Int(IPCSCOPE_OFF_NEXT_SEQ - IPCSCOPE_OFF_STATE) + 8)
        guard line.count == Int(IPCSCOPE_OFF_NEXT_SEQ - IPCSCOPE_OFF_STATE) + 8 else { return nil }
        let stateAfter = u32(line, 0), nextSeq = u64(line, IPCSCOPE_OFF_NEXT_SEQ - IPCSCOPE_OFF_STATE)
        if let request, requestSeq == nextSeq {
            captures[requestSeq, default: Capture()].request = request
            captures[requestSeq]?.clientTID = Int32(bitPattern: u32(requestHeader, IPCSCOPE_REQ_CLIENT_TID))
        }
        // The response slot is rewritten only by a newer call's handler, which runs in
        // PROCESSING and ends by storing its own seq. After the copy, with the slot's seq
        // unchanged: RESPONSE_READY (the answer waits for its client), IDLE with no newer call
        // issued, or REQUEST_READY for the very next call mean no handler ran during the copy.
        // (A handler that died mid-way leaves PROCESSING, or IDLE after a takeover with a newer
        // call issued: both refused.) A wider window than next_seq's.
        if let response, read64(rs + Int(IPCSCOPE_RSP_SEQ)) == responseSeq {
            let clean: Bool
            switch ProtocolState(rawValue: stateAfter) {
            case .responseReady?: clean = true
            case .idle?: clean = nextSeq == responseSeq
            case .requestReady?: clean = nextSeq == responseSeq &+ 1
            default: clean = false
            }
            if clean { captures[responseSeq, default: Capture()].response = response }
        }
        return (epoch, nextSeq)
    }

    /// The records written since the follower's last poll, read through our descriptor once
    /// the name is gone (nothing writes the object any more), and how many were overwritten.
    private func finalRecords() -> (records: [TraceRecord], missed: UInt64) {
        guard remote == nil, let l = follower.layout, l.traceCapacity > 0, let head = read64(Int(IPCSCOPE_OFF_TRACE_HEAD)) else { return ([], 0) }
        let cap = UInt64(l.traceCapacity), next = follower.next
        guard head > next else { return ([], 0) }
        var missed: UInt64 = 0, first = next
        if head - next > cap {
            missed = head - next - cap
            first = head - cap
        }
        let ring = preadBytes(fd, at: l.traceOffset, count: l.traceCapacity * 64)
        guard ring.count == l.traceCapacity * 64 else { return ([], head - next) }
        var records: [TraceRecord] = []
        ring.withUnsafeBytes { b in
            for n in first..<head {
                let o = Int(n & (cap - 1)) * 64
                guard b.loadUnaligned(fromByteOffset: o, as: UInt64.self) != 0 else { missed += 1; continue }
                records.append(TraceRecord(decoding: b, at: o))
            }
        }
        return (records, missed)
    }

    /// The slots of one snapshot (through an agent): kept only when `state` and both `seq`s read
    /// the same after the copy, and nobody could write the slot during it: the request while the
    /// server owns it (REQUEST_READY, PROCESSING) or the mutex stayed free and untaken through the
    /// copy; the response whenever no handler runs (not PROCESSING). `History` keeps the same rule.
    private func copySlots(_ snap: Snapshot, _ l: SectionLayout) {
        guard snap.slotsSettled, let state = snap.state else { return }
        let quiet = (state == .idle || state == .responseReady) && snap.mutexQuiet
        // The call's own client, still holding the mutex, collects the answer: nobody else can write.
        let ownerCollects = state == .responseReady && snap.requestSeq == snap.responseSeq
            && snap.mutexWord.ownerTID != 0 && snap.mutexWord.ownerTID == snap.requestClientTID
        if state == .requestReady || state == .processing || quiet || ownerCollects, snap.requestSeq != 0,
           Int(snap.requestSize) <= l.requestCapacity, captures[snap.requestSeq]?.request == nil {
            let payload = snap.requestPayload
            if payload.count == Int(snap.requestSize) {
                captures[snap.requestSeq, default: Capture()].request = payload
                captures[snap.requestSeq]?.clientTID = snap.requestClientTID
            }
        }
        if state != .processing, snap.responseSeq != 0, Int(snap.responseSize) <= l.responseCapacity,
           captures[snap.responseSeq]?.response == nil {
            let payload = snap.responsePayload
            if payload.count == Int(snap.responseSize) { captures[snap.responseSeq, default: Capture()].response = payload }
        }
    }

    private func read64(_ offset: Int) -> UInt64? {
        let b = preadBytes(fd, at: offset, count: 8)
        guard b.count == 8 else { return nil }
        return b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }
}
