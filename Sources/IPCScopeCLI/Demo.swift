import ArgumentParser
import Dispatch
import IPCScopeDemo
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeProcess
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a demo service with busy clients and open the inspector on it.",
            discussion: """
                Nothing to set up: creates a uniquely named service (demo-PID), serves it from \
                this process, starts client processes that make a realistic mix of calls (bursts, \
                pauses, varied sizes, slow calls that make the others wait for the mutex, now and \
                then an error), and opens 'ipcscope attach' on it. Quitting the inspector (q), \
                Ctrl-C or a kill stops everything and removes the section.

                The demo service's functions:
                \(demoFunctionHelp)

                put and get take and answer C structs (demo/schemas/demo.yaml). The inspector \
                the demo opens decodes them by itself; --server-only writes the schema to a file of its own and prints \
                the command to use it; --install-schema puts it at \
                $XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml for the run (removed at the end), so \
                'ipcscope call/attach/status/watch NAME' in other terminals decode put and get \
                with no --schema; --print-schema prints it.

                --no-tui runs the same traffic for --seconds and prints a summary (calls by \
                function, answers by status, latency p50/p90/p99 as the clients saw it, the \
                mutex counters); use it where there is no terminal. --server-only serves the \
                demo functions with no clients and no inspector (the lessons in demo/ use it).

                Exit status: 0 after a clean stop (q, or SIGTERM/SIGHUP while the inspector is \
                open: it closes); 1 when the demo cannot start; 128 + the signal's number when \
                a signal stops it otherwise (everything is still cleaned up).

                Examples:
                  ipcscope demo
                  ipcscope demo --no-tui --seconds 5
                  ipcscope demo --no-tui --json
                  ipcscope demo --server-only --name Shop
                  ipcscope demo --server-only --name Shop --install-schema
                  ipcscope call Shop put --field key=apple --field value=3  # elsewhere
                  ipcscope call Shop get --field key=apple
                  ipcscope demo --print-schema > demo.yaml
                """)

        @Flag(help: "No inspector: run the traffic for --seconds, then print a summary.")
        var noTui = false

        @Option(help: "With --no-tui: seconds of traffic (default 3; more than 0, at most 3600).", transform: Seconds.parse)
        var seconds = Seconds(3)!

        @Flag(help: "With --no-tui: print the summary as one JSON object.")
        var json = false

        @Option(help: "Client processes (1 to 8).")
        var clients = 3

        @Option(help: "Service name (default demo-PID).")
        var name: String?

        @Option(help: "Seed of the clients' traffic (default: from the pid), to replay a run.")
        var seed: UInt64?

        @Flag(help: "Only serve the demo functions (no clients, no inspector) until Ctrl-C.")
        var serverOnly = false

        @Flag(help: "Put the schema of put/get at $XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml while the demo runs.")
        var installSchema = false

        @Flag(help: "Print the schema of put/get (demo/schemas/demo.yaml) and exit.")
        var printSchema = false

        func validate() throws {
            guard (1...8).contains(clients) else { throw ValidationError("--clients must be 1 to 8") }
            guard seconds.value <= 3600 else { throw ValidationError("--seconds must be more than 0 and at most 3600") }
            if json && !noTui { throw ValidationError("--json goes with --no-tui") }
            if serverOnly && noTui { throw ValidationError("give either --server-only or --no-tui, not both") }
            if installSchema && noTui { throw ValidationError("--install-schema is for a demo others attach to: leave out --no-tui") }
        }

        func run() throws {
            if printSchema {
                printOut(demoSchemaYAML)
                return
            }
            let service = name ?? "demo-\(getpid())"
            if !noTui && !serverOnly && (isatty(0) == 0 || isatty(1) == 0) {
                printError("'ipcscope demo' opens the inspector, which needs a terminal (stdin or stdout is not one): run 'ipcscope demo --no-tui' for a summary instead")
                throw ExitCode(1)
            }
            // Signals only record themselves (the first one wins); the main thread does the stopping.
            // With the inspector, SIGTERM and SIGHUP are the inspector's own (it restores the
            // terminal and returns); a dispatch source on them could steal them from it. SIGINT
            // is ours, and asks the inspector to quit with a SIGTERM.
            let withInspector = !noTui && !serverOnly
            let stopSignal = Atomic<Int32>(0)
            let queue = DispatchQueue(label: "ipcscope.demo.signals")
            let sources = installDemoSignals(withInspector ? [SIGINT] : [SIGINT, SIGTERM, SIGHUP], queue: queue) { sig in
                if stopSignal.compareExchange(expected: 0, desired: sig, ordering: .sequentiallyConsistent).exchanged {
                    DemoInspector.askToQuit(on: queue)
                }
            }
            defer { sources.forEach { $0.cancel() } }

            // The schema first: a refused --install-schema leaves nothing to undo.
            let schemaFile = installSchema ? try DemoSchemaFile.install(service: service)
                                           : serverOnly ? DemoSchemaFile.temporary() : nil
            defer { schemaFile?.remove() }
            let runner: DemoRunner
            do {
                runner = try DemoRunner(service: service)
            } catch {
                throw fail(error)
            }
            runner.startServer()
            let interrupted = { stopSignal.load(ordering: .sequentiallyConsistent) }
            if serverOnly {
                printLine("serving the demo functions on '\(service)' at \(runner.sectionPath) (pid \(getpid()), epoch \(runner.server.epoch)); Ctrl-C stops")
                if let schemaFile {
                    let option = installSchema ? "" : " --schema \(schemaFile.path)"
                    printLine("put and get take C structs; their schema: \(schemaFile.path)\(installSchema ? " (installed for this run)" : "")")
                    printLine("  ipcscope call \(service) put\(option) --field key=apple --field value=3")
                    printLine("  ipcscope attach \(service)\(option)")
                }
                while interrupted() == 0 { usleep(50_000) }
                runner.stop()
                printLine("stopped '\(service)'")
                return
            }
            if noTui {
                try runWithoutTUI(runner, interrupted: interrupted)
            } else {
                try runWithTUI(runner, interrupted: interrupted)
            }
        }

        // MARK: - --no-tui

        private func runWithoutTUI(_ runner: DemoRunner, interrupted: () -> Int32) throws {
            let dir = makeTemporaryDirectory()
            defer { removeTemporaryDirectory(dir) }
            let baseSeed = seed ?? UInt64(getpid())
            if !json {
                printLine("demo: serving '\(runner.service)' (pid \(getpid())), \(clients) client processes, \(formatSeconds(seconds.value)) s of traffic…")
            }
            do {
                for i in 0..<clients {
                    let report = "\(dir)/client\(i).report"
                    try runner.spawnClient(executable: ownExecutablePath,
                                           arguments: ["demo-client", runner.service, "--seed", "\(baseSeed &+ UInt64(i) &* 7919)",
                                                       "--seconds", "\(seconds.value)", "--report", report, "--parent", "\(getpid())"],
                                           reportPath: report)
                }
            } catch {
                runner.stop()
                throw fail(error)
            }
            // The clients stop by themselves after --seconds; allow for start-up and a last slow call.
            let end = monotonicNanoseconds() + seconds.nanoseconds + 10_000_000_000
            while !runner.runningClients.isEmpty && monotonicNanoseconds() < end && interrupted() == 0 {
                usleep(20_000)
            }
            if interrupted() != 0 { throw stopOnSignal(runner, interrupted()) }
            let counters = try? SectionReader(service: runner.service).snapshot()
            runner.stop()
            let (stats, missing) = runner.collectReports()
            let summary = DemoSummary(
                service: runner.service, stats: stats,
                section: counters.map { DemoSectionCounters(callsServed: $0.callsServed, lockCount: $0.lockCount,
                                                            contendedCount: $0.contendedCount, recoveredCount: $0.recoveredCount,
                                                            epoch: $0.serverEpoch) },
                sectionRemoved: !runner.sectionExists, missingReports: missing)
            printOut(json ? summary.json + "\n" : summary.text)
            if !summary.sectionRemoved { throw ExitCode(1) }
        }

        // MARK: - the inspector

        private func runWithTUI(_ runner: DemoRunner, interrupted: () -> Int32) throws {
            let log = "/tmp/ipcscope-\(runner.service).log"
            let baseSeed = seed ?? UInt64(getpid())
            do {
                for i in 0..<clients {
                    try runner.spawnClient(executable: ownExecutablePath,
                                           arguments: ["demo-client", runner.service, "--seed", "\(baseSeed &+ UInt64(i) &* 7919)",
                                                       "--parent", "\(getpid())", "--log", log],
                                           reportPath: nil, logPath: log)
                }
            } catch {
                runner.stop()
                throw fail(error)
            }
            let code = DemoInspector.run(service: runner.service, schema: DemoSchemaFile.parsed())
            if interrupted() != 0 { throw stopOnSignal(runner, interrupted()) }
            runner.stop()
            unlink(log)
            printLine("demo stopped: server, \(clients) clients and /dev/shm/ipcscope.\(runner.service) are gone")
            if code != 0 { throw ExitCode(code) }
        }

        /// Stops everything after a signal; the exit code says which signal (128 + signal).
        private func stopOnSignal(_ runner: DemoRunner, _ sig: Int32) -> ExitCode {
            runner.stop(grace: 0.2)
            printError("stopped by signal \(sig): server and clients ended, /dev/shm/ipcscope.\(runner.service) \(runner.sectionExists ? "STILL EXISTS" : "removed")")
            return ExitCode(128 + sig)
        }
    }
}

// MARK: - signals

/// Signals (default SIGINT, SIGTERM, SIGHUP) through dispatch sources: `record` gets the signal number, and the
/// main thread does the stopping (no work in a signal handler, nothing racing the main thread).
func installDemoSignals(_ signals: [Int32] = [SIGINT, SIGTERM, SIGHUP],
                        queue: DispatchQueue = DispatchQueue(label: "ipcscope.demo.signals"),
                        _ record: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
    return signals.map { sig in
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler { @Sendable in record(sig) }
        s.resume()
        return s
    }
}

// MARK: - small helpers

/// A private directory for the clients' reports, `/tmp/ipcscope-demo-<pid>-XXXXXX`. Left-overs of
/// demos that died by SIGKILL (their pid gone, owned by this user) are removed first; the
/// clients of such a demo also remove theirs when they find the demo gone.
func makeTemporaryDirectory() -> String {
    removeStaleDemoDirectories()
    var template = Array("/tmp/ipcscope-demo-\(getpid())-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return dir.map { String(cString: $0) } ?? "/tmp"
}

func removeTemporaryDirectory(_ dir: String) {
    guard dir.hasPrefix("/tmp/ipcscope-demo-"), let d = opendir(dir) else { return }
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if name != "." && name != ".." { unlink(dir + "/" + name) }
    }
    closedir(d)
    rmdir(dir)
}

/// Removes `/tmp/ipcscope-demo-<pid>-*` directories of this user whose demo process is gone.
func removeStaleDemoDirectories() {
    guard let d = opendir("/tmp") else { return }
    var stale: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        guard name.hasPrefix("ipcscope-demo-") else { continue }
        let rest = name.dropFirst("ipcscope-demo-".count)
        guard let dash = rest.firstIndex(of: "-"), let pid = Int32(rest[..<dash]), pid > 0 else { continue }
        var st = stat()
        guard lstat("/tmp/" + name, &st) == 0, st.st_uid == geteuid(), FileKind.isDirectory(mode: st.st_mode) else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { stale.append("/tmp/" + name) }
    }
    closedir(d)
    stale.forEach(removeTemporaryDirectory)
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s))" : "\(s)"
}
