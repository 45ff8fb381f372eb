#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Synchronization
import IPCScopePOSIX

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

    /// The defaults: mode 0600, no world-writable object, no replacement of invalid objects,
    /// the name removed at a clean stop, 50 µs of spinning.
    public init() {}
}

/// A call as the handler sees it. `payload` is a private copy, valid only during the handler.
public struct Request {
    /// Sequence number of the call.
    public let seq: UInt64
    /// Function index chosen by the client.
    public let function: UInt32
    /// The calling process, as the client wrote it into the request slot.
    public let clientPID: Int32
    /// The calling thread (its kernel thread id), as the client wrote it into the request slot.
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

    /// The service this server serves (its section is `/dev/shm/ipcscope.<name>`).
    public let service: ServiceName
    /// The section's capacities and derived offsets, as created or taken over.
    public let layout: SectionLayout
    /// The options the server was made with.
    public let options: ServerOptions
    /// The epoch this server serves under.
    public private(set) var epoch: UInt32 = 0
    /// True when this server took over a dead server's section instead of creating it.
    public private(set) var tookOver = false

    private let file: SectionFile
    private let view: SectionView
    private let stopping = Atomic<Bool>(false)
    private let running = Atomic<Bool>(false)
    /// Set by `shutdownNow()` before it answers or gives up anything: the serving thread must not
    /// take a request from here on (see `claimRequest`).
    private let abandoned = Atomic<Bool>(false)
    private var requestCopy: UnsafeMutableRawBufferPointer
    private var lastRecovered: UInt64 = 0
    /// True once `shutdown()` released the mapping. Guarded by the mutex so that `stop()`
    /// from another thread never writes to an unmapped section.
    private let lifecycle = Mutex<Bool>(false)
    private let pid = getpid()
    /// When this server last stored `heartbeat_ns` (serving thread only).
    private var lastBeat: UInt64 = 0
    /// Display counters not yet stored in the section (serving thread only): a busy server
    /// stores them with the heartbeat, at most once a millisecond, and whenever it stops finding
    /// a request at once (see `flushCounters`).
    private var unpublishedServed: UInt64 = 0
    private var unpublishedRejected: UInt64 = 0
    private var unpublishedServiceNS: UInt64?

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

    /// Claims the section for this process: flags, starttime, heartbeat, IDLE, epoch + 1, pid. C: `start`.
    private func start() {
        let v = view
        let now = monotonicNanoseconds()
        v.store32(Int(IPCSCOPE_OFF_SERVER_FLAGS), layout.traceCapacity > 0 ? UInt32(IPCSCOPE_SERVER_TRACING) : 0)
        v.store64(Int(IPCSCOPE_OFF_SERVER_STARTTIME), ProcessFacts.startTime(of: pid))
        v.store64(Int(IPCSCOPE_OFF_HEARTBEAT_NS), now)
        lastBeat = now
        v.store32(Int(IPCSCOPE_OFF_SERVER_WAITING), 0)
        // IDLE before the new epoch: a client that reads the new epoch must find the slot already
        // reset, or the IDLE would wipe the REQUEST_READY it publishes to us (spec/README.md).
        v.setState(UInt32(IPCSCOPE_STATE_IDLE), now: now)
        epoch = v.add32(Int(IPCSCOPE_OFF_SERVER_EPOCH), 1)
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
        lifecycle.withLock { closed in if !closed { flushCounters() } }
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

    /// Waits for REQUEST_READY: spins, then sleeps on `request_event` in slices of at most 1 s,
    /// refreshing the heartbeat; false when asked to stop. C: `wait_for_request`.
    ///
    /// Never inlined: how long it runs is the client's doing, and as a function of its own it stays
    /// out of the instruction budget (docs/performance.md, "Instruction budget").
    @inline(never)
    private func waitForRequest() -> Bool {
        let v = view
        let ready = UInt32(IPCSCOPE_STATE_REQUEST_READY)
        // Spin for a bounded budget: back-to-back calls never reach the kernel. The pure spin
        // (3 µs, see `spin`) covers the gap between back-to-back calls; a request that has not
        // come by then ends the burst: the display counters are stored, so readers see every
        // call answered before the server went quiet, and the rest of the budget yields
        // between checks, as `spin` does after its pure phase.
        let start = monotonicNanoseconds()
        let budget = options.spin.nanosecondsClamped
        if spin(budgetNS: min(budget, 3_000), { v.state == ready || isStopping }) { return !isStopping }
        if unpublishedServed != 0 || unpublishedRejected != 0 || unpublishedServiceNS != nil {
            lifecycle.withLock { closed in if !closed { flushCounters() } }
        }
        while monotonicNanoseconds() &- start < budget {
            if v.state == ready || isStopping { return !isStopping }
            sched_yield()
        }
        while true {
            let seen = CIPCScope_load32(v.requestEvent)
            v.add32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1)
            if isStopping { v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1); return false }
            if v.stateHandshake == ready { v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1); return true }
            beat(monotonicNanoseconds())
            _ = CIPCScope_futex_wait(v.requestEvent, seen, 1_000_000_000)
            v.sub32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1)
            // Woken by a request: serve it at once (answering refreshes the heartbeat when it is
            // a millisecond old); otherwise refresh it and wait again.
            if v.state == ready && !isStopping { return true }
            beat(monotonicNanoseconds())
        }
    }

    /// Stores the display counters the serving thread holds back (relaxed; only the server
    /// writes them). Call with the lifecycle lock held and the section not closed. C: `flush_counters`.
    private func flushCounters() {
        let v = view
        if unpublishedServed != 0 { v.bump64(Int(IPCSCOPE_OFF_CALLS_SERVED), unpublishedServed) }
        if unpublishedRejected != 0 { v.bump64(Int(IPCSCOPE_OFF_CALLS_REJECTED), unpublishedRejected) }
        if let ns = unpublishedServiceNS { v.store64(relaxed: Int(IPCSCOPE_OFF_LAST_SERVICE_NS), ns) }
        unpublishedServed = 0
        unpublishedRejected = 0
        unpublishedServiceNS = nil
    }

    /// Stores the heartbeat (a display field: relaxed).
    @inline(__always)
    private func beat(_ now: UInt64) {
        view.store64(relaxed: Int(IPCSCOPE_OFF_HEARTBEAT_NS), now)
        lastBeat = now
    }

    /// PROCESSING, validate the size, copy the payload out, run the handler into the response slot,
    /// answer, trace, count. C: `serve_one`.
    ///
    /// Never inlined: the call's own work on this side, which the instruction budget counts.
    @inline(never)
    private func serveOne(_ handler: Handler) {
        let v = view
        let req = layout.requestOffset
        let rsp = layout.responseOffset
        // The request's lines come over from the client's CPU, and the response slot's lines
        // (read there during the last call) must be owned here before they are written: ask for
        // all of them now, so the transfers overlap instead of stalling the copy and the answer.
        CIPCScope_prefetch_read(v.ptr(req))
        CIPCScope_prefetch_read(v.ptr(req + Int(IPCSCOPE_REQ_DATA)))
        CIPCScope_prefetch_write(v.ptr(rsp))
        CIPCScope_prefetch_write(v.ptr(rsp + Int(IPCSCOPE_RSP_DATA)))
        // PROCESSING first, its display time (relaxed) right after: the transfers overlap the
        // clock read instead of following it. Only over a REQUEST_READY, and only while the
        // section is still ours: `shutdownNow()` (any thread) may have answered the request -4
        // and given the section up since `waitForRequest` saw it, and a successor may have
        // taken it over (keepOnExit), whose client's REQUEST_READY this must not hide.
        guard claimRequest() else { return }
        let start = monotonicNanoseconds()
        v.store64(relaxed: Int(IPCSCOPE_OFF_STATE_SINCE_NS), start)
        // Read every field once into a local; only the locals are used.
        let seq = v.load64(acquire: req + Int(IPCSCOPE_REQ_SEQ))
        let function: UInt32 = v.plain(req + Int(IPCSCOPE_REQ_FUNCTION))
        let size = Int(v.plain(req + Int(IPCSCOPE_REQ_SIZE), as: UInt32.self))
        let clientPID: Int32 = v.plain(req + Int(IPCSCOPE_REQ_CLIENT_PID))
        let clientTID: Int32 = v.plain(req + Int(IPCSCOPE_REQ_CLIENT_TID))
        let sentNS: UInt64 = v.plain(req + Int(IPCSCOPE_REQ_SENT_NS))
        // Read here, before the handler: a caller that dies in the handler frees the mutex for a
        // client that recovers it, and that recovery belongs to the next call, not this one.
        let recovered = v.load64(relaxed: Int(IPCSCOPE_OFF_RECOVERED_COUNT))
        var flags: UInt32 = recovered != lastRecovered ? UInt32(IPCSCOPE_TRACE_AFTER_RECOVERY) : 0
        lastRecovered = recovered

        var status: Int32
        var responseSize = 0
        if size > layout.requestCapacity {
            status = Int32(IPCSCOPE_STATUS_BAD_REQUEST)
            flags |= UInt32(IPCSCOPE_TRACE_REJECTED)
            unpublishedRejected &+= 1
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
            trace(seq: seq, function: function, status: status, requestSize: UInt32(truncatingIfNeeded: size),
                  responseSize: UInt32(truncatingIfNeeded: responseSize), clientPID: clientPID, flags: flags,
                  sent: sentNS, done: done)
            // Display counters (amendment 1): clients read line 1 on every call, so a busy server
            // stores them with the heartbeat, at most once a millisecond; `waitForRequest` stores
            // them as soon as a burst of calls ends.
            unpublishedServed &+= 1
            unpublishedServiceNS = done &- start
            if done &- lastBeat >= 1_000_000 {
                beat(done)
                flushCounters()
            }
        }
    }

    /// REQUEST_READY -> PROCESSING with a compare-exchange; false when the request is not this
    /// server's to run. While the server lives nobody else stores `state` over a REQUEST_READY,
    /// so this costs one locked instruction instead of a release store, and a load of a flag.
    /// After `shutdownNow()` (which sets `abandoned` before it answers anything or releases the
    /// liveness lock): the compare-exchange fails when the request was answered -4 or a
    /// successor's takeover reset the slot; when it succeeds, the REQUEST_READY it took may be a
    /// successor's client's (every REQUEST_READY stored after the -4 answer or the takeover's IDLE
    /// comes from a client that saw one of them, so `abandoned` reads true here), and it is handed
    /// back: REQUEST_READY again, `request_event` + 1 and a wake (the successor may have seen
    /// PROCESSING and gone to sleep; a REQUEST_READY still ours is answered -4 by `release`).
    @inline(__always)
    private func claimRequest() -> Bool {
        let v = view
        let ready = UInt32(IPCSCOPE_STATE_REQUEST_READY), processing = UInt32(IPCSCOPE_STATE_PROCESSING)
        guard v.compareExchange32(Int(IPCSCOPE_OFF_STATE), expected: ready, desired: processing) else { return false }
        guard abandoned.load(ordering: .sequentiallyConsistent) else { return true }
        if v.compareExchange32(Int(IPCSCOPE_OFF_STATE), expected: processing, desired: ready) {
            v.add32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
            _ = CIPCScope_futex_wake(v.requestEvent, Int32.max)
        }
        return false
    }

    /// Publishes an answer: the slot's fields, seq (release), RESPONSE_READY, the event, and a wake
    /// only when a client sleeps. C: `answer`.
    private func answer(seq: UInt64, status: Int32, size: Int, done: UInt64) {
        let v = view
        let rsp = layout.responseOffset
        v.setPlain(rsp + Int(IPCSCOPE_RSP_STATUS), status)
        v.setPlain(rsp + Int(IPCSCOPE_RSP_SIZE), UInt32(truncatingIfNeeded: size))
        v.setPlain(rsp + Int(IPCSCOPE_RSP_DONE_NS), done)
        v.store64(release: rsp + Int(IPCSCOPE_RSP_SEQ), seq)
        // The handshake (seq_cst): RESPONSE_READY and the event, then the client's waiting word.
        v.setStateHandshake(UInt32(IPCSCOPE_STATE_RESPONSE_READY), now: done)
        v.add32(Int(IPCSCOPE_OFF_RESPONSE_EVENT), 1)
        if v.load32(Int(IPCSCOPE_OFF_CLIENT_WAITING)) != 0 {
            _ = CIPCScope_futex_wake(v.responseEvent, Int32.max)
        }
    }

    /// One trace record: seq 0, the fields, the real seq (release), then `trace_head` + 1. C: `trace`.
    private func trace(seq: UInt64, function: UInt32, status: Int32, requestSize: UInt32, responseSize: UInt32,
                       clientPID: Int32, flags: UInt32, sent: UInt64, done: UInt64) {
        let cap = layout.traceCapacity
        guard cap > 0 else { return }
        let v = view
        let head = v.load64(relaxed: Int(IPCSCOPE_OFF_TRACE_HEAD))  // only the server writes it
        let rec = layout.traceOffset + Int(head & UInt64(cap - 1)) * Int(IPCSCOPE_TRACE_RECORD_SIZE)
        v.store64(relaxed: rec + Int(IPCSCOPE_TR_SEQ), 0)
        CIPCScope_fence_release()  // seq = 0 is seen before any field changes
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
        v.store64(release: rec + Int(IPCSCOPE_TR_SEQ), seq)
        v.store64(release: Int(IPCSCOPE_OFF_TRACE_HEAD), head &+ 1)  // counts records ever written: wraps
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
        abandoned.store(true, ordering: .sequentiallyConsistent)
        return lifecycle.withLock { closed in
            guard !closed else { return false }
            closed = true
            release(abandoning: true)
            return true
        }
    }

    /// Gives the section up. `abandoning`: a handler is still running, so a PROCESSING call is
    /// answered -4 too. C: `shut_down`.
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
