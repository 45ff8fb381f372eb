import ArgumentParser
import CIPCScope
import CIPCScopeProbe
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
            var host = ServeHost(service: name, script: loaded, scriptPath: script, serverOptions: options)
            host.schema = schema
            host.echo = echo
            host.step = step
            host.json = json
            host.quiet = quiet
            // ipcscope-bench counts this process's heap allocations (docs/performance.md): only
            // with ordo-one/malloc-interposer preloaded and this variable set; otherwise nothing.
            host.beforeServing = {
                if let probe = getenv("IPCSCOPE_ALLOCATION_PROBE"), CIPCScopeProbe_allocation_probe_start(probe) == 0 {
                    CIPCScopeProbe_allocation_probe_mark_serving()
                }
            }
            do {
                try host.run()
            } catch {
                throw fail(error)
            }
        }
    }
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
