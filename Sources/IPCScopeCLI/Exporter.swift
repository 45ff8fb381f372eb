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

                With --otlp-endpoint the same metrics are also pushed to an OpenTelemetry collector \
                (OTLP/HTTP, JSON) every --otlp-interval seconds, with a span for a --trace-sample \
                fraction of the calls. With --host, --via or --container the sections are another \
                host's, read through mbvipc-agent, and every series gets a host label.

                Examples:
                  ipcscope exporter                              # 127.0.0.1:9464, every section
                  ipcscope exporter --service MyService --listen 127.0.0.1:9500
                  ipcscope exporter --otlp-endpoint http://127.0.0.1:4318 --trace-sample 0.01
                  ipcscope exporter --host build01 --listen 127.0.0.1:9465
                """)

        @Option(help: "Address to listen on, HOST:PORT (default 127.0.0.1:9464; port 0 picks a free one).")
        var listen: String = "127.0.0.1:9464"

        @Option(name: .customLong("service"), parsing: .upToNextOption, help: "Export only these services (default: every section).")
        var services: [String] = []

        @Option(help: "The most function labels per service; later functions are counted as function=\"other\" (1 to 1000).")
        var maxFunctions: Int = 32

        @Option(name: .customLong("otlp-endpoint"), help: ArgumentHelp(
            "Also push to this OTLP/HTTP collector (http://HOST:PORT[/PATH]; JSON to PATH/v1/metrics and PATH/v1/traces).", valueName: "url"))
        var otlpEndpoint: String?

        @Option(name: .customLong("otlp-interval"), help: ArgumentHelp("With --otlp-endpoint: seconds between pushes (0.1 to 3600; default 10).", valueName: "seconds"))
        var otlpInterval: Double?

        @Option(name: .customLong("trace-sample"), help: ArgumentHelp(
            "With --otlp-endpoint: the fraction of calls sent as spans (0 to 1; 0: no spans; default 0.01).", valueName: "fraction"))
        var traceSample: Double?

        @Option(name: .customLong("otlp-queue"), help: ArgumentHelp(
            "With --otlp-endpoint: the most spans waiting to be sent; more are dropped and counted (1 to 1000000; default 8192).", valueName: "spans"))
        var otlpQueue: Int?

        @OptionGroup var remote: RemoteOptions

        func validate() throws {
            if let otlpEndpoint {
                do { _ = try OTLPEndpoint(otlpEndpoint) } catch { throw ValidationError("--otlp-endpoint \(error.message)") }
            }
            if otlpEndpoint == nil, otlpInterval != nil || traceSample != nil || otlpQueue != nil {
                throw ValidationError("--otlp-interval, --trace-sample and --otlp-queue go with --otlp-endpoint URL")
            }
            guard (0.1...3600).contains(interval) else { throw ValidationError("--otlp-interval takes seconds from 0.1 to 3600") }
            guard (0...1).contains(sample) else { throw ValidationError("--trace-sample takes a fraction from 0 to 1 (0.01: one call in 100)") }
            guard (1...1_000_000).contains(queue) else { throw ValidationError("--otlp-queue must be 1 to 1000000") }
            guard Self.split(listen) != nil else {
                throw ValidationError("--listen '\(listen)' is not HOST:PORT (for example 127.0.0.1:9464 or [::1]:9464)")
            }
            guard (1...1000).contains(maxFunctions) else { throw ValidationError("--max-functions must be 1 to 1000") }
            for s in services {
                do { _ = try ServiceName(s) } catch { throw ValidationError("--service '\(s)': \(error.message)") }
            }
        }

        var interval: Double { otlpInterval ?? 10 }
        var sample: Double { traceSample ?? 0.01 }
        var queue: Int { otlpQueue ?? 8192 }

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
            let endpoint = try otlpEndpoint.map { try OTLPEndpoint($0) }
            let transport = remote.isRemote ? try remote.transport() : nil
            let options = ExporterOptions(services: services, maxFunctions: maxFunctions, remote: transport,
                                          agentTimeout: remote.agentTimeout, traceSample: endpoint == nil ? 0 : sample, spanQueue: queue)
            let service = ExporterService(options: options, otlp: endpoint != nil)
            let server: ExporterServer
            do {
                server = try ExporterServer(service: service, host: host, port: port)
            } catch {
                printError("cannot listen on \(listen): \(error); pick another --listen address or stop what uses it")
                throw ExitCode(1)
            }
            printError("exporter listening on http://\(host.contains(":") ? "[\(host)]" : host):\(server.port)/metrics (\(services.isEmpty ? "every section" : services.joined(separator: ", ")) on \(options.remote?.place ?? "this host"))")
            var pusher: OTLPPusher?
            if let endpoint {
                let p = OTLPPusher(service: service, settings: .init(endpoint: endpoint, interval: interval, spanCapacity: queue))
                p.start()
                pusher = p
                printError("exporter pushing OTLP/JSON to \(endpoint.description) every \(interval) s (spans for \(sample) of the calls)")
            }
            try server.wait()
            pusher?.stop()
        }
    }
}
