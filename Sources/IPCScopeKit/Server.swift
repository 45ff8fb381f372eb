#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Synchronization

/// How a server creates its section.
public struct ServerOptions: Sendable {
    /// Max request payload, 0 ... 1 MiB (default 4096).
    public var requestCapacity = 4096
    /// Max response payload, 0 ... 1 MiB (default 4096).
    public var responseCapacity = 4096
    /// Trace ring records, 0 or a power of two (default 256).
    public var traceCapacity = 256
    /// File mode of the object (default 0600: only this user; 0660 shares it with a group).
    /// Applied at creation and at takeover.
    public var mode: mode_t = 0o600
    /// Accept a `mode` that lets every user write the section (default: refuse). Such a section
    /// lets anyone read the calls, forge answers and crash or wedge clients.
    public var allowWorldWritable = false
    /// Replace an existing object that is not a valid section (default: refuse).
    public var replaceInvalid = false
    /// Leave the object in /dev/shm on clean shutdown (default: unlink).
    public var keepOnExit = false
    /// How long the server spins for the next request before it sleeps on the futex.
    public var spin: Duration = .microseconds(50)

    public init() {}
}

/// A call as the handler sees it. `payload` is a private copy, valid only during the handler.
public struct Request {
    /// Sequence number of the call.
    public let seq: UInt64
    /// Function index chosen by the client.
    public let function: UInt32
    /// Calling process and thread.
    public let clientPID: Int32
    public let clientTID: Int32
    /// The request bytes, copied out of the slot.
    public let payload: UnsafeRawBufferPointer
}

/// Writes a handler's answer straight into the response slot.
public struct ResponseWriter: ~Copyable {
    /// The slot's data area (`response_capacity` bytes).
    public let buffer: UnsafeMutableRawBufferPointer
    /// Bytes of `buffer` that make up the response.
    public var count: Int = 0

    /// The response capacity.
    public var capacity: Int { buffer.count }

    /// Replaces the response with `bytes`.
    /// - Throws: `payloadTooLarge` when it does not fit (the call then answers status -2).
    public mutating func set(_ bytes: UnsafeRawBufferPointer) throws(IPCError) {
        guard bytes.count <= buffer.count else {
            throw IPCError(.payloadTooLarge, "response of \(bytes.count) bytes exceeds the response capacity of \(buffer.count)")
        }
        if let src = bytes.baseAddress, bytes.count > 0 { buffer.baseAddress!.copyMemory(from: src, byteCount: bytes.count) }
        count = bytes.count
    }

    /// Replaces the response with `bytes`.
    public mutating func set(_ bytes: [UInt8]) throws(IPCError) {
        let fits = bytes.withUnsafeBytes { b -> Bool in
            guard b.count <= buffer.count else { return false }
            if let src = b.baseAddress, b.count > 0 { buffer.baseAddress!.copyMemory(from: src, byteCount: b.count) }
            return true
        }
        guard fits else {
            throw IPCError(.payloadTooLarge, "response of \(bytes.count) bytes exceeds the response capacity of \(buffer.count)")
        }
        count = bytes.count
    }
}

/// Serves calls on a named section: creates (or takes over) the object, holds the
/// liveness lock, and runs a handler for each call.
///
/// One thread runs `run(_:)`; any thread (or a signal handler's dispatch source)
/// may call `stop()`. Deinit releases the lock, the mapping and the descriptor.
public final class Server: @unchecked Sendable {
    /// The handler: read `request`, write the answer into `response`, return the status.
    /// Throwing answers status -2 (handler failed).
    public typealias Handler = (_ request: Request, _ response: inout ResponseWriter) throws -> Int32

    public let service: ServiceName
    public let layout: SectionLayout
    public let options: ServerOptions
    /// The epoch this server serves under.
    public private(set) var epoch: UInt32 = 0
    /// True when this server took over a dead server's section instead of creating it.
    public private(set) var tookOver = false

    private let file: SectionFile
    private let view: SectionView
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    private var requestCopy: UnsafeMutableRawBufferPointer
    private var lastRecovered: UInt64 = 0
    /// True once `shutdown()` released the mapping. Guarded by the mutex so that `stop()`
    /// from another thread never writes to an unmapped section.
    private let lifecycle = Mutex<Bool>(false)
    private let pid = getpid()

    /// Creates the section for `service`, or takes over one whose server died.
    ///
    /// - Throws: `badName`; `nameInUse` (with the live server's pid); `incompatibleSection` or
    ///   `corruptSection` when an object that is not a valid section is in the way (unless
    ///   `replaceInvalid`); `foreignOwner` when the object belongs to another uid; `system`.
    public init(service name: String, options: ServerOptions = ServerOptions()) throws(IPCError) {
        let service = try ServiceName(name)
        let layout = try SectionLayout(requestCapacity: options.requestCapacity,
                                       responseCapacity: options.responseCapacity,
                                       traceCapacity: options.traceCapacity)
        guard options.mode & ~mode_t(0o777) == 0 else {
            throw IPCError(.invalidArgument, service: name, "mode \(octal(options.mode)) is not a file mode: use one like 600 or 660")
        }
        if options.mode & S_IWOTH != 0 && !options.allowWorldWritable {
            throw IPCError(.invalidArgument, service: name,
                           "mode \(octal(options.mode)) lets every user write section '\(name)' (read the calls, forge answers, wedge the mutex): use 600, or 660 to share with a group; allowWorldWritable overrides")
        }
        self.service = service
        self.layout = layout
        self.options = options
        var attempt = 0
        var opened: (SectionFile, Bool)?
        while opened == nil {
            attempt += 1
            opened = try Server.createOrTakeOver(service, layout, options, lastAttempt: attempt >= 3)
            if opened == nil && attempt >= 5 {
                throw IPCError(.nameInUse, service: name,
                               "service '\(name)' keeps being created and removed by other processes: try again, or pick another name")
            }
        }
        let (file, tookOver) = opened!
        self.file = file
        self.tookOver = tookOver
        self.view = SectionView(file.base!)
        requestCopy = .allocate(byteCount: max(layout.requestCapacity, 1), alignment: 64)
        start()
    }

    deinit {
        shutdown()
        requestCopy.deallocate()
    }

    // MARK: - creation and takeover

    /// One attempt; nil means "raced with another process, try again".
    private static func createOrTakeOver(_ service: ServiceName, _ layout: SectionLayout, _ options: ServerOptions,
                                         lastAttempt: Bool) throws(IPCError) -> (SectionFile, Bool)? {
        // Fresh object: O_CREAT | O_EXCL | O_NOFOLLOW.
        do throws(IPCError) {
            let file = try SectionFile.open(service, flags: O_RDWR | O_CREAT | O_EXCL, mode: options.mode)
            // fchmod: the umask must not narrow the mode the caller asked for.
            _ = fchmod(file.fd, options.mode)
            let lockResult = CIPCScope_ofd_trylock(file.fd)
            // Between O_EXCL and the lock the object is empty and unlocked: a cleaner may have
            // removed it (it takes the lock before unlinking), or locked it to do so. Once we
            // hold the lock and the name still points at our object, nobody else can remove it.
            if lockResult != 0 || !SectionFile.pathNames(file, service) {
                if lockResult != 0 && lastAttempt {
                    throw IPCError.system("fcntl(F_OFD_SETLK)", service: service.rawValue, errno: lockResult)
                }
                return nil
            }
            if ftruncate(file.fd, off_t(layout.sectionSize)) != 0 {
                let e = Glibc.errno
                _ = shm_unlink(service.objectName)
                throw IPCError.system("ftruncate(\(layout.sectionSize))", service: service.rawValue, errno: e)
            }
            let base = try file.map(size: layout.sectionSize)
            try initialise(base, layout, service)
            return (file, false)
        } catch {
            guard error.errno == EEXIST else { throw error }  // else: fall through to the existing object
        }

        let file: SectionFile
        do throws(IPCError) {
            file = try SectionFile.open(service, flags: O_RDWR)
        } catch {
            guard error.code == .noSuchService else { throw error }
            return nil  // it vanished between the two opens: try again
        }
        let st = try file.stat()
        let me = geteuid()
        // Never take over, unlock or map writable an object this uid does not own, root included:
        // its owner can rewrite it under us (glibc writes through the mutex's pointers).
        if st.st_uid != me {
            throw IPCError(.foreignOwner, service: service.rawValue,
                           "\(service.path) belongs to \(userName(st.st_uid)), not to you (uid \(me)): a server only takes over its own sections; pick another name, or ask its owner to remove it", pid: nil)
        }
        // A live server holds the liveness lock (a write lock).
        if CIPCScope_ofd_trylock(file.fd) != 0 {
            if SectionObject.readerLockHeld(fd: file.fd) {
                // A reader's read lock is not a server: the object is ours and serverless, but the
                // lock cannot be taken while the read lock stays. Recreate it.
                return try recreate(file, service, lastAttempt: lastAttempt,
                                    "\(service.path) is held by a read lock (not a server's): remove it with 'ipcscope clean \(service)'")
            }
            if SectionObject.isStarting(fd: file.fd) {
                throw IPCError(.nameInUse, service: service.rawValue,
                               "service '\(service)' is being started by another process: pick another name or stop it")
            }
            let header = file.read(at: 0, count: 128)
            var pid: Int32 = 0
            if header.count >= 68 { pid = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 64, as: Int32.self) } }
            let who = pid > 0 ? "pid \(pid)" + (ProcessFacts.command(of: pid).map { " (\($0))" } ?? "") : "another process"
            throw IPCError(.nameInUse, service: service.rawValue,
                           "service '\(service)' is served by \(who), still running: pick another name or stop it", pid: pid)
        }
        // Dead server (or never a section): validate before taking it over. The size checked is
        // the object's real one (fstat, under the lock), so the mapping below is all backed.
        let objectSize = Int(try file.stat().st_size)
        let identity = SectionIdentity(bytes: file.read(at: 0, count: 64))
        var problem: IPCError?
        if let identity {
            do throws(IPCError) {
                let existing = try identity.validate(objectSize: objectSize, service: service.rawValue)
                if existing != layout {
                    problem = IPCError(.incompatibleSection, service: service.rawValue,
                                       "section '\(service)' exists with capacities \(existing.requestCapacity)/\(existing.responseCapacity)/\(existing.traceCapacity), not the \(layout.requestCapacity)/\(layout.responseCapacity)/\(layout.traceCapacity) asked for: start with the same sizes, or pass --replace")
                } else if identity.creatorUID != me {
                    problem = IPCError(.foreignOwner, service: service.rawValue,
                                       "section '\(service)' was created by \(userName(identity.creatorUID)), not by you (uid \(me)): a server only takes over its own sections; pick another name, or remove it (rm \(service.path))")
                }
            } catch {
                problem = error
            }
        } else {
            problem = IPCError(.corruptSection, service: service.rawValue,
                               "\(service.path) is \(objectSize) bytes, too short to be a section: remove it with 'ipcscope clean \(service)' or start with --replace")
        }
        if let problem {
            guard options.replaceInvalid, problem.code != .foreignOwner, !lastAttempt else { throw problem }
            _ = unlinkIfStillNamed(file, service)
            return nil
        }
        // The mode asked for applies on takeover too (a previous server may have used another).
        if fchmod(file.fd, options.mode) != 0 {
            throw IPCError.system("fchmod(\(octal(options.mode)))", service: service.rawValue, errno: Glibc.errno)
        }
        let base = try file.map(size: layout.sectionSize)
        let view = SectionView(base)
        // The mutex's bytes first: a mutated type word would send glibc down paths that abort.
        if CIPCScope_mutex_check(view.mutex, nil, nil) != 0 {
            return try recreate(file, service, lastAttempt: lastAttempt,
                                "the mutex of section '\(service)' is corrupt: remove it with 'ipcscope clean \(service)'")
        }
        // Repair the mutex if a client died holding it; recreate if it cannot be repaired.
        switch CIPCScope_mutex_trylock(view.mutex) {
        case 0:
            // We hold the mutex, so no client waits on response_event: any count is a leak.
            view.store32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 0)
            _ = CIPCScope_mutex_unlock(view.mutex)
        case EOWNERDEAD:
            _ = CIPCScope_mutex_consistent(view.mutex)
            view.add64(Int(IPCSCOPE_OFF_RECOVERED_COUNT), 1)
            view.store32(Int(IPCSCOPE_OFF_OWNER_PID), 0)
            view.store32(Int(IPCSCOPE_OFF_OWNER_TID), 0)
            view.store32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 0)
            _ = CIPCScope_mutex_unlock(view.mutex)
        case ENOTRECOVERABLE:
            return try recreate(file, service, lastAttempt: lastAttempt,
                                "the mutex of section '\(service)' is not recoverable: remove it with 'ipcscope clean \(service)'")
        default:
            // EBUSY: a live client holds it and will finish or time out, unless the thread in the
            // kernel word no longer exists (its robust list was corrupt, or the word was forged):
            // then nobody will ever release it.
            let tid = CIPCScope_mutex_owner_tid(view.mutex)
            if tid > 0 && !ProcessFacts.threadAlive(tid) {
                return try recreate(file, service, lastAttempt: lastAttempt,
                                    "the mutex of section '\(service)' is held by thread \(tid), which no longer exists: remove it with 'ipcscope clean \(service)'")
            }
        }
        return (file, true)
    }

    /// Unlinks the object so that the next attempt creates it afresh; on the last attempt throws
    /// `mutexUnrecoverable` with `message` instead.
    private static func recreate(_ file: SectionFile, _ service: ServiceName, lastAttempt: Bool,
                                 _ message: String) throws(IPCError) -> (SectionFile, Bool)? {
        if lastAttempt { throw IPCError(.mutexUnrecoverable, service: service.rawValue, message) }
        _ = unlinkIfStillNamed(file, service)
        return nil
    }

    /// Unlinks the name only if it still names `file`'s object (never a successor's).
    private static func unlinkIfStillNamed(_ file: SectionFile, _ service: ServiceName) -> Bool {
        guard SectionFile.pathNames(file, service) else { return false }
        return shm_unlink(service.objectName) == 0
    }

    /// Fills a new section; `magic` last, with a release store.
    private static func initialise(_ base: UnsafeMutableRawPointer, _ layout: SectionLayout, _ service: ServiceName) throws(IPCError) {
        let v = SectionView(base)
        v.setPlain(Int(IPCSCOPE_OFF_VERSION), UInt32(IPCSCOPE_VERSION))
        v.setPlain(Int(IPCSCOPE_OFF_HEADER_SIZE), UInt32(IPCSCOPE_HEADER_SIZE))
        v.setPlain(Int(IPCSCOPE_OFF_SECTION_SIZE), UInt64(layout.sectionSize))
        v.setPlain(Int(IPCSCOPE_OFF_REQUEST_OFFSET), UInt32(layout.requestOffset))
        v.setPlain(Int(IPCSCOPE_OFF_REQUEST_CAPACITY), UInt32(layout.requestCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_RESPONSE_OFFSET), UInt32(layout.responseOffset))
        v.setPlain(Int(IPCSCOPE_OFF_RESPONSE_CAPACITY), UInt32(layout.responseCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_TRACE_OFFSET), UInt32(layout.traceOffset))
        v.setPlain(Int(IPCSCOPE_OFF_TRACE_CAPACITY), UInt32(layout.traceCapacity))
        v.setPlain(Int(IPCSCOPE_OFF_MUTEX_OFFSET), UInt32(IPCSCOPE_MUTEX_OFFSET))
        v.setPlain(Int(IPCSCOPE_OFF_CREATOR_UID), UInt32(geteuid()))
        v.setPlain(Int(IPCSCOPE_OFF_CREATED_UNIX_NS), realtimeNanoseconds())
        let r = CIPCScope_mutex_init(v.mutex)
        if r != 0 { throw IPCError.system("pthread_mutex_init", service: service.rawValue, errno: r) }
        v.setState(UInt32(IPCSCOPE_STATE_IDLE), now: monotonicNanoseconds())
        let magic = Array("IPCSCOPE".utf8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        v.store64(Int(IPCSCOPE_OFF_MAGIC), magic)
    }

    /// Claims the section for this process: epoch + 1, IDLE, pid, starttime, heartbeat.
    private func start() {
        let v = view
        let now = monotonicNanoseconds()
        v.store32(Int(IPCSCOPE_OFF_SERVER_FLAGS), layout.traceCapacity > 0 ? UInt32(IPCSCOPE_SERVER_TRACING) : 0)
        v.store64(Int(IPCSCOPE_OFF_SERVER_STARTTIME), ProcessFacts.startTime(of: pid))
        v.store64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), now)
        v.store32(Int(IPCSCOPE_OFF_SERVER_WAITING), 0)
        epoch = v.add32(Int(IPCSCOPE_OFF_SERVER_EPOCH), 1)
        v.setState(UInt32(IPCSCOPE_STATE_IDLE), now: now)
        v.store32(Int(IPCSCOPE_OFF_SERVER_PID), UInt32(bitPattern: pid))
        lastRecovered = v.load64(Int(IPCSCOPE_OFF_RECOVERED_COUNT))
        // A client stuck in step 3 behind a dead server's call can go on now.
        v.add32(Int(IPCSCOPE_OFF_RESPONSE_EVENT), 1)
        _ = CIPCScope_futex_wake(v.responseEvent, Int32.max)
    }

    // MARK: - serving

    /// Sets or clears the step-mode flag (bit 1), for inspectors to show.
    public func setStepMode(_ on: Bool) {
        let off = Int(IPCSCOPE_OFF_SERVER_FLAGS)
        lifecycle.withLock { closed in
            guard !closed else { return }
            if on { _ = CIPCScope_or32(view.ptr(off), UInt32(IPCSCOPE_SERVER_STEP_MODE)) }
            else { _ = CIPCScope_and32(view.ptr(off), ~UInt32(IPCSCOPE_SERVER_STEP_MODE)) }
        }
    }

    /// Serves calls until `stop()`; then shuts down cleanly (see `shutdown()`).
    ///
    /// Blocks the calling thread. Each call: wait for REQUEST_READY (spin, then futex in
    /// slices of at most 1 s, refreshing the heartbeat), PROCESSING, validate the size,
    /// copy the payload out, run `handler`, answer, trace, count.
    public func run(_ handler: Handler) {
        running.store(true, ordering: .sequentiallyConsistent)
        while waitForRequest() {
            serveOne(handler)
        }
        running.store(false, ordering: .sequentiallyConsistent)
        shutdown()
    }

    /// Serves with a handler that returns bytes (one allocation per call; use `run(_:)` on hot paths).
    public func run(simple handler: @escaping (_ function: UInt32, _ payload: [UInt8]) throws -> (status: Int32, response: [UInt8])) {
        run { (request, response) throws -> Int32 in
            let (status, bytes) = try handler(request.function, Array(request.payload))
            try response.set(bytes)
            return status
        }
    }

    /// Asks `run` to return. Safe from any thread; returns at once.
    public func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        lifecycle.withLock { closed in
            guard !closed else { return }  // already shut down: nothing to wake
            view.add32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
            _ = CIPCScope_futex_wake(view.requestEvent, Int32.max)
        }
    }

    /// Whether `stop()` was called.
    public var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    private func waitForRequest() -> Bool {
        let v = view
        let ready = UInt32(IPCSCOPE_STATE_REQUEST_READY)
        // Spin for a bounded budget: back-to-back calls never reach the kernel.
        if spin(budgetNS: options.spin.nanosecondsClamped, { v.state == ready || isStopping }) {
            return !isStopping
        }
        while true {
            let seen = CIPCScope_load32(v.requestEvent)
            v.add32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1)
            if isStopping { v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1); return false }
            if v.state == ready { v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1); return true }
            v.store64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), monotonicNanoseconds())
            _ = CIPCScope_futex_wait(v.requestEvent, seen, 1_000_000_000)
            v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1)
            v.store64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), monotonicNanoseconds())
        }
    }

    private func serveOne(_ handler: Handler) {
        let v = view
        let start = monotonicNanoseconds()
        v.setState(UInt32(IPCSCOPE_STATE_PROCESSING), now: start)
        let req = layout.requestOffset
        let rsp = layout.responseOffset
        // Read every field once into a local; only the locals are used.
        let seq = v.load64(req + Int(IPCSCOPE_REQ_SEQ))
        let function: UInt32 = v.plain(req + Int(IPCSCOPE_REQ_FUNCTION))
        let size = Int(v.plain(req + Int(IPCSCOPE_REQ_SIZE), as: UInt32.self))
        let clientPID: Int32 = v.plain(req + Int(IPCSCOPE_REQ_CLIENT_PID))
        let clientTID: Int32 = v.plain(req + Int(IPCSCOPE_REQ_CLIENT_TID))
        let sentNS: UInt64 = v.plain(req + Int(IPCSCOPE_REQ_SENT_NS))
        let recovered = v.load64(Int(IPCSCOPE_OFF_RECOVERED_COUNT))
        var flags: UInt32 = recovered != lastRecovered ? UInt32(IPCSCOPE_TRACE_AFTER_RECOVERY) : 0
        lastRecovered = recovered

        var status: Int32
        var responseSize = 0
        if size > layout.requestCapacity {
            status = Int32(IPCSCOPE_STATUS_BAD_REQUEST)
            flags |= UInt32(IPCSCOPE_TRACE_REJECTED)
            v.add64(Int(IPCSCOPE_OFF_CALLS_REJECTED), 1)
        } else {
            if size > 0 { requestCopy.baseAddress!.copyMemory(from: v.ptr(req + Int(IPCSCOPE_REQ_DATA)), byteCount: size) }
            let request = Request(seq: seq, function: function, clientPID: clientPID, clientTID: clientTID,
                                  payload: UnsafeRawBufferPointer(rebasing: requestCopy[0..<size]))
            var writer = ResponseWriter(buffer: UnsafeMutableRawBufferPointer(start: v.ptr(rsp + Int(IPCSCOPE_RSP_DATA)),
                                                                                count: layout.responseCapacity))
            do {
                status = try handler(request, &writer)
                responseSize = writer.count
                if responseSize < 0 || responseSize > layout.responseCapacity {
                    status = Int32(IPCSCOPE_STATUS_HANDLER_FAILED)
                    responseSize = 0
                }
            } catch {
                status = Int32(IPCSCOPE_STATUS_HANDLER_FAILED)
                responseSize = 0
            }
        }
        let done = monotonicNanoseconds()
        // After shutdownNow() the call was already answered -4 and the section given up: drop this answer.
        lifecycle.withLock { closed in
            guard !closed else { return }
            answer(seq: seq, status: status, size: responseSize, done: done)
            v.store64(Int(IPCSCOPE_OFF_LAST_SERVICE_NS), done &- start)
            v.store64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), done)
            trace(seq: seq, function: function, status: status, requestSize: UInt32(truncatingIfNeeded: size),
                  responseSize: UInt32(truncatingIfNeeded: responseSize), clientPID: clientPID, flags: flags,
                  sent: sentNS, done: done)
            v.add64(Int(IPCSCOPE_OFF_CALLS_SERVED), 1)
        }
    }

    private func answer(seq: UInt64, status: Int32, size: Int, done: UInt64) {
        let v = view
        let rsp = layout.responseOffset
        v.setPlain(rsp + Int(IPCSCOPE_RSP_STATUS), status)
        v.setPlain(rsp + Int(IPCSCOPE_RSP_SIZE), UInt32(truncatingIfNeeded: size))
        v.setPlain(rsp + Int(IPCSCOPE_RSP_DONE_NS), done)
        v.store64(rsp + Int(IPCSCOPE_RSP_SEQ), seq)
        v.setState(UInt32(IPCSCOPE_STATE_RESPONSE_READY), now: done)
        v.add32(Int(IPCSCOPE_OFF_RESPONSE_EVENT), 1)
        if v.load32(Int(IPCSCOPE_OFF_CLIENT_WAITING)) != 0 {
            _ = CIPCScope_futex_wake(v.responseEvent, Int32.max)
        }
    }

    private func trace(seq: UInt64, function: UInt32, status: Int32, requestSize: UInt32, responseSize: UInt32,
                       clientPID: Int32, flags: UInt32, sent: UInt64, done: UInt64) {
        let cap = layout.traceCapacity
        guard cap > 0 else { return }
        let v = view
        let head = v.load64(Int(IPCSCOPE_OFF_TRACE_HEAD))
        let rec = layout.traceOffset + Int(head & UInt64(cap - 1)) * Int(IPCSCOPE_TRACE_RECORD_SIZE)
        v.store64(rec + Int(IPCSCOPE_TR_SEQ), 0)
        v.setPlain(rec + Int(IPCSCOPE_TR_FUNCTION), function)
        v.setPlain(rec + Int(IPCSCOPE_TR_STATUS), status)
        v.setPlain(rec + Int(IPCSCOPE_TR_REQUEST_SIZE), requestSize)
        v.setPlain(rec + Int(IPCSCOPE_TR_RESPONSE_SIZE), responseSize)
        v.setPlain(rec + Int(IPCSCOPE_TR_CLIENT_PID), clientPID)
        v.setPlain(rec + Int(IPCSCOPE_TR_FLAGS), flags)
        v.setPlain(rec + Int(IPCSCOPE_TR_SENT_NS), sent)
        v.setPlain(rec + Int(IPCSCOPE_TR_DONE_NS), done)
        let head16 = v.ptr(rec + Int(IPCSCOPE_TR_REQUEST_HEAD))
        head16.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
        let n = min(16, Int(requestSize) <= layout.requestCapacity ? Int(requestSize) : 0)
        if n > 0 { head16.copyMemory(from: requestCopy.baseAddress!, byteCount: n) }
        v.store64(rec + Int(IPCSCOPE_TR_SEQ), seq)
        v.store64(Int(IPCSCOPE_OFF_TRACE_HEAD), head &+ 1)  // counts records ever written: wraps
    }

    // MARK: - shutdown

    /// Whether `/dev/shm/ipcscope.<name>` is still the object we serve (not a replacement).
    private func pathStillNamesOurObject() -> Bool { SectionFile.pathNames(file, service) }

    /// Clean shutdown: shutting-down flag, `server_pid = 0`, a pending request answered
    /// with status -4, every waiter woken, the object unlinked (unless `keepOnExit`),
    /// the lock, mapping and descriptor released. Idempotent; deinit calls it.
    public func shutdown() {
        if running.load(ordering: .sequentiallyConsistent) { stop(); return }  // run() will call us back
        lifecycle.withLock { closed in
            guard !closed else { return }
            closed = true
            release(abandoning: false)
            file.close()
        }
    }

    /// Shuts down now, without waiting for a handler that may never return (stuck in a regex, a
    /// sleep, a lock): the call in progress is answered status -4, the section is given up as by
    /// `shutdown()` (shutting-down flag, `server_pid = 0`, waiters woken, object unlinked unless
    /// `keepOnExit`, liveness lock released), and whatever the handler answers later is dropped.
    /// The mapping stays until deinit, so the handler's thread never touches unmapped memory.
    /// Safe from any thread. Returns false when the server had already shut down.
    @discardableResult
    public func shutdownNow() -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        return lifecycle.withLock { closed in
            guard !closed else { return false }
            closed = true
            release(abandoning: true)
            return true
        }
    }

    /// Gives the section up. `abandoning`: a handler is still running, so a PROCESSING call is
    /// answered -4 too.
    private func release(abandoning: Bool) {
        let v = view
        _ = CIPCScope_or32(v.ptr(Int(IPCSCOPE_OFF_SERVER_FLAGS)), UInt32(IPCSCOPE_SERVER_SHUTTING_DOWN))
        let state = v.state
        if state == UInt32(IPCSCOPE_STATE_REQUEST_READY) || (abandoning && state == UInt32(IPCSCOPE_STATE_PROCESSING)) {
            let seq = v.load64(layout.requestOffset + Int(IPCSCOPE_REQ_SEQ))
            answer(seq: seq, status: Int32(IPCSCOPE_STATUS_SHUTTING_DOWN), size: 0, done: monotonicNanoseconds())
        }
        v.store32(Int(IPCSCOPE_OFF_SERVER_PID), 0)
        v.add32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
        v.add32(Int(IPCSCOPE_OFF_RESPONSE_EVENT), 1)
        _ = CIPCScope_futex_wake(v.requestEvent, Int32.max)
        _ = CIPCScope_futex_wake(v.responseEvent, Int32.max)
        if !options.keepOnExit && pathStillNamesOurObject() { _ = shm_unlink(service.objectName) }
        _ = CIPCScope_ofd_unlock(file.fd)
    }
}
