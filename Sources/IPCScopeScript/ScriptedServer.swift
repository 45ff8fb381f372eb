#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import Synchronization

/// One served call, for logs: what came in, which rule answered, and how.
package struct ScriptCallRecord: Sendable {
    package var seq: UInt64
    package var function: UInt32
    package var requestSize: Int
    package var clientPID: Int32
    package var clientTID: Int32
    /// The first 32 bytes of the request.
    package var requestHead: [UInt8]
    /// The engine's decision (rule and action).
    package var decision: ScriptDecision
    /// The status answered, or nil when the call was not answered (a fault).
    package var status: Int32?
    /// Bytes answered.
    package var responseSize: Int
    /// From the handler's start to the answer (delay included), in nanoseconds.
    package var elapsedNS: UInt64
    /// `answered`, `too_large` (reply over the response capacity: status -2), `regex_gave_up`
    /// (the rule's regex ran out of steps: status -2, `decision.gaveUp` says why), `never_answer`,
    /// `exit`, or `stopped` (the server stopped during the delay or the step hook).
    package var outcome: String
}

/// Runs a `Server` whose answers come from a script.
///
/// One thread calls `run()`; any thread may call `stop()`, `reload(_:)` or read `engine`.
/// Usable in-process (the TUI's `attach --serve`) as well as by `ipcscope serve --script`.
package final class ScriptedServer: @unchecked Sendable {
    /// The framework server doing the protocol work.
    package let server: Server
    private let current: Mutex<ScriptEngine>
    /// The request bytes of the call being served (serving thread only), kept between calls: a
    /// script that matches and answers without building bytes (function, size, equals, prefix,
    /// contains; fixed bytes or echo) then serves a call without allocating, unless something
    /// keeps the call's bytes beyond it (a log line, a template).
    private var payload: [UInt8] = []

    /// Called before each answer (after any delay), on the serving thread; may block
    /// (step mode, breakpoints). Check `server.isStopping` while blocking so Ctrl-C works.
    package var beforeAnswer: ((ScriptRequest, ScriptDecision) -> Void)?
    /// Called once per call, on the serving thread: after the answer, or before a fault.
    package var onCall: ((ScriptCallRecord) -> Void)?
    /// What the `exit` fault calls. Defaults to `_exit(code)`: the process dies while the
    /// call is PROCESSING, without unlinking the section, as a crash would.
    package var exitProcess: (Int32) -> Never = { code in _exit(code) }

    /// Serves `script` on an already created `server`.
    package init(server: Server, script: Script) {
        self.server = server
        current = Mutex(ScriptEngine(script))
        payload.reserveCapacity(server.layout.requestCapacity)
    }

    /// The engine applied to the next call.
    package var engine: ScriptEngine { current.withLock { $0 } }

    /// Replaces the script (cycle counters start again). Thread-safe; the next call uses it.
    package func reload(_ script: Script) {
        let e = ScriptEngine(script)
        current.withLock { $0 = e }
    }

    /// Asks `run()` to return; a call blocked in `never_answer` or a delay is released.
    package func stop() { server.stop() }

    /// Serves until `stop()`. Blocks the calling thread.
    package func run() {
        server.run { [self] request, response in
            try self.handle(request, &response)
        }
    }

    // MARK: - one call

    private func handle(_ request: Request, _ response: inout ResponseWriter) throws -> Int32 {
        let start = monotonicNS()
        payload.removeAll(keepingCapacity: true)
        payload.append(contentsOf: request.payload.assumingMemoryBound(to: UInt8.self))
        let req = ScriptRequest(function: request.function, payload: payload, seq: request.seq,
                                clientPID: request.clientPID, clientTID: request.clientTID)
        let decision = engine.respond(to: req)
        // The record (and its copy of the request's head) only when someone takes it.
        func finish(_ outcome: String, status: Int32?, size: Int) {
            guard let onCall else { return }
            onCall(ScriptCallRecord(seq: request.seq, function: request.function, requestSize: request.payload.count,
                                    clientPID: request.clientPID, clientTID: request.clientTID,
                                    requestHead: Array(req.payload.prefix(32)), decision: decision, status: status,
                                    responseSize: size, elapsedNS: monotonicNS() &- start, outcome: outcome))
        }
        let shuttingDown = Int32(-4)
        if !sleepUnlessStopping(ms: decision.action.delayMS) {
            finish("stopped", status: shuttingDown, size: 0)
            return shuttingDown
        }
        beforeAnswer?(req, decision)
        if server.isStopping {
            finish("stopped", status: shuttingDown, size: 0)
            return shuttingDown
        }
        switch decision.action {
        case .reply(let status, let data, _):
            do {
                try response.set(data)
            } catch {
                finish("too_large", status: -2, size: 0)
                throw error
            }
            finish(decision.gaveUp == nil ? "answered" : "regex_gave_up", status: status, size: data.count)
            return status
        case .neverAnswer:
            finish("never_answer", status: nil, size: 0)
            while !server.isStopping { usleep(10_000) }
            return shuttingDown
        case .exit(let code, _):
            finish("exit", status: nil, size: 0)
            exitProcess(code)
        }
    }

    /// Sleeps `ms` in 10 ms slices; false when the server was asked to stop meanwhile.
    private func sleepUnlessStopping(ms: Int) -> Bool {
        guard ms > 0 else { return true }
        let end = monotonicNS() + UInt64(ms) * 1_000_000
        while true {
            if server.isStopping { return false }
            let now = monotonicNS()
            if now >= end { return true }
            usleep(UInt32(min(10_000_000, end - now) / 1000))
        }
    }
}

func monotonicNS() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}
