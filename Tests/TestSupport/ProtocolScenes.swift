// Interleavings of the call protocol built by hand on real sections, for the fixes of the
// protocol model's findings (spec/README.md, "Findings"): the test plays the racing side by
// writing the section's words directly, real processes play the rest, and the scene reports
// what happened; the tests in KitTests (the Swift client) and MBVIPCTests (the C client) judge it.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Dispatch
import IPCScopeKit
import Synchronization

/// A read-write mapping of a live section, for a test that writes protocol words by hand.
public final class WritableSection {
    public let base: UnsafeMutableRawPointer
    private let size: Int

    /// Maps `/dev/shm/ipcscope.<name>`; nil when it cannot.
    public init?(_ name: String) {
        let fd = shm_open("/ipcscope." + name, O_RDWR | O_NOFOLLOW, 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= Int(IPCSCOPE_HEADER_SIZE),
              let p = mmap(nil, Int(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        base = p
        size = Int(st.st_size)
    }

    deinit { munmap(base, size) }

    public func load32<O: BinaryInteger>(_ offset: O) -> UInt32 { CIPCScope_load32(base + Int(offset)) }
    public func load64<O: BinaryInteger>(_ offset: O) -> UInt64 { CIPCScope_load64(base + Int(offset)) }
    public func store32<O: BinaryInteger>(_ offset: O, _ v: UInt32) { CIPCScope_store32(base + Int(offset), v) }
    public func store64<O: BinaryInteger>(_ offset: O, _ v: UInt64) { CIPCScope_store64(base + Int(offset), v) }

    public var state: UInt32 { load32(IPCSCOPE_OFF_STATE) }
    public var serverWaiting: UInt32 { load32(IPCSCOPE_OFF_SERVER_WAITING) }
    public var clientWaiting: UInt32 { load32(IPCSCOPE_OFF_CLIENT_WAITING) }
    public var heartbeat: UInt64 { load64(IPCSCOPE_OFF_HEARTBEAT_NS) }

    /// Writes a request as a client does in step 4 (data, size, function, pid, time, seq last,
    /// then REQUEST_READY), but neither increments `request_event` nor wakes the server: what a
    /// client killed right after its REQUEST_READY store leaves behind.
    public func publishUnannounced(_ text: String, function: UInt32, clientPID: Int32) {
        let req = Int(load32(IPCSCOPE_OFF_REQUEST_OFFSET))
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { (base + req + Int(IPCSCOPE_REQ_DATA)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        store32(req + Int(IPCSCOPE_REQ_SIZE), UInt32(bytes.count))
        store32(req + Int(IPCSCOPE_REQ_FUNCTION), function)
        store32(req + Int(IPCSCOPE_REQ_CLIENT_PID), UInt32(bitPattern: clientPID))
        store32(req + Int(IPCSCOPE_REQ_CLIENT_TID), UInt32(bitPattern: clientPID))
        store64(req + Int(IPCSCOPE_REQ_SENT_NS), monotonicNanoseconds())
        let seq = load64(IPCSCOPE_OFF_NEXT_SEQ) + 1
        store64(IPCSCOPE_OFF_NEXT_SEQ, seq)
        store64(req + Int(IPCSCOPE_REQ_SEQ), seq)
        store32(IPCSCOPE_OFF_STATE, UInt32(IPCSCOPE_STATE_REQUEST_READY))
    }
}

/// What `deadOwnerUnannouncedRequest` saw.
public struct DeadOwnerScene {
    /// How far into the server's 1 s futex slice the call started (s): the call would wait out
    /// the rest of it if nobody woke the server.
    public let sliceAge: Double
    /// From the call's start to the client's exit (s).
    public let elapsed: Double
    /// The client's output.
    public let output: String
}

/// A client dies holding the mutex just after it stored REQUEST_READY, before it incremented
/// `request_event` or woke the server, which sleeps in its 1 s slice; then `client()` starts a
/// process that calls. The call recovers the mutex (EOWNERDEAD), finds the dead client's
/// REQUEST_READY and waits in step 3 for it to be answered. Built by hand: a helper holds the
/// mutex; once the server is asleep and has just begun a slice (its heartbeat moved), the test
/// writes the request, SIGKILLs the helper and starts the call. Nil, with the reason, when the
/// scene could not be set up.
public func deadOwnerUnannouncedRequest(_ scope: TestScope, _ name: String,
                                        client: () -> ChildProcess) -> Result<DeadOwnerScene, SceneFailure> {
    let holder = scope.spawn(helperPath, ["hold-mutex", name, "60"])
    guard holder.waitForOutput("held pid=", timeout: 10) else { return .failure(SceneFailure("hold-mutex: \(holder.stdout) \(holder.stderr)")) }
    defer { holder.killAndReap() }
    guard let section = WritableSection(name) else { return .failure(SceneFailure("cannot map \(name)")) }
    guard waitUntil(timeout: 5, interval: 0.001, { section.serverWaiting != 0 }) else {
        return .failure(SceneFailure("the server never slept (server_waiting stayed 0)"))
    }
    // A slice begins when the heartbeat moves (the server stores it after a slice and again just
    // before the next); 2 ms later the server is asleep in the new one, past its re-check of state.
    let beat = section.heartbeat
    guard waitUntil(timeout: 3, interval: 0.0002, { section.heartbeat != beat }) else {
        return .failure(SceneFailure("the server's heartbeat did not move in 3 s"))
    }
    let sliceStart = now()
    usleep(2_000)
    guard section.serverWaiting != 0 else { return .failure(SceneFailure("the server did not go back to sleep")) }
    section.publishUnannounced("planted", function: 1, clientPID: holder.pid)
    holder.killAndReap()
    let start = now()
    let c = client()
    if c.wait(timeout: 10) == nil { c.killAndReap() }
    return .success(DeadOwnerScene(sliceAge: start - sliceStart, elapsed: now() - start, output: c.stdout + c.stderr))
}

/// What `step3WaiterAcrossTakeover` saw.
public struct TakeoverScene {
    /// The client's output.
    public let output: String
    /// Calls the new server's handler ran, with their payloads.
    public let served: [String]
}

/// A client waits in step 3 behind a call the server still holds (PROCESSING), the server is
/// SIGKILLed, and a new server takes the section over while the client still waits: the
/// takeover's IDLE and wake let the client go on. `client()` starts a process that connects and
/// makes one call; the first server is the test helper's `serve-slow`, the second is this
/// process's, whose handler answers after 20 ms (longer than a client's spin, so that the client
/// checks the server before the answer comes). Built by hand: the test stores PROCESSING, waits
/// until the client sleeps (`client_waiting`), then kills and takes over at once. The client
/// probes the server's liveness after each 100 ms slice; a probe that falls between the kill and
/// the takeover makes it fail "died", which the caller treats as a scene to play again.
public func step3WaiterAcrossTakeover(_ scope: TestScope, _ name: String,
                                      client: () -> ChildProcess) -> Result<TakeoverScene, SceneFailure> {
    let first = scope.spawn(helperPath, ["serve-slow", name, "0"])
    guard first.waitForOutput("serving epoch=1", timeout: 10) else { return .failure(SceneFailure("serve-slow: \(first.stdout) \(first.stderr)")) }
    defer { first.killAndReap() }
    guard let section = WritableSection(name) else { return .failure(SceneFailure("cannot map \(name)")) }
    section.store32(IPCSCOPE_OFF_STATE, UInt32(IPCSCOPE_STATE_PROCESSING))
    let c = client()
    defer { if c.wait(timeout: 10) == nil { c.killAndReap() } }
    guard waitUntil(timeout: 5, interval: 0.0002, { section.clientWaiting != 0 }) else {
        return .failure(SceneFailure("the client never waited in step 3: \(c.stdout) \(c.stderr)"))
    }
    first.killAndReap()
    let server: Server
    do { server = try Server(service: name) } catch { return .failure(SceneFailure("takeover: \(error.message)")) }
    let served = ServedLog()
    let finished = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        server.run { request, response in
            served.append(String(decoding: request.payload, as: UTF8.self))
            usleep(20_000)
            try response.set(request.payload)
            return 0
        }
        finished.signal()
    }
    if c.wait(timeout: 10) == nil { c.killAndReap() }
    server.stop()
    _ = finished.wait(timeout: .now() + 10)
    return .success(TakeoverScene(output: c.stdout + c.stderr, served: served.items))
}

/// Why a scene could not be set up.
public struct SceneFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

private final class ServedLog: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ s: String) { list.withLock { $0.append(s) } }
    var items: [String] { list.withLock { $0 } }
}
