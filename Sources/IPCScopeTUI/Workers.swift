#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeScript
import Synchronization
import IPCScopePOSIX

// MARK: - client pane calls

/// Makes the client pane's calls on a background queue, so the display never blocks.
/// Connects lazily; drops the connection when the server went away, to reconnect next time.
final class ClientWorker: @unchecked Sendable {
    let service: String
    /// The pane's trust (`attach --trust-uid`, `--trust-world-writable`).
    let options: ClientOptions
    private let queue = DispatchQueue(label: "ipcscope.attach.client")
    private let results = Mutex<[ClientOutcome]>([])
    private var client: Client?  // only touched on `queue`
    /// The token of the call in flight, for `cancel()` from the display thread.
    private let current = Mutex<CallCancellation?>(nil)
    /// Calls go through an agent (its own connection, so they never wait behind snapshots).
    private let remote: (transport: AgentTransport, timeout: Double)?
    private var agent: AgentConnection?  // only touched on `queue`

    init(service: String, options: ClientOptions = ClientOptions(), remote: (AgentTransport, Double)? = nil) {
        self.service = service
        self.options = options
        self.remote = remote.map { (transport: $0.0, timeout: $0.1) }
    }

    deinit { agent?.close() }

    /// One call through the agent: refused in the pane, with what to do, when the agent was
    /// started without --allow-calls.
    private func callThroughAgent(_ call: ClientCall, _ r: (transport: AgentTransport, timeout: Double)) -> ClientOutcome {
        let start = monotonicNanoseconds()
        func failed(_ message: String) -> ClientOutcome {
            ClientOutcome(call: call, status: nil, response: [], seq: 0, latencyNS: monotonicNanoseconds() - start, error: message)
        }
        do throws(AgentProtocolError) {
            if agent == nil { agent = try AgentConnection(r.transport, timeout: r.timeout) }
            guard agent!.hello.callsAllowed else {
                return failed("the agent \(r.transport.place) only reads: it was not started as 'mbvipc-agent --allow-calls'; start it so (--agent-command 'mbvipc-agent --allow-calls', or in --via) to call from here")
            }
            let ms = call.timeoutNS.map { UInt32(clamping: max(1, $0 / 1_000_000)) } ?? 0
            let reply = try agent!.call(service: service, function: call.function, request: call.payload, timeoutMS: ms)
            return ClientOutcome(call: call, status: reply.status, response: reply.response, seq: 0,
                                 latencyNS: monotonicNanoseconds() - start, error: nil)
        } catch {
            if SourceError.agent(error).isTransport { agent?.close(); agent = nil }
            return failed("through the agent \(r.transport.place): \(error.description)")
        }
    }

    /// Tells the call in flight to stop waiting (it ends as `cancelled` within ~100 ms).
    /// False when no call is in flight.
    func cancel() -> Bool {
        current.withLock { token in
            token?.cancel()
            return token != nil
        }
    }

    /// Starts `call`; its outcome shows up in `takeResults()`.
    func send(_ call: ClientCall) {
        queue.async { [self] in
            if let remote {
                let o = callThroughAgent(call, remote)
                results.withLock { $0.append(o) }
                return
            }
            let start = monotonicNanoseconds()
            var outcome: ClientOutcome
            let token = CallCancellation()
            current.withLock { $0 = token }
            defer { current.withLock { $0 = nil } }
            do throws(IPCError) {
                if client == nil { client = try Client(service: service, options: options) }
                // No timeout: wait until answered (a call held by step mode or a breakpoint), or until
                // the server goes away.
                let timeout: Duration = call.timeoutNS.map { .nanoseconds(Int64(clamping: $0)) } ?? .seconds(Int64(Int32.max))
                let reply = try client!.call(function: call.function, payload: call.payload, timeout: timeout, cancellation: token)
                outcome = ClientOutcome(call: call, status: reply.status, response: reply.data, seq: reply.seq,
                                        latencyNS: monotonicNanoseconds() - start, error: nil)
            } catch {
                switch error.code {
                case .serverGone, .disconnected, .serverNotRunning, .noSuchService: client = nil
                default: break
                }
                var message = error.message
                if error.code == .cancelled {
                    message = "cancelled: stopped waiting; a request already sent is still answered by the server (the next call waits for that answer)"
                } else if error.code == .timeout {
                    // The library's advice names a CLI flag; in the pane the timeout is a command.
                    message = "no answer within \(formatDuration(call.timeoutNS ?? 0)): type 'timeout 30s' (or 'timeout off') to wait longer, or see 'ipcscope status \(service)'"
                }
                outcome = ClientOutcome(call: call, status: nil, response: [], seq: 0,
                                        latencyNS: monotonicNanoseconds() - start, error: message)
            }
            let o = outcome
            results.withLock { $0.append(o) }
        }
    }

    /// Outcomes finished since the last call.
    func takeResults() -> [ClientOutcome] {
        results.withLock { r in
            defer { r.removeAll() }
            return r
        }
    }

    /// Whether this user may open the section read-write, and if not, why.
    func writability() -> Writability {
        if remote != nil { return .writable }  // the agent's libmbvipc checks, and says why it refuses
        let path = "/dev/shm/ipcscope." + service
        var st = stat()
        guard lstat(path, &st) == 0 else { return .unknown }
        guard FileKind.isRegular(mode: st.st_mode) else { return .readOnly("\(path) is not a regular file (\(FileKind(mode: st.st_mode).name))") }
        let me = geteuid()
        if st.st_uid != me && st.st_uid != 0 && st.st_uid != options.trustedUID {
            return .readOnly("\(path) belongs to uid \(st.st_uid), not you (uid \(me)); the client trusts only your own sections unless attach is given --trust-uid \(st.st_uid)")
        }
        if access(path, R_OK | W_OK) != 0 {
            return .readOnly("no write permission on \(path) (mode \(String(st.st_mode & 0o777, radix: 8)))")
        }
        return .writable
    }
}

// MARK: - saved calls

/// Saved calls live in `$XDG_CONFIG_HOME/ipcscope/saved-calls` (or `~/.config/...`):
/// one per line, `name<TAB>text|hex<TAB>input as hex`.
enum SavedCallsFile {
    static var path: String? {
        if let x = getenv("XDG_CONFIG_HOME").map({ String(cString: $0) }), !x.isEmpty { return x + "/ipcscope/saved-calls" }
        if let h = getenv("HOME").map({ String(cString: $0) }), !h.isEmpty { return h + "/.config/ipcscope/saved-calls" }
        return nil
    }

    static func load() -> [SavedCall] {
        guard let path else { return [] }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var data: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if n <= 0 { break }
            data += buf[0..<n]
        }
        var out: [SavedCall] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count == 3, let bytes = try? parseHex(String(f[2])) else { continue }
            out.append(SavedCall(name: String(f[0]), input: String(decoding: bytes, as: UTF8.self), hex: f[1] == "hex"))
        }
        return out
    }

    static func save(_ calls: [SavedCall]) {
        guard let path else { return }
        let dir = String(path[..<path.lastIndex(of: "/")!])
        let parent = String(dir[..<dir.lastIndex(of: "/")!])
        mkdir(parent, 0o755)
        mkdir(dir, 0o700)
        var text = ""
        for c in calls { text += "\(c.name)\t\(c.hex ? "hex" : "text")\t\(Array(c.input.utf8).map(HexDump.hex2).joined())\n" }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

// MARK: - export

/// Writes the inspector's exports (JSON Lines) to new files in the working directory.
enum ExportFile {
    /// Writes `text` to `NAME.jsonl` (or `NAME-2.jsonl`, … when taken, never overwriting);
    /// returns the one-line notice to show.
    static func write(name: String, text: String) -> String {
        let lines = text.split(separator: "\n").count
        return create(name: name, suffix: ".jsonl", bytes: Array(text.utf8)) { path in
            "wrote \(lines) call\(lines == 1 ? "" : "s") as JSON Lines to \(path)"
        }
    }

    /// Writes `calls` as a pcapng recording to `NAME.pcapng` (never overwriting), its times on
    /// the section host's `clock`; returns the one-line notice to show.
    static func record(name: String, interface: RecordedInterface, calls: [RecordedCall], missed: UInt64,
                       clock: HostClock) -> String {
        var bytes: [UInt8] = []
        do {
            var w = try PcapNGWriter(application: "ipcscope attach", clock: clock) { bytes += $0 }
            try w.use(interface)
            w.addMissed(missed)
            for call in calls { try w.write(call) }
            try w.finish()
        } catch {
            return "record failed: \(error)"
        }
        let partial = calls.filter(\.partial).count
        return create(name: name, suffix: ".pcapng", bytes: bytes) { path in
            "wrote \(calls.count) call\(calls.count == 1 ? "" : "s") as pcapng to \(path) (\(calls.count - partial) whole, \(partial) partial)"
        }
    }

    /// Creates `NAME` + suffix in the working directory (`NAME-2`…, never overwriting) with `bytes`.
    private static func create(name: String, suffix: String, bytes: [UInt8], done: (String) -> String) -> String {
        let dir = currentDirectory()
        for n in 1...100 {
            let path = dir + "/" + name + (n == 1 ? "" : "-\(n)") + suffix
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                return "export failed: cannot create \(path): \(String(cString: strerror(errno))); start attach in a writable directory"
            }
            defer { close(fd) }
            if let failed = writeAll(bytes, to: fd) {
                return "export failed: writing \(path): \(String(describing: failed))"
            }
            return done(path)
        }
        return "export failed: \(dir)/\(name)*\(suffix) all taken; remove some"
    }
}

// MARK: - server mode

/// Holds calls of the in-process server before they are answered: step mode and breakpoints.
/// The serving thread blocks in `gate(...)`; the display thread reads `held` and calls `release()`.
final class ServerGate: @unchecked Sendable {
    private struct State {
        var step = false
        var breakpoints = Breakpoints("")
        var held: HeldCall?
        var release = false
        var answered: UInt64 = 0
        var rules: [(UInt64, String)] = []
    }
    private let state = Mutex(State())

    /// Records which rule answered `seq` (for the history and the response pane).
    func answeredBy(seq: UInt64, rule: String) {
        state.withLock { s in
            s.rules.append((seq, rule))
            if s.rules.count > 4096 { s.rules.removeFirst(s.rules.count - 4096) }
        }
    }

    /// Rules recorded since the last call, oldest first.
    func takeRules() -> [(UInt64, String)] {
        state.withLock { s in
            defer { s.rules.removeAll() }
            return s.rules
        }
    }

    var held: HeldCall? { state.withLock { $0.held } }
    var answered: UInt64 { state.withLock { $0.answered } }

    func setStep(_ on: Bool) { state.withLock { $0.step = on } }
    func setBreakpoints(_ text: String) { state.withLock { $0.breakpoints = Breakpoints(text) } }
    func release() { state.withLock { $0.release = true } }

    /// On the serving thread, before an answer: blocks while the call is held.
    func gate(seq: UInt64, function: UInt32, payload: [UInt8], clientPID: Int32, fault: String? = nil, isStopping: () -> Bool) {
        let reason: String? = state.withLock { s in
            if s.step { return "step mode" }
            return s.breakpoints.match(function: function, payload: payload)
        }
        defer { state.withLock { $0.answered += 1 } }
        guard let reason else { return }
        state.withLock { s in
            s.held = HeldCall(seq: seq, function: function, size: payload.count, reason: reason, clientPID: clientPID, fault: fault)
            s.release = false
        }
        while !isStopping() {
            if state.withLock({ $0.release }) { break }
            usleep(2_000)
        }
        state.withLock { s in
            s.held = nil
            s.release = false
        }
    }
}

/// How to serve in-process.
package enum ServeMode: Sendable {
    /// Answer from a YAML script (`--serve replies.yaml`).
    case script(String)
    /// Answer every call with its own bytes (`--serve-echo`).
    case echo
}

/// The in-process server of `attach --serve`: a `ScriptedServer` (or an echo handler) on its
/// own thread, with the gate in front of every answer.
final class InProcessServer: @unchecked Sendable {
    let gate = ServerGate()
    let description: String
    private let server: Server
    private let scripted: ScriptedServer?
    private let done = DispatchSemaphore(value: 0)

    init(service: String, mode: ServeMode, options: ServerOptions = ServerOptions()) throws {
        let server = try Server(service: service, options: options)
        self.server = server
        switch mode {
        case .script(let path):
            let script = try Script.load(path: path)
            let s = ScriptedServer(server: server, script: script)
            // The exit fault ends the whole process from the serving thread: give the shell its
            // terminal back first.
            s.exitProcess = { code in
                TerminalGuard.restoreNow()
                _exit(code)
            }
            scripted = s
            description = "script \(path) (\(script.rules.count) rules)"
        case .echo:
            scripted = nil
            description = "echo"
        }
        if let s = scripted {
            let gate = gate
            s.beforeAnswer = { [server] req, decision in
                gate.answeredBy(seq: req.seq, rule: decision.rule.map { "rule \($0)" } ?? "no rule")
                let fault: String? = switch decision.action {
                case .exit(let code, _): "exit \(code)"
                case .neverAnswer: "never_answer"
                case .reply: nil
                }
                gate.gate(seq: req.seq, function: req.function, payload: req.payload, clientPID: req.clientPID, fault: fault,
                          isStopping: { server.isStopping })
            }
        }
    }

    /// Starts serving on a background thread.
    func start() {
        let (server, scripted, gate, done) = (server, scripted, gate, done)
        DispatchQueue(label: "ipcscope.attach.server").async {
            if let s = scripted {
                s.run()
            } else {
                server.run { request, response in
                    let payload = Array(request.payload)
                    gate.answeredBy(seq: request.seq, rule: "echo")
                    gate.gate(seq: request.seq, function: request.function, payload: payload, clientPID: request.clientPID,
                              isStopping: { server.isStopping })
                    try response.set(payload)
                    return 0
                }
            }
            done.signal()
        }
    }

    func setStepMode(_ on: Bool) {
        gate.setStep(on)
        server.setStepMode(on)
    }

    /// Stops serving and waits (at most 3 s) for the thread to finish.
    func stop() {
        server.stop()
        _ = done.wait(timeout: .now() + 3)
    }
}
