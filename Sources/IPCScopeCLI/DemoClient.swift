import ArgumentParser
import Dispatch
import IPCScopeDemo
import IPCScopeKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    /// `ipcscope demo-client`: one of the demo's background clients (hidden; `ipcscope demo`
    /// starts it). Exits when its time is up, on SIGTERM, when the server goes away, or when
    /// the demo process dies (parent-death signal).
    struct DemoClient: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "demo-client",
            abstract: "One background client of 'ipcscope demo' (started by it).",
            shouldDisplay: false)

        @Argument(help: "The service name.")
        var name: String

        @Option(help: "Seed of the traffic.")
        var seed: UInt64 = 1

        @Option(help: "Stop after this many seconds (default: until the server goes away).", transform: Seconds.parse)
        var seconds: Seconds?

        @Option(help: "Write the stats here at the end.")
        var report: String?

        @Option(help: "The demo's pid: end with it.")
        var parent: Int32?

        @Option(help: "The log file the demo gave its clients (removed when the demo died).")
        var log: String?

        func run() throws {
            // Signals first: the parent-death SIGTERM must stop the traffic, not kill us before we clean up.
            let stop = Atomic<Bool>(false)
            let sources = installDemoSignals { _ in stop.store(true, ordering: .sequentiallyConsistent) }
            defer { sources.forEach { $0.cancel() } }
            if let parent, !endWithParent(parent) {
                // The demo passes its own pid and starts us itself: another parent already means it
                // died (SIGKILL) before we got here, and it may still be an unreaped zombie.
                removeIfOrphaned()
                return
            }
            var traffic = DemoTraffic(service: name, seed: seed)
            let (stats, end) = traffic.run(seconds: seconds?.value) { stop.load(ordering: .sequentiallyConsistent) }
            if let report, !writeFileAtomically(report, stats.encoded()) {
                printError("cannot write the report to \(report)")
            }
            if case .serverGone(let why) = end { printError("demo client \(getpid()): \(why)") }
            removeIfOrphaned()
        }

        /// When the demo died without cleaning up (SIGKILL), the last of its clients removes
        /// the section it left behind: only when the demo is gone and no server holds the section.
        /// The demo is this process's parent (it passed its own pid), so being reparented means it has died,
        /// even while it is still a zombie nobody has reaped (which `kill(pid, 0)` would call alive). A demo
        /// killed while we call is seen as "server gone" before the kernel reparents us: it is exiting then.
        private func removeIfOrphaned() {
            guard let parent, getppid() != parent || ProcessFacts.isExiting(parent) else { return }
            // The demo cannot remove its files any more: each client removes its report, and the
            // last one out the directory (rmdir only succeeds once it is empty).
            if let report {
                unlink(report)
                let dir = String(report[..<(report.lastIndex(of: "/") ?? report.startIndex)])
                if dir.hasPrefix("/tmp/ipcscope-demo-") { rmdir(dir) }
            }
            if let log, log.hasPrefix("/tmp/ipcscope-") { unlink(log) }
            do {
                _ = try Client(service: name)
            } catch {
                if error.code == .serverNotRunning { _ = shm_unlink("/ipcscope." + name) }
            }
        }
    }
}
