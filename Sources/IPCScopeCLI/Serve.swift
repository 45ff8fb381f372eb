import ArgumentParser
import Dispatch
import IPCScopeKit
import IPCScopeModel
#if canImport(Glibc)
import Glibc
#endif

extension IPCScope {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve a service: echo every call, or answer from a script.",
            discussion: """
                Creates /dev/shm/ipcscope.NAME (or takes over one whose server died), serves \
                until Ctrl-C or SIGTERM, then removes it.

                Example:
                  ipcscope serve MyService --echo
                """)

        @Argument(help: "The service name (1-128 of A-Z a-z 0-9 . _ -).")
        var name: String

        @Flag(help: "Answer every call with status 0 and the request's own bytes.")
        var echo = false

        @Option(help: "Max request payload in bytes (up to 1048576).")
        var requestCapacity = 4096

        @Option(help: "Max response payload in bytes (up to 1048576).")
        var responseCapacity = 4096

        @Option(help: "Records in the trace ring (0 or a power of two).")
        var traceCapacity = 256

        @Option(help: "File mode of the section, octal (default 600: only you).")
        var mode = "600"

        @Flag(help: "Replace an existing object that is not a valid section.")
        var replace = false

        @Flag(help: "Leave the section in /dev/shm on exit.")
        var keep = false

        @Flag(help: "No log line per call.")
        var quiet = false

        func validate() throws {
            guard echo else { throw ValidationError("say how to answer: --echo") }
            guard let m = Int(mode, radix: 8), (0...0o777).contains(m) else {
                throw ValidationError("--mode '\(mode)' is not an octal file mode like 600 or 660")
            }
        }

        func run() throws {
            var options = ServerOptions()
            options.requestCapacity = requestCapacity
            options.responseCapacity = responseCapacity
            options.traceCapacity = traceCapacity
            options.mode = mode_t(Int(mode, radix: 8)!)
            options.replaceInvalid = replace
            options.keepOnExit = keep
            let server: Server
            do {
                server = try Server(service: name, options: options)
            } catch {
                throw fail(error)
            }
            let sources = installStopSignals { server.stop() }
            defer { sources.forEach { $0.cancel() } }
            let verb = server.tookOver ? "took over" : "serving"
            printLine("\(verb) '\(name)' at \(server.service.path) (pid \(getpid()), epoch \(server.epoch)); Ctrl-C stops")
            let quiet = quiet
            server.run { request, response in
                try response.set(request.payload)
                if !quiet {
                    let head = HexDump.printable(request.payload.prefix(32))
                    printLine("call seq=\(request.seq) function=\(request.function) size=\(request.payload.count) client=\(request.clientPID) status=0 \"\(head)\"")
                }
                return 0
            }
            printLine("stopped '\(name)'")
        }
    }
}

/// Stops on SIGINT and SIGTERM through dispatch sources (no work in a signal handler).
func installStopSignals(_ stop: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
    let queue = DispatchQueue(label: "ipcscope.signals")
    return [SIGINT, SIGTERM].map { sig in
        signal(sig, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
        s.setEventHandler { stop() }
        s.resume()
        return s
    }
}

