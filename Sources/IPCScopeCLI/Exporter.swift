import ArgumentParser
import IPCScopeExporter
import IPCScopeKit
import IPCScopePOSIX

extension IPCScope {
    struct Exporter: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exporter",
            abstract: "Serve Prometheus metrics of every section on this host (read-only).",
            discussion: """
                A long-running, read-only daemon: each scrape of /metrics lists /dev/shm, reads every \
                ipcscope section with pread (never its mutex, never a futex wait) and follows its trace \
                ring for per-function call counts and latency histograms. Sections that appear, \
                disappear or are taken over are followed; garbage, FIFOs and other users' objects are \
                skipped and counted. / names what is exported. See docs/observability.md.

                Examples:
                  ipcscope exporter                              # 127.0.0.1:9464, every section
                  ipcscope exporter --service MyService --listen 127.0.0.1:9500
                """)

        @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:9464; port 0 picks a free one).")
        var listen: String = "127.0.0.1:9464"

        @Option(name: .customLong("service"), parsing: .upToNextOption, help: "Export only these services (default: every section).")
        var services: [String] = []

        @Option(help: "The most function labels per service; later functions are counted as function=\"other\" (1 to 1000).")
        var maxFunctions: Int = 32

        func validate() throws {
            guard Self.split(listen) != nil else {
                throw ValidationError("--listen '\(listen)' is not HOST:PORT (for example 127.0.0.1:9464 or [::1]:9464)")
            }
            guard (1...1000).contains(maxFunctions) else { throw ValidationError("--max-functions must be 1 to 1000") }
            for s in services {
                do { _ = try ServiceName(s) } catch { throw ValidationError("--service '\(s)': \(error.message)") }
            }
        }

        /// `HOST:PORT` or `[V6]:PORT` into its parts.
        static func split(_ text: String) -> (host: String, port: Int)? {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            var host = String(text[..<colon])
            guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.isEmpty else { return nil }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            return (host, port)
        }

        func run() throws {
            let (host, port) = Self.split(listen)!
            let service = ExporterService(options: ExporterOptions(services: services, maxFunctions: maxFunctions))
            let server: ExporterServer
            do {
                server = try ExporterServer(service: service, host: host, port: port)
            } catch {
                printError("cannot listen on \(listen): \(error); pick another --listen address or stop what uses it")
                throw ExitCode(1)
            }
            printError("exporter listening on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port)/metrics (\(services.isEmpty ? "every section" : services.joined(separator: ", ")))")
            try server.wait()
        }
    }
}
