import Dispatch
import IPCScopeKit
import IPCScopeSchema
import IPCScopeObserve
import Synchronization
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

/// `serve`'s stop and reload signals, taken in one place.
///
/// SIGINT, SIGTERM and SIGHUP are blocked before the section is created and before any thread
/// starts, so every thread inherits the block: none can be killed by them half-way (the section
/// left behind), and none is lost to a thread that does not look. One thread takes them with
/// `sigwait`. A stop asks the server to stop; if its handler has not returned a second later
/// (stuck in a regex, a sleep, a lock), the call is answered -4, the section removed, and the
/// process exits: a stop signal always stops the server within about one second.
package final class ServeSignals: @unchecked Sendable {
    /// How long a handler may go on after a stop signal before it is abandoned.
    package static let grace: UInt64 = 900_000_000

    private struct Shared {
        var target: ScriptedServer?
        var stopAt: UInt64?
        var finished = false
    }
    private let shared = PthreadLocked(Shared())
    private let reloadPending = Atomic<Bool>(false)
    private let reloadQueue = DispatchQueue(label: "ipcscope.reload")
    private let service: String
    private let json: Bool
    /// nil for `--echo` (SIGHUP stops it); the script's path for `--script` (SIGHUP reloads it).
    private let scriptPath: String?
    private let startedOnTerminal: Bool
    /// The schema a reloaded script's `fields:` are checked with (`serve --schema`).
    package var schema: Schema?

    /// Blocks the three signals in this thread (and so in every thread started after) and starts
    /// the thread that takes them. Call it first, before anything is created.
    package init(service: String, scriptPath: String?, json: Bool) {
        var set = ServeSignals.signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        self.service = service
        self.scriptPath = scriptPath
        self.json = json
        startedOnTerminal = hasControllingTerminal()
        do {
            _ = try OSThread(detached: true) { [self] in loop() }
        } catch {
            // No signal thread: fall back to the default actions rather than be deaf to them.
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)
        return set
    }

    /// The server to stop. A stop that came while it was being created applies now.
    package func serve(_ scripted: ScriptedServer) {
        let stopNow = shared.withLock { s -> Bool in
            s.target = scripted
            return s.stopAt != nil
        }
        if stopNow { scripted.stop() }
    }

    /// `run()` returned and the section is shut down: nothing left to force.
    package func finished() { shared.withLock { $0.finished = true } }

    // MARK: - the signal thread

    private func loop() {
        var set = ServeSignals.signalSet()
        while true {
            var sig: Int32 = 0
            guard sigwait(&set, &sig) == 0 else { continue }
            if sig == SIGHUP, let path = scriptPath {
                if startedOnTerminal && !hasControllingTerminal() {
                    printError("terminal hung up: stopping (send SIGHUP from a live shell to reload the script)")
                } else {
                    reload(path)
                    continue
                }
            }
            stopAndWatch()
        }
    }

    /// Asks the server to stop; forces it if its handler has not returned within the grace time.
    private func stopAndWatch() {
        let now = monotonicNanoseconds()
        let (first, target) = shared.withLock { s -> (Bool, ScriptedServer?) in
            let first = s.stopAt == nil
            if first { s.stopAt = now }
            return (first, s.target)
        }
        guard first else { return }
        target?.stop()
        while true {
            usleep(5_000)
            let (finished, target) = shared.withLock { ($0.finished, $0.target) }
            if finished { return }
            guard let target, monotonicNanoseconds() &- now >= ServeSignals.grace else { continue }
            if target.server.shutdownNow() {
                // Say so, but never wait long for it: stdout may be a pipe nobody reads (which may
                // be why the handler is stuck in the first place).
                let said = DoneFlag()
                let (service, json) = (service, json)
                DispatchQueue.global().async {
                    printError("the handler of '\(service)' did not return within 1 s of the stop signal: its call was answered -4 and the server stopped")
                    if json {
                        printJSON(.object([("event", .string("stopped")), ("service", .string(service)), ("forced", .bool(true))]))
                    } else {
                        printLine("stopped '\(service)'")
                    }
                    said.done.store(true, ordering: .sequentiallyConsistent)
                }
                let until = monotonicNanoseconds() &+ 100_000_000
                while !said.done.load(ordering: .sequentiallyConsistent) && monotonicNanoseconds() < until { usleep(1_000) }
                _exit(0)
            }
            return  // it shut down on its own meanwhile
        }
    }

    /// Reloads the script on the reload queue; SIGHUPs that come while one is pending are merged.
    private func reload(_ path: String) {
        guard reloadPending.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else { return }
        reloadQueue.async { [self] in
            reloadPending.store(false, ordering: .sequentiallyConsistent)
            guard let scripted = shared.withLock({ $0.target }) else { return }
            do {
                let fresh = try Script.load(path: path, schema: schema)
                scripted.reload(fresh)
                if json {
                    printJSON(.object([("event", .string("reloaded")), ("script", .string(path)), ("rules", .number(fresh.rules.count))]))
                } else {
                    printLine("reloaded \(path): \(fresh.rules.count) rules")
                }
            } catch {
                printError("reload refused, keeping the old script: \(error)")
            }
        }
    }
}

/// A flag one thread sets and another polls.
package final class DoneFlag: Sendable {
    package let done = Atomic<Bool>(false)
}

/// A value behind a pthread mutex. (The signal thread and the main thread share little, but the
/// thread sanitizer sees through `pthread_mutex_lock`, not through the standard library's `Mutex`.)
package final class PthreadLocked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    package func withLock<R>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body(&value)
    }
}
