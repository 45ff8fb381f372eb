#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

/// One trace-ring record, accepted only if its `seq` read the same non-zero value
/// before and after the copy.
package struct TraceRecord: Equatable, Sendable {
    package var seq: UInt64
    package var function: UInt32
    package var status: Int32
    package var requestSize: UInt32
    package var responseSize: UInt32
    package var clientPID: Int32
    package var flags: UInt32
    package var sentNS: UInt64
    package var doneNS: UInt64
    package var requestHead: [UInt8]

    package init(seq: UInt64, function: UInt32, status: Int32, requestSize: UInt32, responseSize: UInt32, clientPID: Int32,
                 flags: UInt32, sentNS: UInt64, doneNS: UInt64, requestHead: [UInt8]) {
        self.seq = seq; self.function = function; self.status = status; self.requestSize = requestSize
        self.responseSize = responseSize; self.clientPID = clientPID; self.flags = flags
        self.sentNS = sentNS; self.doneNS = doneNS; self.requestHead = requestHead
    }

    /// Round-trip latency as the server saw it (sent → done), in nanoseconds.
    package var latencyNS: UInt64 { doneNS >= sentNS ? doneNS - sentNS : 0 }
    package var rejected: Bool { flags & UInt32(IPCSCOPE_TRACE_REJECTED) != 0 }
    package var afterRecovery: Bool { flags & UInt32(IPCSCOPE_TRACE_AFTER_RECOVERY) != 0 }
}

extension TraceRecord {
    /// Decodes the 64-byte record at `offset` of `bytes` (the caller has checked the bounds
    /// and the `seq` before and after the copy).
    package init(decoding bytes: UnsafeRawBufferPointer, at offset: Int) {
        func field<T: FixedWidthInteger>(_ at: Int, _: T.Type = T.self) -> T {
            bytes.loadUnaligned(fromByteOffset: offset + Int(at), as: T.self)
        }
        seq = field(IPCSCOPE_TR_SEQ)
        function = field(IPCSCOPE_TR_FUNCTION)
        status = field(IPCSCOPE_TR_STATUS)
        requestSize = field(IPCSCOPE_TR_REQUEST_SIZE)
        responseSize = field(IPCSCOPE_TR_RESPONSE_SIZE)
        clientPID = field(IPCSCOPE_TR_CLIENT_PID)
        flags = field(IPCSCOPE_TR_FLAGS)
        sentNS = field(IPCSCOPE_TR_SENT_NS)
        doneNS = field(IPCSCOPE_TR_DONE_NS)
        let head = offset + Int(IPCSCOPE_TR_REQUEST_HEAD)
        requestHead = Array(UnsafeRawBufferPointer(rebasing: bytes[head..<(head + 16)]))
    }
}

/// The `state` field's values.
package enum ProtocolState: UInt32, Sendable, CaseIterable {
    case idle = 0, requestReady = 1, processing = 2, responseReady = 3

    /// The name the format uses: IDLE, REQUEST_READY, PROCESSING, RESPONSE_READY.
    package var name: String {
        switch self {
        case .idle: "IDLE"
        case .requestReady: "REQUEST_READY"
        case .processing: "PROCESSING"
        case .responseReady: "RESPONSE_READY"
        }
    }
}

/// The robust-futex word at the start of the mutex, decoded.
package struct MutexWord: Equatable, Sendable {
    package var raw: UInt32
    package init(raw: UInt32) { self.raw = raw }
    /// The owner's TID (0 when free).
    package var ownerTID: Int32 { Int32(raw & IPCSCOPE_FUTEX_TID_MASK) }
    /// `FUTEX_WAITERS`: someone sleeps in the kernel on this mutex.
    package var waiters: Bool { raw & IPCSCOPE_FUTEX_WAITERS != 0 }
    /// `FUTEX_OWNER_DIED`: the owner died holding it; the next locker gets EOWNERDEAD.
    package var ownerDied: Bool { raw & IPCSCOPE_FUTEX_OWNER_DIED != 0 }
    package var isFree: Bool { ownerTID == 0 }
}

/// Everything in a section at one moment, read with `pread` through a read-only descriptor.
///
/// Fields come from a private copy of the bytes, so a section changing under the reader can
/// only produce a torn snapshot (see `torn`), never a crash. `problems` lists what failed
/// validation; when `identity` is nil or `layout` is nil, only the raw bytes are trustworthy.
package struct Snapshot: Sendable {
    /// The service name.
    package var service: String
    /// When the snapshot was taken (CLOCK_MONOTONIC ns).
    package var takenNS: UInt64
    /// The object's size, owner, mode (from `fstat`).
    package var objectSize: Int
    package var ownerUID: UInt32
    package var mode: UInt32
    /// Whether a server holds the liveness lock.
    package var serverAlive: Bool
    /// Header line 0, if at least 64 bytes could be read.
    package var identity: SectionIdentity?
    /// The layout, when the identity checks out against the object's size.
    package var layout: SectionLayout?
    /// Why the section is not trustworthy, if it is not (empty when it is valid).
    package var problems: [String]
    /// The raw bytes read (the header and slots; trace ring included).
    package var bytes: [UInt8]

    // line 1
    package var serverPID: Int32 = 0
    package var serverEpoch: UInt32 = 0
    package var serverStartTime: UInt64 = 0
    package var heartbeatNS: UInt64 = 0
    package var serverFlags: UInt32 = 0
    package var callsServed: UInt64 = 0
    package var callsRejected: UInt64 = 0
    package var lastServiceNS: UInt64 = 0
    package var traceHead: UInt64 = 0
    // mutex
    package var mutexWord = MutexWord(raw: 0)
    package var ownerPID: Int32 = 0
    package var ownerTID: Int32 = 0
    package var ownerSinceNS: UInt64 = 0
    package var lockCount: UInt64 = 0
    package var contendedCount: UInt64 = 0
    package var recoveredCount: UInt64 = 0
    // protocol
    package var stateRaw: UInt32 = 0
    package var requestEvent: UInt32 = 0
    package var responseEvent: UInt32 = 0
    package var serverWaiting: UInt32 = 0
    package var clientWaiting: UInt32 = 0
    package var stateSinceNS: UInt64 = 0
    package var nextSeq: UInt64 = 0
    // slots
    package var requestSeq: UInt64 = 0
    package var requestClientPID: Int32 = 0
    package var requestClientTID: Int32 = 0
    package var requestFunction: UInt32 = 0
    package var requestSize: UInt32 = 0
    package var requestSentNS: UInt64 = 0
    package var responseSeq: UInt64 = 0
    package var responseStatus: Int32 = 0
    package var responseSize: UInt32 = 0
    package var responseDoneNS: UInt64 = 0
    /// Trace records in order of `seq` (oldest first); torn ones are left out and counted.
    package var trace: [TraceRecord] = []
    /// Records in the ring that were being rewritten while read.
    package var tornRecords = 0
    /// Whether `state` and both slots' `seq` read the same again after the copy: only then can
    /// a slot's payload be trusted whole (a writer publishes `seq` last, so a slot being
    /// rewritten still shows the old `seq`). Always true for a snapshot built from bytes.
    package var slotsSettled = true
    /// Whether the mutex was free, and never taken, from before the copy to after it (word free
    /// both times, `lock_count` unchanged): then no client can have been writing the request slot.
    /// False unless a reader checked it.
    package var mutexQuiet = false
    /// Whether the thread the mutex word names exists (nil: free, or unknown). Set by
    /// `SectionReader`, which can ask /proc; a word naming a dead thread is a wedged mutex.
    package var ownerThreadAlive: Bool?

    /// The creator holds the liveness lock but has not written the header yet (no magic, or
    /// fewer bytes than a header): a server starting, not a broken section.
    package var starting: Bool { serverAlive && !(identity?.magicOK ?? false) }
    /// The mutex word names a thread that no longer exists: the lock is held by no one alive.
    package var ownerThreadDead: Bool { !mutexWord.isFree && ownerThreadAlive == false }
    /// `client_waiting` counts clients that entered a wait on `response_event`; one killed while
    /// waiting stays counted. Non-zero while IDLE (no call in flight) means such leftovers.
    package var clientWaitingLooksLeaked: Bool { state == .idle && clientWaiting > 0 }

    /// The state, if it is one of the four.
    package var state: ProtocolState? { ProtocolState(rawValue: stateRaw) }
    package var shuttingDown: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_SHUTTING_DOWN) != 0 }
    package var stepMode: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_STEP_MODE) != 0 }
    package var tracing: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_TRACING) != 0 }
    /// Served by a Windows NT program (amendment 2): its mutex and events are NT objects beside
    /// the section, the mutex bytes stay zero, and pids and tids are NT ids, not Linux ones.
    package var ntObjects: Bool { serverFlags & serverFlagNTObjects != 0 }
    package var isValid: Bool { problems.isEmpty && layout != nil }

    /// The current request payload (clamped to the capacity and to what was read).
    package var requestPayload: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.requestOffset + Int(IPCSCOPE_REQ_DATA), min(Int(requestSize), l.requestCapacity))
    }
    /// The whole request data area (`request_capacity` bytes).
    package var requestArea: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.requestOffset + Int(IPCSCOPE_REQ_DATA), l.requestCapacity)
    }
    /// The current response payload (clamped to the capacity and to what was read).
    package var responsePayload: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.responseOffset + Int(IPCSCOPE_RSP_DATA), min(Int(responseSize), l.responseCapacity))
    }
    /// The whole response data area (`response_capacity` bytes).
    package var responseArea: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.responseOffset + Int(IPCSCOPE_RSP_DATA), l.responseCapacity)
    }
    /// Whether the mutex word and the owner record disagree (e.g. owner died, or mid-update).
    package var ownerMismatch: Bool {
        !ntObjects && ((mutexWord.isFree && ownerTID != 0) || (!mutexWord.isFree && ownerTID != 0 && mutexWord.ownerTID != ownerTID))
    }

    func slice(_ offset: Int, _ count: Int) -> [UInt8] {
        guard offset >= 0, count > 0, offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }

    /// Decodes `bytes` (the start of an object of `objectSize` bytes) into a snapshot.
    /// Never traps: every offset is checked against what was read.
    package init(service: String, bytes: [UInt8], objectSize: Int, ownerUID: UInt32 = 0, mode: UInt32 = 0,
                serverAlive: Bool = false, takenNS: UInt64 = monotonicNanoseconds()) {
        self.service = service
        self.bytes = bytes
        self.objectSize = objectSize
        self.ownerUID = ownerUID
        self.mode = mode
        self.serverAlive = serverAlive
        self.takenNS = takenNS
        self.problems = []
        identity = SectionIdentity(bytes: bytes)
        guard let identity else {
            problems.append("object is \(objectSize) bytes, too short for a section header")
            return
        }
        do {
            layout = try identity.validate(objectSize: objectSize, service: service)
        } catch {
            problems.append(error.message)
        }
        guard bytes.count >= Int(IPCSCOPE_HEADER_SIZE) else {
            if problems.isEmpty { problems.append("only \(bytes.count) bytes could be read") }
            return
        }
        func u32(_ o: Int) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        func i32(_ o: Int) -> Int32 { Int32(bitPattern: u32(o)) }
        func u64(_ o: Int) -> UInt64 { bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) } }
        serverPID = i32(Int(IPCSCOPE_OFF_SERVER_PID))
        serverEpoch = u32(Int(IPCSCOPE_OFF_SERVER_EPOCH))
        serverStartTime = u64(Int(IPCSCOPE_OFF_SERVER_STARTTIME))
        heartbeatNS = u64(Int(IPCSCOPE_OFF_HEARTBEAT_NS))
        serverFlags = u32(Int(IPCSCOPE_OFF_SERVER_FLAGS))
        callsServed = u64(Int(IPCSCOPE_OFF_CALLS_SERVED))
        callsRejected = u64(Int(IPCSCOPE_OFF_CALLS_REJECTED))
        lastServiceNS = u64(Int(IPCSCOPE_OFF_LAST_SERVICE_NS))
        traceHead = u64(Int(IPCSCOPE_OFF_TRACE_HEAD))
        mutexWord = MutexWord(raw: u32(Int(IPCSCOPE_OFF_MUTEX)))
        ownerPID = i32(Int(IPCSCOPE_OFF_OWNER_PID))
        ownerTID = i32(Int(IPCSCOPE_OFF_OWNER_TID))
        ownerSinceNS = u64(Int(IPCSCOPE_OFF_OWNER_SINCE_NS))
        lockCount = u64(Int(IPCSCOPE_OFF_LOCK_COUNT))
        contendedCount = u64(Int(IPCSCOPE_OFF_CONTENDED_COUNT))
        recoveredCount = u64(Int(IPCSCOPE_OFF_RECOVERED_COUNT))
        stateRaw = u32(Int(IPCSCOPE_OFF_STATE))
        requestEvent = u32(Int(IPCSCOPE_OFF_REQUEST_EVENT))
        responseEvent = u32(Int(IPCSCOPE_OFF_RESPONSE_EVENT))
        serverWaiting = u32(Int(IPCSCOPE_OFF_SERVER_WAITING))
        clientWaiting = u32(Int(IPCSCOPE_OFF_CLIENT_WAITING))
        stateSinceNS = u64(Int(IPCSCOPE_OFF_STATE_SINCE_NS))
        nextSeq = u64(Int(IPCSCOPE_OFF_NEXT_SEQ))
        if state == nil { problems.append("state field holds \(stateRaw), not one of 0...3") }

        guard let l = layout, bytes.count >= l.responseOffset + Int(IPCSCOPE_SLOT_HEADER_SIZE) else { return }
        let rq = l.requestOffset, rs = l.responseOffset
        requestSeq = u64(rq + Int(IPCSCOPE_REQ_SEQ))
        requestClientPID = i32(rq + Int(IPCSCOPE_REQ_CLIENT_PID))
        requestClientTID = i32(rq + Int(IPCSCOPE_REQ_CLIENT_TID))
        requestFunction = u32(rq + Int(IPCSCOPE_REQ_FUNCTION))
        requestSize = u32(rq + Int(IPCSCOPE_REQ_SIZE))
        requestSentNS = u64(rq + Int(IPCSCOPE_REQ_SENT_NS))
        responseSeq = u64(rs + Int(IPCSCOPE_RSP_SEQ))
        responseStatus = i32(rs + Int(IPCSCOPE_RSP_STATUS))
        responseSize = u32(rs + Int(IPCSCOPE_RSP_SIZE))
        responseDoneNS = u64(rs + Int(IPCSCOPE_RSP_DONE_NS))
        if Int(requestSize) > l.requestCapacity {
            problems.append("request_size \(requestSize) exceeds request_capacity \(l.requestCapacity)")
        }
        if Int(responseSize) > l.responseCapacity {
            problems.append("response_size \(responseSize) exceeds response_capacity \(l.responseCapacity)")
        }
    }
}

/// Reads snapshots of a named section without ever writing it: `O_RDONLY | O_NOFOLLOW`,
/// `pread` only, no mapping, no mutex, no futex wait.
package final class SectionReader {
    package let service: ServiceName
    private var fd: Int32 = -1
    private var inode: UInt64 = 0

    /// Validates the name; opening happens on the first `snapshot()`.
    package init(service: String) throws(IPCError) {
        self.service = try ServiceName(service)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Takes one snapshot: header, slots and trace ring, each trace record re-checked.
    ///
    /// Reopens the object when the name now points at a new one (a server restarted).
    /// - Throws: `noSuchService` when no object exists; `system` when it cannot be read.
    package func snapshot() throws(IPCError) -> Snapshot {
        try reopenIfReplaced()
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw IPCError(.system, service: service.rawValue, "fstat failed", errno: errno) }
        let size = Int(st.st_size)
        var alive: Int32 = 0
        _ = CIPCScope_ofd_probe(fd, &alive)
        let header = read(at: 0, count: min(size, Int(IPCSCOPE_HEADER_SIZE)))
        // How much to read: the whole section when the header checks out, else just the header.
        var want = header.count
        if let id = SectionIdentity(bytes: header), let l = try? id.validate(objectSize: size, service: service.rawValue) {
            want = l.sectionSize  // equal to id.sectionSize and to the object's size, so it fits an Int
        }
        var bytes = header
        if want > header.count { bytes += read(at: header.count, count: want - header.count) }
        var snap = Snapshot(service: service.rawValue, bytes: bytes, objectSize: size, ownerUID: st.st_uid,
                            mode: st.st_mode & 0o7777, serverAlive: alive != 0)
        if let l = snap.layout, l.traceCapacity > 0, bytes.count >= l.traceOffset + l.traceCapacity * 64 {
            readTrace(&snap, l)
        }
        if !snap.mutexWord.isFree { snap.ownerThreadAlive = ProcessFacts.threadExists(snap.mutexWord.ownerTID) }
        if let l = snap.layout {
            snap.slotsSettled = slotsUnchanged(snap, l)
            let word = read(at: Int(IPCSCOPE_OFF_MUTEX), count: 4), locks = read(at: Int(IPCSCOPE_OFF_LOCK_COUNT), count: 8)
            snap.mutexQuiet = snap.mutexWord.isFree && word.count == 4 && locks.count == 8
                && MutexWord(raw: word.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }).isFree
                && locks.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == snap.lockCount
        }
        return snap
    }

    /// Reads `state` and the two slots' `seq` again: unchanged means no slot was rewritten
    /// during the copy in a way that could tear it (see `Snapshot.slotsSettled`).
    private func slotsUnchanged(_ snap: Snapshot, _ l: SectionLayout) -> Bool {
        func u64(_ b: [UInt8]) -> UInt64? { b.count == 8 ? b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } : nil }
        let state = read(at: Int(IPCSCOPE_OFF_STATE), count: 4)
        guard state.count == 4, state.withUnsafeBytes({ $0.loadUnaligned(as: UInt32.self) }) == snap.stateRaw,
              u64(read(at: l.requestOffset, count: 8)) == snap.requestSeq,
              u64(read(at: l.responseOffset, count: 8)) == snap.responseSeq
        else { return false }
        return true
    }

    /// The trace ring: seq before (in the bulk copy) and after (a second pread) must agree.
    private func readTrace(_ snap: inout Snapshot, _ l: SectionLayout) {
        // trace_head counts records ever written and wraps: the ring holds the `count` positions
        // before it, wrapping arithmetic included.
        let cap = l.traceCapacity
        let head = snap.traceHead
        let count = Int(min(head, UInt64(cap)))
        guard count > 0 else { return }
        let recheck = read(at: l.traceOffset, count: cap * 64)
        var records: [TraceRecord] = []
        records.reserveCapacity(count)
        snap.bytes.withUnsafeBytes { b in
            for k in 0..<count {
                let n = head &- UInt64(count) &+ UInt64(k)
                let idx = Int(n & UInt64(cap - 1))
                let o = l.traceOffset + idx * 64
                let seq = b.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                guard seq != 0, o - l.traceOffset + 8 <= recheck.count,
                      recheck.withUnsafeBytes({ $0.loadUnaligned(fromByteOffset: o - l.traceOffset, as: UInt64.self) }) == seq
                else { snap.tornRecords += 1; continue }
                records.append(TraceRecord(decoding: b, at: o))
            }
        }
        records.sort { $0.seq < $1.seq }
        snap.trace = records
    }

    private func reopenIfReplaced() throws(IPCError) {
        var st = stat()
        let exists = lstat(service.path, &st) == 0
        if fd >= 0 {
            if exists && UInt64(st.st_ino) == inode { return }
            close(fd)
            fd = -1
        }
        let f = try openSectionReadOnly(service)
        fd = f
        var fst = stat()
        _ = fstat(fd, &fst)
        inode = UInt64(fst.st_ino)
    }

    private func read(at offset: Int, count: Int) -> [UInt8] { preadBytes(fd, at: offset, count: count) }
}

/// Opens a section for reading only, never blocking and never following a link; anything
/// but a regular file is refused (see `openObjectReadOnly`).
/// - Throws: `noSuchService` when there is no object; `foreignOwner` when it is not readable by
///   this user; `corruptSection` when it is not a regular file; `system` otherwise.
package func openSectionReadOnly(_ service: ServiceName) throws(IPCError) -> Int32 {
    try openObjectReadOnly(path: service.path, service: service.rawValue)
}

