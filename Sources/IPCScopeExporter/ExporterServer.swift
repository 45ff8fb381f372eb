#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The model behind a lock, shared by every connection and the OTLP push: one collection at a
/// time reads the sections.
package final class ExporterService: Sendable {
    private let model: Mutex<ExporterModel>
    package let options: ExporterOptions
    /// The exporter host's name, as OTLP's `host.name` resource attribute.
    private let hostName: String

    package init(options: ExporterOptions, otlp: Bool = false) {
        self.options = options
        model = Mutex(ExporterModel(options: options, otlp: otlp))
        var buf = [CChar](repeating: 0, count: 256)
        hostName = gethostname(&buf, buf.count - 1) == 0 ? String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "localhost"
    }

    /// Reads every section and returns the Prometheus text exposition.
    package func metrics() -> [UInt8] { model.withLock { $0.scrape() } }

    /// The OTLP push's health: one push's result, what was dropped, what waits.
    package func otlpHealth(signal: String, result: String? = nil, dropped: UInt64 = 0, queued: (metrics: Int, traces: Int)? = nil) {
        model.withLock { m in
            if let result { m.countExport(signal: signal, result: result) }
            m.countDropped(signal: signal, dropped)
            if let queued {
                m.setQueued(signal: "metrics", queued.metrics)
                m.setQueued(signal: "traces", queued.traces)
            }
        }
    }

    /// One OTLP batch: a collection, every series' figures as an OTLP/JSON metrics body, and the
    /// calls sampled since the last batch as a traces body (nil when none were). Encoded outside
    /// the lock.
    package func otlpBatch() -> (metrics: [UInt8], traces: [UInt8]?, spanCount: Int) {
        let (points, calls, dropped) = model.withLock { m -> ([SeriesPoint], [SampledCall], UInt64) in
            m.collect()
            let (calls, dropped) = m.sampler?.drain() ?? ([], 0)
            return (m.series.points, calls, dropped)
        }
        if dropped > 0 { model.withLock { $0.countDropped(signal: "traces", dropped) } }
        let metrics = OTLPJSON.metrics(points, resource: [("service.name", "ipcscope-exporter"), ("host.name", hostName)],
                                       nowUnixNS: realtimeNanoseconds())
        var generator = SystemRandomNumberGenerator()
        let traces = calls.isEmpty ? nil : Array(OTLPJSON.traces(calls, using: &generator).rendered.utf8)
        return (Array(metrics.rendered.utf8), traces, calls.count)
    }

    /// The `/` page: what this exporter exports.
    package func indexPage() -> String {
        var rows = ""
        for m in MetricCatalog.all {
            let labels = m.labels.isEmpty ? "" : "{" + m.labels.joined(separator: ",") + "}"
            rows += "<tr><td><code>\(m.name)\(labels)</code></td><td>\(m.kind.rawValue)</td><td>\(html(m.help))</td></tr>\n"
        }
        let scope = options.services.isEmpty ? "every ipcscope section on this host" : "the services " + options.services.map(html).joined(separator: ", ")
        return """
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>ipcscope exporter</title></head>
            <body><h1>ipcscope exporter</h1>
            <p>Read-only Prometheus metrics of \(scope) (pread only: never the mutex, never a futex).
            Scrape <a href="/metrics">/metrics</a>. See docs/observability.md.</p>
            <table border="1" cellpadding="3"><tr><th>metric</th><th>type</th><th>meaning</th></tr>
            \(rows)</table></body></html>

            """
    }

    private func html(_ s: String) -> String {
        s.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;")
    }
}

extension String {
    fileprivate func replacingAll(_ a: String, _ b: String) -> String { split(separator: a, omittingEmptySubsequences: false).joined(separator: b) }
}

/// The HTTP front: SwiftNIO's own HTTP/1 parser (`configureHTTPServerPipeline`) and one small
/// handler answering `GET /metrics` and `GET /`.
package final class ExporterServer {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The address actually bound (port 0 picks a free one).
    package let port: Int

    /// Binds `host:port` and starts serving. Throws when the address cannot be bound.
    package init(service: ExporterService, host: String, port: Int) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(ExporterHTTPHandler(service: service))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = channel.localAddress?.port ?? port
    }

    /// Blocks until the server is closed.
    package func wait() throws { try channel.closeFuture.wait() }

    /// Closes the listening socket and stops the event loop.
    package func shutdown() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Answers one request at a time on a connection (keep-alive as the client asks).
final class ExporterHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: ExporterService
    private var head: HTTPRequestHead?

    init(service: ExporterService) { self.service = service }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let h = head else { return }
            head = nil
            respond(context: context, to: h)
        }
    }

    private func respond(context: ChannelHandlerContext, to request: HTTPRequestHead) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        var status = HTTPResponseStatus.ok
        var type = "text/plain; charset=utf-8"
        var body: [UInt8]
        switch (request.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            body = service.metrics()
            type = "text/plain; version=0.0.4; charset=utf-8"
        case (.GET, "/"), (.HEAD, "/"):
            body = Array(service.indexPage().utf8)
            type = "text/html; charset=utf-8"
        case (.GET, _), (.HEAD, _):
            status = .notFound
            body = Array("not found: \(path) (this exporter serves /metrics and /)\n".utf8)
        default:
            status = .methodNotAllowed
            body = Array("method \(request.method) not allowed: use GET\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: String(body.count))
        if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
        let keepAlive = request.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
