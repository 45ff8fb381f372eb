#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit

/// One trace-ring record, accepted only if its `seq` read the same non-zero value
/// before and after the copy.
public struct TraceRecord: Equatable, Sendable {
    public var seq: UInt64
    public var function: UInt32
    public var status: Int32
    public var requestSize: UInt32
    public var responseSize: UInt32
    public var clientPID: Int32
    public var flags: UInt32
    public var sentNS: UInt64
    public var doneNS: UInt64
    public var requestHead: [UInt8]

    /// Round-trip latency as the server saw it (sent → done), in nanoseconds.
    public var latencyNS: UInt64 { doneNS >= sentNS ? doneNS - sentNS : 0 }
    public var rejected: Bool { flags & UInt32(IPCSCOPE_TRACE_REJECTED) != 0 }
    public var afterRecovery: Bool { flags & UInt32(IPCSCOPE_TRACE_AFTER_RECOVERY) != 0 }
}

extension TraceRecord {
    /// Decodes the 64-byte record at `offset` of `bytes` (the caller has checked the bounds
    /// and the `seq` before and after the copy).
    public init(decoding bytes: UnsafeRawBufferPointer, at offset: Int) {
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
public enum ProtocolState: UInt32, Sendable, CaseIterable {
    case idle = 0, requestReady = 1, processing = 2, responseReady = 3

    /// The name the format uses: IDLE, REQUEST_READY, PROCESSING, RESPONSE_READY.
    public var name: String {
        switch self {
        case .idle: "IDLE"
        case .requestReady: "REQUEST_READY"
        case .processing: "PROCESSING"
        case .responseReady: "RESPONSE_READY"
        }
    }
}

/// The robust-futex word at the start of the mutex, decoded.
public struct MutexWord: Equatable, Sendable {
    public var raw: UInt32
    public init(raw: UInt32) { self.raw = raw }
    /// The owner's TID (0 when free).
    public var ownerTID: Int32 { Int32(raw & IPCSCOPE_FUTEX_TID_MASK) }
    /// `FUTEX_WAITERS`: someone sleeps in the kernel on this mutex.
    public var waiters: Bool { raw & IPCSCOPE_FUTEX_WAITERS != 0 }
    /// `FUTEX_OWNER_DIED`: the owner died holding it; the next locker gets EOWNERDEAD.
    public var ownerDied: Bool { raw & IPCSCOPE_FUTEX_OWNER_DIED != 0 }
    public var isFree: Bool { ownerTID == 0 }
}

/// Everything in a section at one moment, read with `pread` through a read-only descriptor.
///
/// Fields come from a private copy of the bytes, so a section changing under the reader can
/// only produce a torn snapshot (see `torn`), never a crash. `problems` lists what failed
/// validation; when `identity` is nil or `layout` is nil, only the raw bytes are trustworthy.
public struct Snapshot: Sendable {
    /// The service name.
    public var service: String
    /// When the snapshot was taken (CLOCK_MONOTONIC ns).
    public var takenNS: UInt64
    /// The object's size, owner, mode (from `fstat`).
    public var objectSize: Int
    public var ownerUID: UInt32
    public var mode: UInt32
    /// Whether a server holds the liveness lock.
    public var serverAlive: Bool
    /// Header line 0, if at least 64 bytes could be read.
    public var identity: SectionIdentity?
    /// The layout, when the identity checks out against the object's size.
    public var layout: SectionLayout?
    /// Why the section is not trustworthy, if it is not (empty when it is valid).
    public var problems: [String]
    /// The raw bytes read (the header and slots; trace ring included).
    public var bytes: [UInt8]

    // line 1
    public var serverPID: Int32 = 0
    public var serverEpoch: UInt32 = 0
    public var serverStartTime: UInt64 = 0
    public var heartbeatNS: UInt64 = 0
    public var serverFlags: UInt32 = 0
    public var callsServed: UInt64 = 0
    public var callsRejected: UInt64 = 0
    public var lastServiceNS: UInt64 = 0
    public var traceHead: UInt64 = 0
    // mutex
    public var mutexWord = MutexWord(raw: 0)
    public var ownerPID: Int32 = 0
    public var ownerTID: Int32 = 0
    public var ownerSinceNS: UInt64 = 0
    public var lockCount: UInt64 = 0
    public var contendedCount: UInt64 = 0
    public var recoveredCount: UInt64 = 0
    // protocol
    public var stateRaw: UInt32 = 0
    public var requestEvent: UInt32 = 0
    public var responseEvent: UInt32 = 0
    public var serverWaiting: UInt32 = 0
    public var clientWaiting: UInt32 = 0
    public var stateSinceNS: UInt64 = 0
    public var nextSeq: UInt64 = 0
    // slots
    public var requestSeq: UInt64 = 0
    public var requestClientPID: Int32 = 0
    public var requestClientTID: Int32 = 0
    public var requestFunction: UInt32 = 0
    public var requestSize: UInt32 = 0
    public var requestSentNS: UInt64 = 0
    public var responseSeq: UInt64 = 0
    public var responseStatus: Int32 = 0
    public var responseSize: UInt32 = 0
    public var responseDoneNS: UInt64 = 0
    /// Trace records in order of `seq` (oldest first); torn ones are left out and counted.
    public var trace: [TraceRecord] = []
    /// Records in the ring that were being rewritten while read.
    public var tornRecords = 0
    /// Whether `state` and both slots' `seq` read the same again after the copy: only then can
    /// a slot's payload be trusted whole (a writer publishes `seq` last, so a slot being
    /// rewritten still shows the old `seq`). Always true for a snapshot built from bytes.
    public var slotsSettled = true
    /// Whether the mutex was free, and never taken, from before the copy to after it (word free
    /// both times, `lock_count` unchanged): then no client can have been writing the request slot.
    /// False unless a reader checked it.
    public var mutexQuiet = false
    /// Whether the thread the mutex word names exists (nil: free, or unknown). Set by
    /// `SectionReader`, which can ask /proc; a word naming a dead thread is a wedged mutex.
    public var ownerThreadAlive: Bool?

    /// The creator holds the liveness lock but has not written the header yet (no magic, or
    /// fewer bytes than a header): a server starting, not a broken section.
    public var starting: Bool { serverAlive && !(identity?.magicOK ?? false) }
    /// The mutex word names a thread that no longer exists: the lock is held by no one alive.
    public var ownerThreadDead: Bool { !mutexWord.isFree && ownerThreadAlive == false }
    /// `client_waiting` counts clients that entered a wait on `response_event`; one killed while
    /// waiting stays counted. Non-zero while IDLE (no call in flight) means such leftovers.
    public var clientWaitingLooksLeaked: Bool { state == .idle && clientWaiting > 0 }

    /// The state, if it is one of the four.
    public var state: ProtocolState? { ProtocolState(rawValue: stateRaw) }
    public var shuttingDown: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_SHUTTING_DOWN) != 0 }
    public var stepMode: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_STEP_MODE) != 0 }
    public var tracing: Bool { serverFlags & UInt32(IPCSCOPE_SERVER_TRACING) != 0 }
    /// Served by a Windows NT program (amendment 2): its mutex and events are NT objects beside
    /// the section, the mutex bytes stay zero, and pids and tids are NT ids, not Linux ones.
    public var ntObjects: Bool { serverFlags & serverFlagNTObjects != 0 }
    public var isValid: Bool { problems.isEmpty && layout != nil }

    /// The current request payload (clamped to the capacity and to what was read).
    public var requestPayload: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.requestOffset + Int(IPCSCOPE_REQ_DATA), min(Int(requestSize), l.requestCapacity))
    }
    /// The whole request data area (`request_capacity` bytes).
    public var requestArea: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.requestOffset + Int(IPCSCOPE_REQ_DATA), l.requestCapacity)
    }
    /// The current response payload (clamped to the capacity and to what was read).
    public var responsePayload: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.responseOffset + Int(IPCSCOPE_RSP_DATA), min(Int(responseSize), l.responseCapacity))
    }
    /// The whole response data area (`response_capacity` bytes).
    public var responseArea: [UInt8] {
        guard let l = layout else { return [] }
        return slice(l.responseOffset + Int(IPCSCOPE_RSP_DATA), l.responseCapacity)
    }
    /// Whether the mutex word and the owner record disagree (e.g. owner died, or mid-update).
    public var ownerMismatch: Bool {
        !ntObjects && ((mutexWord.isFree && ownerTID != 0) || (!mutexWord.isFree && ownerTID != 0 && mutexWord.ownerTID != ownerTID))
    }

    func slice(_ offset: Int, _ count: Int) -> [UInt8] {
        guard offset >= 0, count > 0, offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }

    /// Decodes `bytes` (the start of an object of `objectSize` bytes) into a snapshot.
    /// Never traps: every offset is checked against what was read.
    public init(service: String, bytes: [UInt8], objectSize: Int, ownerUID: UInt32 = 0, mode: UInt32 = 0,
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
public final class SectionReader {
    public let service: ServiceName
    private var fd: Int32 = -1
    private var inode: UInt64 = 0

    /// Validates the name; opening happens on the first `snapshot()`.
    public init(service: String) throws(IPCError) {
        self.service = try ServiceName(service)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Takes one snapshot: header, slots and trace ring, each trace record re-checked.
    ///
    /// Reopens the object when the name now points at a new one (a server restarted).
    /// - Throws: `noSuchService` when no object exists; `system` when it cannot be read.
    public func snapshot() throws(IPCError) -> Snapshot {
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
        if !snap.mutexWord.isFree { snap.ownerThreadAlive = threadExists(snap.mutexWord.ownerTID) }
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
func openSectionReadOnly(_ service: ServiceName) throws(IPCError) -> Int32 {
    try openObjectReadOnly(path: service.path, service: service.rawValue)
}

