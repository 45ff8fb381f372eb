import Dispatch
import IPCScopeKit
import IPCScopeSchema
import IPCScopeTUI
import Synchronization
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

/// Opens the inspector (`ipcscope attach`) on the demo's service, in this process, and
/// returns when the user quits it (q or Ctrl-C) or a signal asks the demo to stop.
enum DemoInspector {
    /// Whether the inspector owns the terminal right now.
    static let active = Atomic<Bool>(false)

    /// Runs the inspector, decoding put and get with `schema`, until it is quit; returns 0,
    /// or 1 when it could not start.
    static func run(service: String, schema: Schema?) -> Int32 {
        active.store(true, ordering: .sequentiallyConsistent)
        defer { active.store(false, ordering: .sequentiallyConsistent) }
        do {
            var options = AttachOptions(service: service)
            options.schema = schema
            try IPCScopeTUI.attach(options)
            return 0
        } catch let error as IPCError {
            printError(error.message)
        } catch {
            printError("cannot open the inspector: \(error)")
        }
        return 1
    }

    /// Makes a running inspector leave its loop (it restores the terminal on SIGTERM), and
    /// keeps asking every 250 ms until it has, in case the signal came before its handler.
    static func askToQuit(on queue: DispatchQueue) {
        guard active.load(ordering: .sequentiallyConsistent) else { return }
        kill(getpid(), SIGTERM)
        queue.asyncAfter(deadline: .now() + .milliseconds(250)) { @Sendable in askToQuit(on: queue) }
    }
}
