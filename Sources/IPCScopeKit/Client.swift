#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Synchronization
import IPCScopePOSIX

/// How a client connects and waits.
public struct ClientOptions: Sendable {
    /// Also trust objects owned by this uid (besides your own and root's).
    public var trustedUID: uid_t?
    /// Also use a section that every user may write (mode `o+w`). Off by default: anyone could
    /// read the calls, forge the answers, and corrupt the mutex's robust-list pointers, which
    /// glibc writes through in this process. Sharing with a group (mode 660) needs no option.
    public var trustWorldWritable = false
    /// How long connecting waits for a section that is still being created (its server holds
    /// the liveness lock but has not written the header yet).
    public var startingWait: Duration = .seconds(1)
    /// How long a call spins for the response before it sleeps on the futex.
    /// Covers a typical handler plus one kernel wake-up of the server.
    public var spin: Duration = .microseconds(100)
    /// Default deadline of `call` when none is given.
    public var timeout: Duration = .seconds(5)

    /// The defaults: 100 µs of spinning, a 5 s deadline, no trust in world-writable sections.
    public init() {}
}

/// The answer to a call.
public struct Reply: Sendable, Equatable {
    /// The handler's status (the framework reserves -1 ... -99).
    public var status: Int32
    /// The response bytes.
    public var data: [UInt8]
    /// The call's sequence number.
    public var seq: UInt64

    /// A reply with its status, bytes and the call's sequence number.
    public init(status: Int32, data: [UInt8], seq: UInt64) {
        self.status = status
        self.data = data
        self.seq = seq
    }
}

/// Makes calls to a named service. Thread-safe: the section's robust mutex serialises
/// every caller, in this process or another.
///
/// `disconnect()` (or deinit) releases the mapping and descriptor once no call is running.
public final class Client: @unchecked Sendable {
    /// The service this client is connected to.
    public let service: ServiceName
    /// The section's capacities, read from its header at connect.
    public let layout: SectionLayout
    /// The options the client was made with.
    public let options: ClientOptions

    private let file: SectionFile
    private let view: SectionView
    private let pid = getpid()
    /// Bit 0: disconnected. Upper bits: calls in flight, 2 each.
    private let usage = Atomic<Int>(0)
    private let released = Atomic<Bool>(false)

    /// Connects to `service`.
    ///
    /// A section still being created (*starting*: its server holds the liveness lock but has not
    /// written the header or `server_pid`, or the object is empty and was created within
    /// `startingWait`, its server between `O_EXCL` and its lock) is waited for, up to
    /// `options.startingWait`.
    ///
    /// - Throws: `badName`; `noSuchService`; `foreignOwner` (object owned by an untrusted uid);
    ///   `untrustedMode` (world-writable, unless trusted); `serverStarting` (still starting after
    ///   the wait);
    ///   `corruptSection` / `incompatibleSection` (also: served by an NT program, `serverFlagNTObjects`);
    ///   `serverNotRunning` (a stale section); `system`.
    public init(service name: String, options: ClientOptions = ClientOptions()) throws(IPCError) {
        let service = try ServiceName(name)
        self.service = service
        self.options = options
        let file = try SectionFile.open(service, flags: O_RDWR)
        let st = try file.stat()
        let me = geteuid()
        if st.st_uid != me && st.st_uid != 0 && st.st_uid != options.trustedUID {
            throw IPCError(.foreignOwner, service: name,
                           "\(service.path) belongs to \(userName(st.st_uid)), not to you (uid \(me)) or root: it may be a squatter reading your calls; if you trust it, pass --trust-uid \(st.st_uid)")
        }
        if st.st_mode & S_IWOTH != 0 && !options.trustWorldWritable {
            throw IPCError(.untrustedMode, service: name,
                           "\(service.path) is writable by every user (mode \(octal(st.st_mode & 0o777))): anyone could read your calls and forge the answers; restart its server with --mode 600 (or 660 to share with a group), or pass --trust-world-writable")
        }
        // A section being created (lock held, magic not yet written; or empty and just created,
        // its server between O_EXCL and its lock): wait a moment for it.
        let wait = options.startingWait.nanosecondsClamped
        let startedWaiting = monotonicNanoseconds()
        while SectionObject.isStarting(fd: file.fd) || Client.claimPending(file) || Client.justCreated(file, within: wait) {
            if monotonicNanoseconds() &- startedWaiting >= wait {
                // Still empty and unlocked: its creator died before writing it (the error below says so).
                guard file.serverLockHeld() else { break }
                throw IPCError(.serverStarting, service: name,
                               "service '\(name)' is starting (its server holds the section but has not finished creating it): try again in a moment")
            }
            usleep(2_000)
        }
        let size = try file.stat().st_size
        guard let identity = SectionIdentity(bytes: file.read(at: 0, count: 64)) else {
            throw IPCError(.corruptSection, service: name,
                           "\(service.path) is \(size) bytes, too short to be a section: remove it with 'ipcscope clean \(name)'")
        }
        self.layout = try identity.validate(objectSize: Int(size), service: name)
        let flags = file.read(at: Int(IPCSCOPE_OFF_SERVER_FLAGS), count: 4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        if flags & serverFlagNTObjects != 0 {
            throw IPCError(.incompatibleSection, service: name,
                           "service '\(name)' is served by a Windows (NT) program: its mutex and events are NT objects a Linux client cannot use; watch it with 'ipcscope status \(name)' or call it from a Windows build of libmbvipc")
        }
        guard file.serverLockHeld() else {
            throw IPCError(.serverNotRunning, service: name,
                           "service '\(name)' has a section but no server is running (stale): start its server, or remove it with 'ipcscope clean'")
        }
        _ = try file.map(size: layout.sectionSize)
        self.file = file
        self.view = SectionView(file.base!)
    }

    deinit { release() }

    /// A valid header, the liveness lock held, but `server_pid` still 0 and no shutdown under
    /// way: the server has not finished claiming the section (it stores `server_pid` last).
    private static func claimPending(_ file: SectionFile) -> Bool {
        let line1 = file.read(at: 0, count: 96)
        guard line1.count == 96, Array(line1[0..<8]) == Array("IPCSCOPE".utf8) else { return false }
        let (pid, flags) = line1.withUnsafeBytes {
            ($0.loadUnaligned(fromByteOffset: Int(IPCSCOPE_OFF_SERVER_PID), as: Int32.self),
             $0.loadUnaligned(fromByteOffset: Int(IPCSCOPE_OFF_SERVER_FLAGS), as: UInt32.self))
        }
        return pid == 0 && flags & UInt32(IPCSCOPE_SERVER_SHUTTING_DOWN) == 0 && file.serverLockHeld()
    }

    /// An empty object, no lock on it, created (or changed) less than `within` ns ago: its server
    /// may be between `O_EXCL` and taking the liveness lock, a moment in which the object
    /// cannot say "starting" yet. An older one is a creator that died before writing anything.
    private static func justCreated(_ file: SectionFile, within: UInt64) -> Bool {
        guard let st = try? file.stat(), st.st_size == 0, !file.serverLockHeld() else { return false }
        let changed = Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec)
        let now = Int64(bitPattern: realtimeNanoseconds())
        // ctime is a coarse clock: a moment "in the future" by a tick still counts as just now.
        return now &- changed < Int64(clamping: within) && changed &- now < 100_000_000
    }

    /// The request capacity in bytes.
    public var requestCapacity: Int { layout.requestCapacity }
    /// The response capacity in bytes.
    public var responseCapacity: Int { layout.responseCapacity }

    /// Whether a server holds the section's liveness lock right now (one `fcntl`).
    public var serverIsAlive: Bool { file.serverLockHeld() }

    /// Stops new calls; the mapping is released when the last running call returns.
    public func disconnect() {
        let old = usage.bitwiseOr(1, ordering: .sequentiallyConsistent).oldValue
        if old == 0 { release() }
    }

    private func release() {
        guard released.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        file.close()
    }

    // MARK: - calls

    /// Calls `function` with `payload`; returns the status and a copy of the response.
    /// `cancellation` lets another thread give the call up while it waits (see ``CallCancellation``).
    public func call(function: UInt32, payload: [UInt8] = [], timeout: Duration? = nil,
                     cancellation: CallCancellation? = nil) throws(IPCError) -> Reply {
        // One allocation: the response is copied straight into the array it is returned in.
        var result: Result<(status: Int32, count: Int, seq: UInt64), IPCError> = .success((0, 0, 0))
        let data = [UInt8](unsafeUninitializedCapacity: layout.responseCapacity) { buffer, initialized in
            result = payload.withUnsafeBytes { p in
                Result { () throws(IPCError) in
                    try call(function: function, payload: p, into: UnsafeMutableRawBufferPointer(buffer), timeout: timeout,
                             cancellation: cancellation)
                }
            }
            initialized = (try? result.get().count) ?? 0
        }
        let (status, _, seq) = try result.get()
        return Reply(status: status, data: data, seq: seq)
    }

    /// Calls `function` without allocating: the response is copied into `response`.
    ///
    /// Blocks until the answer, the deadline, or the server's death. Follows the format's
    /// "call, step by step": robust mutex (repairs `EOWNERDEAD`), waits for a free slot,
    /// writes the request, wakes the server only if it sleeps, spins then sleeps in slices
    /// of at most 100 ms, checking between slices that the server lives.
    /// `cancellation` lets another thread give the call up while it waits (see ``CallCancellation``).
    /// - Returns: the status, the response's size, and the call's sequence number.
    /// - Throws: `payloadTooLarge` before touching the section; `timeout`; `cancelled`; `serverGone`;
    ///   `mutexUnrecoverable`; `protocolError`; `bufferTooSmall`; `disconnected`.
    ///
    /// Steps 1, 2 and 7 here, the rest in `callLocked`, as the C library's `MBV_IPCCallTimeout`.
    public func call(function: UInt32, payload: UnsafeRawBufferPointer, into response: UnsafeMutableRawBufferPointer,
                     timeout: Duration? = nil, cancellation: CallCancellation? = nil) throws(IPCError) -> (status: Int32, count: Int, seq: UInt64) {
        // 1. Refuse an oversized payload before touching the section.
        guard payload.count <= layout.requestCapacity else {
            throw IPCError(.payloadTooLarge, service: service.rawValue,
                           "payload of \(payload.count) bytes exceeds the request capacity of \(layout.requestCapacity) bytes of service '\(service)': send less, or start the server with a larger --request-capacity")
        }
        if usage.add(2, ordering: .sequentiallyConsistent).oldValue & 1 != 0 {
            leave()
            throw IPCError(.disconnected, service: service.rawValue, "client of '\(service)' is disconnected: connect again")
        }
        defer { leave() }
        let v = view
        // The server's line (read below) changed during the last call, and the lines this call
        // writes (owner record, request slot) were read by the other side: ask for them first,
        // so the transfers overlap the clock read and the mutex instead of stalling the reads
        // and the request.
        let req = layout.requestOffset
        CIPCScope_prefetch_read(v.ptr(Int(IPCSCOPE_OFF_SERVER_PID)))
        CIPCScope_prefetch_write(v.ptr(Int(IPCSCOPE_OFF_OWNER_PID)))
        CIPCScope_prefetch_write(v.ptr(req))
        if payload.count > 0 { CIPCScope_prefetch_write(v.ptr(req + Int(IPCSCOPE_REQ_DATA))) }
        // Clock reads are shared where the moments are the same to within nanoseconds.
        let start = monotonicNanoseconds()
        let deadline = start &+ (timeout ?? options.timeout).nanosecondsClamped

        // 2. Lock the mutex with the deadline; repair after a dead owner. Its bytes are checked
        //    first: a mutated type word sends glibc down paths that abort or write through pointers.
        var kind: Int32 = 0, expected: Int32 = 0
        if CIPCScope_mutex_check(v.mutex, &kind, &expected) != 0 {
            throw IPCError(.corruptSection, service: service.rawValue,
                           "the mutex of '\(service)' is corrupt (type word \(kind), a robust process-shared mutex has \(expected)): restart its server (a new server recreates the section)")
        }
        var contended = false
        var r = CIPCScope_mutex_trylock(v.mutex)
        if r == EBUSY {
            contended = true
            r = lockContended(deadline: deadline, cancellation: cancellation)
        }
        switch r {
        case 0: break
        case EOWNERDEAD:
            _ = CIPCScope_mutex_consistent(v.mutex)
            v.add64(Int(IPCSCOPE_OFF_RECOVERED_COUNT), 1)
            // Only the mutex holder ever waits on response_event (steps 3 and 5), so the one
            // thread client_waiting can count now is the dead owner: its count leaked.
            v.store32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 0)
            // The dead owner may have published its request and died before it signalled the
            // server, which then sleeps out its 1 s slice: signal it now.
            if v.stateHandshake == UInt32(IPCSCOPE_STATE_REQUEST_READY) {
                v.add32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
                _ = CIPCScope_futex_wake(v.requestEvent, 1)
            }
        case ETIMEDOUT where cancellation?.isCancelled == true:
            throw cancelled("while it waited for the mutex")
        case ETIMEDOUT:
            let owner = Int32(bitPattern: v.load32(Int(IPCSCOPE_OFF_OWNER_PID)))
            let tid = CIPCScope_mutex_owner_tid(v.mutex)
            if tid > 0 && !ProcessFacts.threadAlive(tid) {
                throw IPCError(.timeout, service: service.rawValue,
                               "the mutex of '\(service)' is held by thread \(tid), which no longer exists (the section is wedged): restart its server (it recreates the section)")
            }
            throw IPCError(.timeout, service: service.rawValue,
                           "timed out waiting for the mutex of '\(service)'" + (owner > 0 ? ", held by pid \(owner)" : "") + ": try a longer --timeout, or see 'ipcscope status \(service)'")
        case ENOTRECOVERABLE:
            throw IPCError(.mutexUnrecoverable, service: service.rawValue,
                           "the mutex of '\(service)' is not recoverable: restart the server (it recreates the section)")
        default:
            throw IPCError.system("pthread_mutex_clocklock", service: service.rawValue, errno: r)
        }
        // The owner record and the lock counters are display fields (relaxed), written only
        // under the mutex: one writer at a time, so no locked instruction is needed.
        v.store32(relaxed: Int(IPCSCOPE_OFF_OWNER_PID), UInt32(bitPattern: pid))
        // gettid is a real system call (~115 ns here): cached per thread in the C shim.
        let tid = CIPCScope_thread_id()
        v.store32(relaxed: Int(IPCSCOPE_OFF_OWNER_TID), UInt32(bitPattern: tid))
        let acquired = contended ? monotonicNanoseconds() : start
        v.store64(relaxed: Int(IPCSCOPE_OFF_OWNER_SINCE_NS), acquired)
        v.bump64(Int(IPCSCOPE_OFF_LOCK_COUNT), 1)
        if contended { v.bump64(Int(IPCSCOPE_OFF_CONTENDED_COUNT), 1) }
        // 7. Whatever happens: clear the owner record and unlock (a timed-out call leaves state as
        //    it is; the next caller's step 3 protects the slot).
        defer {
            v.store32(relaxed: Int(IPCSCOPE_OFF_OWNER_PID), 0)
            v.store32(relaxed: Int(IPCSCOPE_OFF_OWNER_TID), 0)
            v.store64(relaxed: Int(IPCSCOPE_OFF_OWNER_SINCE_NS), 0)
            _ = CIPCScope_mutex_unlock(v.mutex)
        }
        return try callLocked(function: function, payload: payload, into: response, deadline: deadline,
                              acquired: acquired, tid: tid, cancellation: cancellation)
    }

    /// The steps with the mutex held (the server's liveness, then 3 to 6); the caller unlocks. C: `call_locked`.
    @inline(__always)
    private func callLocked(function: UInt32, payload: UnsafeRawBufferPointer, into response: UnsafeMutableRawBufferPointer,
                            deadline: UInt64, acquired: UInt64, tid: Int32,
                            cancellation: CallCancellation?) throws(IPCError) -> (status: Int32, count: Int, seq: UInt64) {
        let v = view
        let req = layout.requestOffset

        // The server this call is made to. A heartbeat older than 2 s means the server is
        // busy in a handler, hung or dead: only then ask the kernel (one fcntl) whether it lives.
        var epoch = v.load32(acquire: Int(IPCSCOPE_OFF_SERVER_EPOCH))
        let heartbeat = v.load64(relaxed: Int(IPCSCOPE_OFF_HEARTBEAT_NS))
        try checkServer(epoch: epoch, probe: acquired &- heartbeat > 2_000_000_000)

        // 3. Wait until the slot is free (a timed-out call may still be in the server's hands).
        //    Nothing is sent yet: when a takeover freed the slot, the call goes to the new server.
        if !isDone(seq: nil) {
            try clientWait(until: deadline, epoch: epoch, cancellation: cancellation, seq: nil)
            epoch = v.load32(acquire: Int(IPCSCOPE_OFF_SERVER_EPOCH))
        }

        // 4. Write the request, seq last; REQUEST_READY; signal; wake only a sleeping server.
        //    The seq is taken last, next to REQUEST_READY: both live on the protocol line the
        //    server spins on, so the line is taken from it once rather than twice.
        if payload.count > 0 { v.ptr(req + Int(IPCSCOPE_REQ_DATA)).copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
        v.setPlain(req + Int(IPCSCOPE_REQ_SIZE), UInt32(payload.count))
        v.setPlain(req + Int(IPCSCOPE_REQ_FUNCTION), function)
        v.setPlain(req + Int(IPCSCOPE_REQ_CLIENT_PID), pid)
        v.setPlain(req + Int(IPCSCOPE_REQ_CLIENT_TID), tid)
        let sent = monotonicNanoseconds()
        v.setPlain(req + Int(IPCSCOPE_REQ_SENT_NS), sent)
        let seq = v.bump64(Int(IPCSCOPE_OFF_NEXT_SEQ), 1)  // under the mutex: one writer
        v.store64(release: req + Int(IPCSCOPE_REQ_SEQ), seq)
        // The handshake (seq_cst): REQUEST_READY and the event, then the server's waiting word.
        v.setStateHandshake(UInt32(IPCSCOPE_STATE_REQUEST_READY), now: sent)
        v.add32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
        if v.load32(Int(IPCSCOPE_OFF_SERVER_WAITING)) != 0 {
            _ = CIPCScope_futex_wake(v.requestEvent, 1)
        }

        // 5. Wait for our answer.
        try clientWait(until: deadline, epoch: epoch, cancellation: cancellation, seq: seq)

        // 6. Check the size, copy, IDLE.
        let idle = UInt32(IPCSCOPE_STATE_IDLE)
        let rsp = layout.responseOffset
        let size = Int(v.plain(rsp + Int(IPCSCOPE_RSP_SIZE), as: UInt32.self))
        let status: Int32 = v.plain(rsp + Int(IPCSCOPE_RSP_STATUS))
        guard size <= layout.responseCapacity else {
            v.setState(idle, now: monotonicNanoseconds())
            throw IPCError(.protocolError, service: service.rawValue,
                           "server of '\(service)' answered \(size) bytes, over the response capacity of \(layout.responseCapacity): the server is broken")
        }
        guard size <= response.count else {
            v.setState(idle, now: monotonicNanoseconds())
            throw IPCError(.bufferTooSmall, service: service.rawValue,
                           "response of \(size) bytes does not fit the caller's buffer of \(response.count): pass a buffer of responseCapacity (\(layout.responseCapacity)) bytes")
        }
        if size > 0 { response.baseAddress!.copyMemory(from: v.ptr(rsp + Int(IPCSCOPE_RSP_DATA)), byteCount: size) }
        // IDLE first, its display time (relaxed) right after: the line's transfer to this CPU
        // overlaps the clock read instead of following it.
        v.store32(release: Int(IPCSCOPE_OFF_STATE), idle)
        v.store64(relaxed: Int(IPCSCOPE_OFF_STATE_SINCE_NS), monotonicNanoseconds())
        return (status, size, seq)
    }

    // MARK: - waiting

    /// Locks a contended mutex by the deadline. With a cancellation token, in slices of at most
    /// 100 ms, so that a cancel is seen; ETIMEDOUT when the deadline passed or the call was given up.
    private func lockContended(deadline: UInt64, cancellation: CallCancellation?) -> Int32 {
        let v = view
        guard let cancellation else { return CIPCScope_mutex_lock_until(v.mutex, deadline) }
        while true {
            if cancellation.isCancelled { return ETIMEDOUT }
            let now = monotonicNanoseconds()
            if now >= deadline { return ETIMEDOUT }
            let r = CIPCScope_mutex_lock_until(v.mutex, min(deadline, now &+ 100_000_000))
            if r != ETIMEDOUT { return r }
        }
    }

    private func cancelled(_ when: String) -> IPCError {
        IPCError(.cancelled, service: service.rawValue,
                 "call to '\(service)' given up \(when); a request already sent is still answered by the server, and the next call waits for that answer")
    }

    private func leave() {
        let old = usage.subtract(2, ordering: .sequentiallyConsistent).oldValue
        if old == 3 { release() }  // disconnected, and this was the last call
    }

    /// Throws `serverGone` when the server stopped, died or was replaced since `epoch`. C: `check_server`.
    private func checkServer(epoch: UInt32, probe: Bool) throws(IPCError) {
        let v = view
        let gone: String?
        if v.serverFlags & UInt32(IPCSCOPE_SERVER_SHUTTING_DOWN) != 0 || v.serverPID == 0 {
            gone = "stopped"
        } else if v.serverEpoch != epoch {
            gone = "restarted (epoch \(epoch) → \(v.serverEpoch))"
        } else if probe && !file.serverLockHeld() {
            gone = "died"
        } else {
            gone = nil
        }
        if let gone {
            throw IPCError(.serverGone, service: service.rawValue,
                           "the server of '\(service)' \(gone): start it again (or wait for it) and retry")
        }
    }

    /// Whether the wait is over: for `seq` nil, the slot is free (IDLE or RESPONSE_READY, step 3);
    /// otherwise the answer to call `seq` is there (step 5). C: `is_done`.
    @inline(__always)
    private func isDone(seq: UInt64?) -> Bool {
        let v = view
        let responseReady = UInt32(IPCSCOPE_STATE_RESPONSE_READY)
        let state = v.state
        guard let seq else { return state == UInt32(IPCSCOPE_STATE_IDLE) || state == responseReady }
        guard state == responseReady else { return false }
        // The answer's data line is fetched while its seq is checked, not after, and the owner
        // record (the server read its line for recovered_count) is asked back before it is cleared.
        let rsp = layout.responseOffset
        CIPCScope_prefetch_read(v.ptr(rsp + Int(IPCSCOPE_RSP_DATA)))
        CIPCScope_prefetch_write(v.ptr(Int(IPCSCOPE_OFF_OWNER_PID)))
        return v.load64(acquire: rsp + Int(IPCSCOPE_RSP_SEQ)) == seq
    }

    /// Spins for the budget, then sleeps on `response_event` in slices of at most 100 ms,
    /// checking between slices that the server lives. C: `client_wait`.
    ///
    /// Never inlined: how long it runs is the other side's doing, and as a function of its own it
    /// stays out of the instruction budget (docs/performance.md, "Instruction budget"); a call
    /// into it costs nothing beside the wait.
    @inline(never)
    private func clientWait(until deadline: UInt64, epoch: UInt32, cancellation: CallCancellation?,
                            seq: UInt64?) throws(IPCError) {
        if spin(budgetNS: options.spin.nanosecondsClamped, deadline: deadline, { isDone(seq: seq) }) { return }
        let v = view
        var probe = false
        while true {
            let seen = CIPCScope_load32(v.responseEvent)
            v.add32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
            CIPCScope_fence_seq_cst()  // the handshake: the waiting word before the re-check
            if isDone(seq: seq) { v.sub32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1); return }
            do {
                try checkServer(epoch: epoch, probe: probe)
            } catch {
                v.sub32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
                throw error
            }
            if let cancellation, cancellation.isCancelled {
                v.sub32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
                throw cancelled("while it waited for \(waitingFor(seq))")
            }
            let now = monotonicNanoseconds()
            if now >= deadline {
                v.sub32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
                throw IPCError(.timeout, service: service.rawValue,
                               "timed out waiting for \(waitingFor(seq)) from '\(service)' (state \(v.state)): the server is busy or hung; try a longer --timeout or see 'ipcscope status \(service)'")
            }
            let r = CIPCScope_futex_wait(v.responseEvent, seen, Int64(min(deadline &- now, 100_000_000)))
            v.sub32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
            probe = r == ETIMEDOUT
        }
    }

    /// What `clientWait` waits for, in its errors.
    private func waitingFor(_ seq: UInt64?) -> String {
        seq.map { "the answer to call \($0)" } ?? "the previous call to finish"
    }
}
