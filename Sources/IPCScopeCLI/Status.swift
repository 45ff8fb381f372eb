import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

extension IPCScope {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one decoded snapshot of a section.",
            discussion: """
                Identity, server (pid, command, alive, heartbeat), state and how long in it, \
                the mutex (the kernel's robust-futex word decoded: owner TID, waiters, owner \
                died; the owner record; counters), events and waiters, both slots as hexdump -C \
                dumps of their current sizes, the trace ring, and the latency (sent to answered) of \
                the calls the ring holds: count, p50, p90, p99, p99.9 and max per function, and the \
                time each call queued behind the one before it apart from the server's handling. Read-only (O_RDONLY, pread; \
                never the mutex, never a futex wait), so it works on a live, hung or stale section.

                Usable as a health check. Exit status:
                  0  healthy: a valid section, its server alive and not hung;
                  1  missing, or not readable by you;
                  2  problems found: empty, garbage (bad magic: the first 64 bytes are shown raw), \
                truncated or inconsistent, starting (header not written yet), stale (no server), \
                hung (heartbeat older than 5 s), a mutex held by a thread that no longer exists, \
                or not a regular file (a FIFO, directory, socket or link).

                Examples:
                  ipcscope status MyService
                  ipcscope status MyService --trace all
                  ipcscope status MyService --json | jq .mutex
                  ipcscope status MyService --host user@box        (mbvipc-agent on box, over ssh)
                  ipcscope status MyService --via 'docker exec -i ctr mbvipc-agent'
                """)

        @Argument(help: "The service name.")
        var name: String

        @Flag(help: "Print one JSON object.")
        var json = false

        @Option(help: "How many of the newest trace records to show, or 'all'.")
        var trace = "16"

        @Flag(name: .shortAndLong, help: "hexdump -C -v: show repeated lines instead of '*'.")
        var verbose = false

        @OptionGroup var schemaOptions: SchemaOptions

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func validate() throws {
            guard trace == "all" || (Int(trace).map { $0 >= 0 } ?? false) else {
                throw ValidationError("--trace takes a number of records or 'all'")
            }
        }

        func run() throws {
            let schema = try schemaOptions.load(service: name)
            if remote.isRemote { return try runRemote(schema: schema) }
            var snap: Snapshot
            do {
                let reader = try SectionReader(service: name)
                snap = try reader.snapshot()
                // A server creating the section writes its header within moments: wait for it (1 s at most).
                let end = monotonicNanoseconds() + 1_000_000_000
                while snap.starting && monotonicNanoseconds() < end {
                    sleepNS(20_000_000)
                    snap = try reader.snapshot()
                }
            } catch {
                throw fail(error, code: error.code == .corruptSection ? 2 : 1)
            }
            var report = StatusReport(snap, traceLimit: trace == "all" ? nil : Int(trace))
            report.verboseDump = verbose
            if json {
                printJSON(Self.withLatency(Self.withFields(report.json, snap, schema), snap, schema))
            } else {
                printOut(report.text(style: stdoutStyle) + Self.latencyText(snap, schema) + Self.fieldsText(snap, schema))
            }
            if report.exitCode != 0 { throw ExitCode(report.exitCode) }
        }
    }
}

extension IPCScope.Status {
    /// The latency of the calls in the trace ring, per function.
    static func latency(_ snap: Snapshot) -> LatencyStats {
        var stats = LatencyStats()
        stats.add(snap.trace)
        return stats
    }

    /// A `latency` section after the trace ring.
    static func latencyText(_ snap: Snapshot, _ schema: Schema?) -> String {
        guard snap.isValid, !snap.trace.isEmpty else { return "" }
        let stats = latency(snap)
        var out = stdoutStyle.bold("latency (the \(snap.trace.count) calls in the trace ring, sent to answered)") + "\n"
        for line in stats.textLines(name: { schema?.function($0)?.name }) { out += "  " + line + "\n" }
        return out
    }

    /// The report with `latency` added: the ring's calls, all and per function.
    static func withLatency(_ json: JSON, _ snap: Snapshot, _ schema: Schema?) -> JSON {
        guard snap.isValid, case .object(let pairs) = json else { return json }
        return .object(pairs + [("latency", latency(snap).json(name: { schema?.function($0)?.name }))])
    }
}
