import ArgumentParser
import IPCScopeKit
import IPCScopeModel
#if canImport(Glibc)
import Glibc
#endif

extension IPCScope {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one decoded snapshot of a section.",
            discussion: """
                Identity, server (pid, command, alive, heartbeat), state and how long in it, \
                the mutex (the kernel's robust-futex word decoded: owner TID, waiters, owner \
                died; the owner record; counters), events and waiters, both slots as hexdump -C \
                dumps of their current sizes, and the trace ring. Read-only (O_RDONLY, pread; \
                never the mutex, never a futex wait), so it works on a live, hung or stale section.

                Exit status: 0 when the section was read, 1 when it does not exist or cannot be read.

                Examples:
                  ipcscope status MyService
                  ipcscope status MyService --trace all
                  ipcscope status MyService --json | jq .mutex
                """)

        @Argument(help: "The service name.")
        var name: String

        @Flag(help: "Print one JSON object.")
        var json = false

        @Option(help: "How many of the newest trace records to show, or 'all'.")
        var trace = "16"

        @Flag(name: .shortAndLong, help: "hexdump -C -v: show repeated lines instead of '*'.")
        var verbose = false

        func validate() throws {
            guard trace == "all" || (Int(trace).map { $0 >= 0 } ?? false) else {
                throw ValidationError("--trace takes a number of records or 'all'")
            }
        }

        func run() throws {
            let snap: Snapshot
            do {
                snap = try SectionReader(service: name).snapshot()
            } catch {
                throw fail(error)
            }
            var report = StatusReport(snap, traceLimit: trace == "all" ? nil : Int(trace))
            report.verboseDump = verbose
            if json { printJSON(report.json) } else { printOut(report.text(style: stdoutStyle)) }
        }
    }
}
