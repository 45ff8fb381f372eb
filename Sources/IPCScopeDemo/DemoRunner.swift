#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX
import IPCScopeKit
import IPCScopeProcess
import Synchronization
import IPCScopePOSIX

/// Runs the demo: the demo service's server on a thread of this process, and demo clients
/// as child processes (this same executable, re-run with a hidden verb).
///
/// `stop()` ends everything in order: the server stops (its clean shutdown unlinks the
/// section, and clients hear "server gone"), clients still running get SIGTERM, then
/// SIGKILL after a grace period, and every child is reaped. Safe to call from any thread,
/// more than once.
package final class DemoRunner: @unchecked Sendable {
    /// The service name (`demo-<pid>` unless asked otherwise).
    package let service: String
    /// The in-process server.
    package let server: Server
    private let state = Mutex(RunnerState())
    private var serverThread: OSThread?

    private struct RunnerState {
        var children: [pid_t: ClientChild] = [:]
        var stopped = false
        var serverDone = false
    }

    /// A client process and where its report goes.
    struct ClientChild {
        var process: StartedProcess
        var reportPath: String?
    }

    /// Creates the section for `service` (the caller picks a name no one else uses).
    /// - Throws: the framework's errors (`nameInUse`, `badName`, …).
    package init(service: String) throws(IPCError) {
        self.service = service
        var options = ServerOptions()
        options.traceCapacity = 256
        server = try Server(service: service, options: options)
    }

    deinit { stop() }

    /// The object's path in /dev/shm.
    package var sectionPath: String { "/dev/shm/ipcscope." + service }

    /// Whether the section object still exists.
    package var sectionExists: Bool { access(sectionPath, F_OK) == 0 }

    // MARK: - the server thread

    /// Starts serving the demo functions on a new thread.
    package func startServer() {
        let server = self.server
        do {
            serverThread = try OSThread {
                let handler = DemoHandler(isStopping: { server.isStopping })
                server.run { request, response in try handler.handle(request, &response) }
            }
        } catch {
            preconditionFailure("\(error) for the demo's server")
        }
    }

    // MARK: - clients

    /// Starts one client process: `executable arguments...`, with stdin from /dev/null and
    /// stdout/stderr appended to `logPath` (or /dev/null), default signal dispositions and an empty
    /// mask (the demo ignores SIGINT/SIGTERM/SIGHUP for its dispatch sources; children must not
    /// inherit that). A client's parent-death signal is tied to swift-subprocess's spawning
    /// thread, which lives as long as this process, so any thread may call this.
    @discardableResult
    package func spawnClient(executable: String, arguments: [String], reportPath: String?, logPath: String? = nil) throws(IPCError) -> pid_t {
        // The real path as argv[0], so ps and the inspector show "ipcscope", not "exe".
        let launch = Launch(executable, arguments, standardOutput: logPath.map { .file($0, append: true) } ?? .null,
                            standardError: .standardOutput)
        let started = state.withLock { st -> Result<StartedProcess, LaunchError>? in
            guard !st.stopped else { return nil }
            do throws(LaunchError) {
                let process = try StartedProcess.start(launch)
                st.children[process.pid] = ClientChild(process: process, reportPath: reportPath)
                return .success(process)
            } catch {
                return .failure(error)
            }
        }
        switch started {
        case .success(let process)?:
            return process.pid
        case .failure(let error)?:
            throw IPCError(.system, service: service, "cannot start a demo client (\(executable)): \(error.reason)", errno: error.errno)
        case nil:
            throw IPCError(.system, service: service, "cannot start a demo client (\(executable)): \(String(cString: strerror(ECANCELED)))", errno: ECANCELED)
        }
    }

    /// Client processes still running.
    package var runningClients: [pid_t] {
        state.withLock { $0.children.values.filter { !$0.process.hasExited }.map(\.process.pid).sorted() }
    }

    /// Waits until every client has ended, at most `timeout` seconds; true when all did.
    package func waitForClients(timeout: Double) -> Bool {
        let end = monotonicNanoseconds() + UInt64(timeout * 1e9)
        while true {
            if runningClients.isEmpty { return true }
            if monotonicNanoseconds() >= end { return false }
            usleep(10_000)
        }
    }

    /// Sends `signal` to every client still running.
    package func signalClients(_ signal: Int32) {
        for client in state.withLock({ Array($0.children.values) }) { client.process.send(signal) }
    }

    /// Every client's report merged, and how many clients left none.
    package func collectReports() -> (DemoStats, missing: Int) {
        var merged = DemoStats()
        var missing = 0
        let paths = state.withLock { $0.children.values.map(\.reportPath) }
        for case let path? in paths {
            if let text = readTextFile(path), let stats = DemoStats.decode(text) {
                merged.merge(stats)
            } else {
                missing += 1
            }
        }
        return (merged, missing)
    }

    // MARK: - stop

    /// Stops the server (unlinking the section), then ends every client: they normally leave
    /// by themselves on "server gone"; any still running after `grace` seconds gets SIGTERM,
    /// and one second later SIGKILL. Waits for the server thread. Idempotent.
    package func stop(grace: Double = 1.0) {
        let first = state.withLock { st -> Bool in
            defer { st.stopped = true }
            return !st.stopped
        }
        // Only once: after its shutdown the server's mapping is gone, and stop() would touch it.
        guard first else { return }
        server.stop()
        if !waitForClients(timeout: grace) {
            signalClients(SIGTERM)
            if !waitForClients(timeout: 1.0) {
                signalClients(SIGKILL)
                _ = waitForClients(timeout: 2.0)
            }
        }
        serverThread?.join()
        serverThread = nil
        // run() has returned and its shutdown unlinked the section; without a thread, this does it.
        server.shutdown()
    }
}




