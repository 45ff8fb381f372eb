import ArgumentParser
import CIPCScope
import Dispatch
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeScript
import IPCScopeSchema
import IPCScopeTUI
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

extension IPCScope {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve a service: echo every call, or answer from a script (a mock server).",
            discussion: """
                Creates /dev/shm/ipcscope.NAME (or takes over one whose server died), serves \
                until Ctrl-C or SIGTERM, then removes it. Prints one log line per call \
                (JSON Lines with --json). A stop takes at most about a second: a handler still \
                busy by then has its call answered -4 (shutting down).

                Only you can use the section unless --mode says otherwise: 660 shares it with \
                your group; a mode that lets every user write it needs --allow-world-writable \
                (clients then refuse it unless they pass --trust-world-writable: call, bench, \
                replay, attach). The mode applies on takeover \
                too. A server never takes over another user's section.

                A script is a YAML list of rules tried in order (see docs/scripts.md): each \
                matches on function and payload and answers a status and data, after an \
                optional delay, or injects a fault (never_answer, exit). A call no rule \
                matches answers status -3. A bad script is refused with its line and column. \
                SIGHUP reloads the script (a bad one is reported and the old one kept).

                Exit status: 0 after a clean stop (or a valid script with --check), 1 when the \
                server cannot start or the script is bad, 64 for usage errors; a script's \
                'fault: exit' exits with its exit_code (default 3).

                Examples:
                  ipcscope serve MyService --echo
                  ipcscope serve MyService --script demo/scripts/replies.yaml --json
                  ipcscope serve --script replies.yaml --check
                  ipcscope serve MyService --script replies.yaml --step   # Enter answers each call
                  ipcscope serve MyService --script replies.yaml --tui    # serve inside the inspector
                """)

        @Argument(help: "The service name (1-128 of A-Z a-z 0-9 . _ -); not needed with --check.")
        var name: String?

        @Flag(help: "Answer every call with status 0 and the request's own bytes.")
        var echo = false

        @Option(help: "Answer from this YAML script (see docs/scripts.md).", completion: .file(extensions: ["yaml", "yml"]))
        var script: String?

        @OptionGroup var schemaOptions: SchemaOptions

        @Flag(help: "Only check the script, print how many rules it has, and exit.")
        var check = false

        @Flag(help: "Wait for Enter before answering each call (teaching).")
        var step = false

        @Flag(help: "Serve inside the live inspector (same as 'ipcscope attach NAME --serve FILE'): s step mode, b breakpoints.")
        var tui = false

        @Flag(help: "Log each call as one JSON object per line.")
        var json = false

        @Flag(help: "No log line per call.")
        var quiet = false

        @Option(help: "Max request payload in bytes (up to 1048576).")
        var requestCapacity = 4096

        @Option(help: "Max response payload in bytes (up to 1048576).")
        var responseCapacity = 4096

        @Option(help: "Records in the trace ring (0 or a power of two).")
        var traceCapacity = 256

        @Option(help: "File mode of the section, octal (default 600: only you; 660 shares it with your group). Applied on takeover too.")
        var mode = "600"

        @Flag(help: "Accept a --mode that lets every user write the section (anyone could then read the calls and forge answers).")
        var allowWorldWritable = false

        @Flag(help: "Replace an existing object that is not a valid section.")
        var replace = false

        @Flag(help: "Leave the section in /dev/shm on exit.")
        var keep = false

        func validate() throws {
            if check {
                guard script != nil else { throw ValidationError("--check needs --script FILE") }
                return
            }
            guard name != nil else { throw ValidationError("give the service name: ipcscope serve NAME --echo") }
            guard echo != (script != nil) else { throw ValidationError("say how to answer: either --echo or --script FILE") }
            guard let m = Int(mode, radix: 8), (0...0o777).contains(m) else {
                throw ValidationError("--mode '\(mode)' is not an octal file mode like 600 or 660")
            }
            if m & 0o002 != 0 && !allowWorldWritable {
                throw ValidationError("--mode \(mode) lets every user write the section (read your calls, forge answers, wedge its mutex): use 600, or 660 to share with your group; --allow-world-writable if you really mean it")
            }
            if tui && (json || step) {
                throw ValidationError("--tui shows the calls itself and steps with its 's' key: drop --json and --step")
            }
        }

        func run() throws {
            let loaded: Script
            let schema = script == nil ? nil : try schemaOptions.load(service: name)
            if let path = script {
                do {
                    loaded = try Script.load(path: path, schema: schema)
                } catch {
                    throw scriptFailure(error)
                }
                if check {
                    printLine("\(path): ok, \(loaded.rules.count) rule\(loaded.rules.count == 1 ? "" : "s")")
                    return
                }
            } else {
                loaded = Script.echo
            }
            let name = name!
            var options = ServerOptions()
            options.requestCapacity = requestCapacity
            options.responseCapacity = responseCapacity
            options.traceCapacity = traceCapacity
            options.mode = mode_t(Int(mode, radix: 8)!)
            options.allowWorldWritable = allowWorldWritable
            options.replaceInvalid = replace
            options.keepOnExit = keep
            if tui {
                return try runInInspector(name: name, serverOptions: options)
            }
            // Signals first, before the section exists: a SIGTERM that comes while it is being
            // created still stops the server cleanly. SIGHUP: a script server reloads (unless its
            // terminal hung up); an echo server stops.
            let signals = ServeSignals(service: name, scriptPath: script, json: json)
            signals.schema = schema
            let server: Server
            do {
                server = try Server(service: name, options: options)
            } catch {
                throw fail(error)
            }
            let scripted = ScriptedServer(server: server, script: loaded)
            signals.serve(scripted)

            // The log is written by its own thread (ServeLogger); the serving thread only records
            // each call's facts. `--step` waits for Enter anyway: it logs in line with its prompts.
            let (json, quiet) = (json, quiet)
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
            // ipcscope-bench counts this process's heap allocations (docs/performance.md): only
            // with ordo-one/malloc-interposer preloaded and this variable set; otherwise nothing.
            if let probe = getenv("IPCSCOPE_ALLOCATION_PROBE"), CIPCScope_allocation_probe_start(probe) == 0 {
                CIPCScope_allocation_probe_mark_serving()
            }
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
}

extension ScriptDecision {
    /// Whether the `--echo` behaviour answered (it is a rule of no script file: line 0).
    var isEcho: Bool { rule != nil && line == 0 }

    /// `echo`, `1@line7` (compact) or `rule 1 (line 7)`, `none` / `no rule`.
    func ruleName(compact: Bool) -> String {
        if isEcho { return "echo" }
        guard let r = rule else { return compact ? "none" : "no rule" }
        return compact ? "\(r)" + (line > 0 ? "@line\(line)" : "") : "rule \(r)" + (line > 0 ? " (line \(line))" : "")
    }
}

extension Script {
    /// The `--echo` behaviour as a script: every call answers status 0 with its own bytes.
    static var echo: Script {
        Script(rules: [Script.Rule(index: 1, line: 0, column: 0, match: Script.Match(),
                                   behaviour: .answer(Script.Answer(kind: .reply(status: 0, data: .echo), delayMS: 0)))],
               source: "--echo")
    }
}

/// Log lines for `serve`.
enum ServeLog {
    static func text(_ r: ScriptCallRecord) -> String {
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
    static func text(_ c: EchoCall, _ d: ScriptDecision) -> String {
        "call seq=\(c.seq) function=\(c.function) size=\(c.size) client=\(c.clientPID)"
            + " rule=" + d.ruleName(compact: true)
            + " status=0 response=\(c.size) took=\(Units.duration(ns: c.elapsedNS)) \"\(HexDump.printable(c.headBytes))\""
    }

    /// An `--echo` call's JSON line: the same as `json(_:)` gives for the echo script's record.
    static func json(_ c: EchoCall, _ d: ScriptDecision) -> JSON {
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
    static func missed(_ n: Int, json: Bool) -> String {
        json ? JSON.object([("event", .string("log_dropped")), ("lines", .number(n))]).rendered
             : "log: \(n) call line\(n == 1 ? "" : "s") dropped (the output did not keep up)"
    }

    static func json(_ r: ScriptCallRecord) -> JSON {
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
enum EchoHandler {
    static func make(_ ring: LogRing<EchoCall>?) -> Server.Handler {
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
final class Stepper: @unchecked Sendable {
    let server: Server
    let json: Bool
    private var eof = false

    init(server: Server, json: Bool) {
        self.server = server
        self.json = json
    }

    func wait(_ request: ScriptRequest, _ decision: ScriptDecision) {
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

/// Stops on SIGINT and SIGTERM through dispatch sources (no work in a signal handler).
func installStopSignals(also extra: [Int32] = [], _ stop: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
    let queue = DispatchQueue(label: "ipcscope.signals")
    return ([SIGINT, SIGTERM] + extra).map { sig in
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler { stop() }
        s.resume()
        return s
    }
}

/// Whether this process has a controlling terminal now.
func hasControllingTerminal() -> Bool {
    let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
    if fd < 0 { return false }
    close(fd)
    return true
}

extension IPCScope.Serve {
    /// `--tui`: the inspector serves the section in-process (its server mode).
    func runInInspector(name: String, serverOptions: ServerOptions) throws {
        guard isatty(1) != 0 && isatty(0) != 0 else {
            printError("--tui needs a terminal: drop --tui to serve with a log line per call")
            throw ExitCode(1)
        }
        var options = AttachOptions(service: name)
        options.serve = script.map { .script($0) } ?? .echo
        options.serverOptions = serverOptions
        do {
            try IPCScopeTUI.attach(options)
        } catch let error as IPCError {
            throw fail(error)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
