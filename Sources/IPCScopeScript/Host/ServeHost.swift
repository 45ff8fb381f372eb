#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import IPCScopeKit
import IPCScopeObserve
import IPCScopePOSIX
import IPCScopeSchema

/// `ipcscope serve NAME`: a scripted (or echo) server as a process runs it, with everything
/// around the protocol: the stop/reload signal thread, the log thread and its ring, step mode,
/// the banner and the stop line. `serve` parses its arguments and hands them here.
package struct ServeHost {
    package let service: String
    package let script: Script
    /// The script's path (SIGHUP reloads it); nil for `--echo`.
    package let scriptPath: String?
    package let serverOptions: ServerOptions
    /// The schema a reloaded script's `fields:` are checked with.
    package var schema: Schema?
    /// `--echo`: answer on the fast path (no script engine per call) unless stepping.
    package var echo = false
    /// `--step`: wait for Enter before each answer.
    package var step = false
    /// JSON Lines instead of text lines.
    package var json = false
    /// No line per call.
    package var quiet = false
    /// Runs on the serving thread just before the first call is served.
    package var beforeServing: () -> Void = {}

    package init(service: String, script: Script, scriptPath: String?, serverOptions: ServerOptions) {
        self.service = service
        self.script = script
        self.scriptPath = scriptPath
        self.serverOptions = serverOptions
    }

    /// Creates the section, serves until a stop signal, and removes it.
    /// - Throws: the framework's errors from creating the server.
    package func run() throws(IPCError) {
        let (name, loaded, script, echo, step, json, quiet) = (service, self.script, scriptPath, echo, step, json, quiet)
        // Signals first, before the section exists: a SIGTERM that comes while it is being
        // created still stops the server cleanly. SIGHUP: a script server reloads (unless its
        // terminal hung up); an echo server stops.
        let signals = ServeSignals(service: name, scriptPath: script, json: json)
        signals.schema = schema
        let server = try Server(service: name, options: serverOptions)
        let scripted = ScriptedServer(server: server, script: loaded)
        signals.serve(scripted)

        // The log is written by its own thread (ServeLogger); the serving thread only records
        // each call's facts. `--step` waits for Enter anyway: it logs in line with its prompts.
        let line = { (r: ScriptCallRecord) in json ? ServeLog.json(r).rendered : ServeLog.text(r) }
        let missed = { (n: Int) in ServeLog.missed(n, json: json) }
        var finishLog: () -> Bool = { true }
        let fastEcho = echo && !step
        var echoLog: ServeLogger<EchoCall>?
        if !quiet && step {
            scripted.onCall = { record in printLine(line(record)) }
        } else if !quiet && fastEcho {
            let decision = ScriptEngine(loaded).respond(to: ScriptRequest(function: 0, payload: []))
            let logger = ServeLogger<EchoCall>(format: { json ? ServeLog.json($0, decision).rendered : ServeLog.text($0, decision) },
                                               missed: missed)
            echoLog = logger
            finishLog = { logger.finish() }
        } else if !quiet {
            let logger = ServeLogger<ScriptCallRecord>(format: line, missed: missed)
            scripted.onCall = { record in logger.ring.push(record) }
            // A script's `fault: exit` leaves through here: its call is logged first.
            scripted.exitProcess = { code in
                logger.finish()
                _exit(code)
            }
            finishLog = { logger.finish() }
            logger.start()
        }
        if step {
            server.setStepMode(true)
            let stepper = Stepper(server: server, json: json)
            scripted.beforeAnswer = { request, decision in stepper.wait(request, decision) }
        }
        let verb = server.tookOver ? "took over" : "serving"
        let how = script.map { "script \($0), \(loaded.rules.count) rules" } ?? "echo"
        let banner = "\(verb) '\(name)' at \(server.service.path) (pid \(getpid()), epoch \(server.epoch), \(how)); Ctrl-C stops"
        if json {
            printJSON(.object([("event", .string(server.tookOver ? "took_over" : "serving")), ("service", .string(name)),
                               ("pid", .number(getpid())), ("epoch", .number(server.epoch)), ("rules", .number(loaded.rules.count))]))
        } else {
            printLine(banner)
        }
        beforeServing()
        if fastEcho {
            echoLog?.start()
            server.run(EchoHandler.make(echoLog?.ring))
        } else {
            scripted.run()
        }
        signals.finished()
        guard finishLog() else {
            // The log thread is stuck writing (a pipe nobody reads): the server has stopped
            // cleanly; do not block on one more line.
            printError("stopped '\(name)'; its log output is blocked (nobody reads it), the last log lines are lost")
            return
        }
        if json { printJSON(.object([("event", .string("stopped")), ("service", .string(name))])) } else { printLine("stopped '\(name)'") }
    }
}

extension ScriptDecision {
    /// Whether the `--echo` behaviour answered (it is a rule of no script file: line 0).
    package var isEcho: Bool { rule != nil && line == 0 }

    /// `echo`, `1@line7` (compact) or `rule 1 (line 7)`, `none` / `no rule`.
    package func ruleName(compact: Bool) -> String {
        if isEcho { return "echo" }
        guard let r = rule else { return compact ? "none" : "no rule" }
        return compact ? "\(r)" + (line > 0 ? "@line\(line)" : "") : "rule \(r)" + (line > 0 ? " (line \(line))" : "")
    }
}

extension Script {
    /// The `--echo` behaviour as a script: every call answers status 0 with its own bytes.
    package static var echo: Script {
        Script(rules: [Script.Rule(index: 1, line: 0, column: 0, match: Script.Match(),
                                   behaviour: .answer(Script.Answer(kind: .reply(status: 0, data: .echo), delayMS: 0)))],
               source: "--echo")
    }
}

/// Log lines for `serve`.
package enum ServeLog {
    package static func text(_ r: ScriptCallRecord) -> String {
        var s = "call seq=\(r.seq) function=\(r.function) size=\(r.requestSize) client=\(r.clientPID)"
        s += " rule=" + r.decision.ruleName(compact: true)
        switch r.outcome {
        case "answered", "too_large", "stopped":
            s += " status=\(r.status ?? 0) response=\(r.responseSize)"
            if r.outcome != "answered" { s += " (\(r.outcome))" }
        default:
            s += " fault=\(r.outcome)"
        }
        if r.decision.action.delayMS > 0 { s += " delay=\(r.decision.action.delayMS)ms" }
        s += " took=\(Units.duration(ns: r.elapsedNS)) \"\(HexDump.printable(r.requestHead))\""
        return s
    }

    /// An `--echo` call's line: the same as `text(_:)` gives for the echo script's record.
    package static func text(_ c: EchoCall, _ d: ScriptDecision) -> String {
        "call seq=\(c.seq) function=\(c.function) size=\(c.size) client=\(c.clientPID)"
            + " rule=" + d.ruleName(compact: true)
            + " status=0 response=\(c.size) took=\(Units.duration(ns: c.elapsedNS)) \"\(HexDump.printable(c.headBytes))\""
    }

    /// An `--echo` call's JSON line: the same as `json(_:)` gives for the echo script's record.
    package static func json(_ c: EchoCall, _ d: ScriptDecision) -> JSON {
        .object([
            ("event", .string("call")), ("seq", .uint(c.seq)), ("function", .number(c.function)),
            ("request_size", .number(c.size)), ("client_pid", .number(c.clientPID)), ("client_tid", .number(c.clientTID)),
            ("rule", d.isEcho ? .string("echo") : d.rule.map { .number($0) } ?? .null), ("line", .number(d.line)),
            ("action", .string(d.action.name)), ("outcome", .string("answered")),
            ("status", .number(0)), ("response_size", .number(c.size)),
            ("delay_ms", .number(0)), ("elapsed_ns", .uint(c.elapsedNS)),
            ("request_head_hex", .hex(c.headBytes)),
        ])
    }

    /// The line that says how many call lines the log thread had to drop.
    package static func missed(_ n: Int, json: Bool) -> String {
        json ? JSON.object([("event", .string("log_dropped")), ("lines", .number(n))]).rendered
             : "log: \(n) call line\(n == 1 ? "" : "s") dropped (the output did not keep up)"
    }

    package static func json(_ r: ScriptCallRecord) -> JSON {
        .object([
            ("event", .string("call")), ("seq", .uint(r.seq)), ("function", .number(r.function)),
            ("request_size", .number(r.requestSize)), ("client_pid", .number(r.clientPID)), ("client_tid", .number(r.clientTID)),
            ("rule", r.decision.isEcho ? .string("echo") : r.decision.rule.map { .number($0) } ?? .null), ("line", .number(r.decision.line)),
            ("action", .string(r.decision.action.name)), ("outcome", .string(r.outcome)),
            ("status", r.status.map { .number($0) } ?? .null), ("response_size", .number(r.responseSize)),
            ("delay_ms", .number(r.decision.action.delayMS)), ("elapsed_ns", .uint(r.elapsedNS)),
            ("request_head_hex", .hex(r.requestHead)),
        ])
    }
}

/// `--echo` straight on `Server.run`: copies the request into the response slot and, when
/// logging, records the call's facts in the log ring. No allocation per call.
package enum EchoHandler {
    package static func make(_ ring: LogRing<EchoCall>?) -> Server.Handler {
        guard let ring else {
            return { request, response in
                try response.set(request.payload)
                return 0
            }
        }
        return { request, response in
            let start = monotonicNanoseconds()
            try response.set(request.payload)
            var call = EchoCall(seq: request.seq, function: request.function, size: request.payload.count,
                                clientPID: request.clientPID, clientTID: request.clientTID)
            let n = min(32, request.payload.count)
            if n > 0 {
                withUnsafeMutableBytes(of: &call.head) { $0.baseAddress!.copyMemory(from: request.payload.baseAddress!, byteCount: n) }
            }
            call.elapsedNS = monotonicNanoseconds() &- start
            ring.push(call)
            return 0
        }
    }
}

/// `--step`: before each answer, say what will happen and wait for Enter on stdin
/// (polling, so Ctrl-C still stops the server). At end of input, stepping ends.
package final class Stepper: @unchecked Sendable {
    let server: Server
    let json: Bool
    private var eof = false

    package init(server: Server, json: Bool) {
        self.server = server
        self.json = json
    }

    package func wait(_ request: ScriptRequest, _ decision: ScriptDecision) {
        guard !eof else { return }
        let what: String
        switch decision.action {
        case .reply(let status, let data, _): what = "reply status \(status) with \(data.count) bytes"
        case .neverAnswer: what = "never answer"
        case .exit(let code, _): what = "exit with code \(code)"
        }
        let rule = decision.isEcho ? "echo" : decision.rule.map { "rule \($0)" } ?? "no rule (status -3)"
        if json {
            printJSON(.object([("event", .string("step")), ("seq", .uint(request.seq)), ("function", .number(request.function)),
                               ("request_size", .number(request.payload.count)), ("rule", decision.isEcho ? .string("echo") : decision.rule.map { .number($0) } ?? .null),
                               ("action", .string(decision.action.name))]))
        } else {
            printLine("step: call seq=\(request.seq) function=\(request.function) \(request.payload.count) bytes from pid \(request.clientPID): \(rule) will \(what); press Enter")
        }
        while !server.isStopping {
            var p = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, 100)
            if r <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 256)
            let n = buf.withUnsafeMutableBytes { read(0, $0.baseAddress, 256) }
            if n <= 0 {
                eof = true
                printError("end of input: --step answers without waiting from now on")
                return
            }
            if buf[0..<n].contains(10) { return }
        }
    }
}

