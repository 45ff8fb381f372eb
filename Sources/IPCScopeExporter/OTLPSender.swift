import Dispatch
import IPCScopeKit
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Where OTLP/HTTP goes: `http://HOST:PORT[/PATH]`. Like `OTEL_EXPORTER_OTLP_ENDPOINT`, the
/// signals are sent to PATH + `/v1/metrics` and PATH + `/v1/traces`.
package struct OTLPEndpoint: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var basePath: String

    /// Parses an endpoint; the error says what is wrong with it.
    package init(_ text: String) throws(OTLPEndpointError) {
        if text.hasPrefix("https://") {
            throw OTLPEndpointError(message: "'\(text)': https is not supported (the exporter has no TLS): send to a collector on "
                                    + "http://127.0.0.1:4318 and let it forward over TLS")
        }
        guard text.hasPrefix("http://") else {
            throw OTLPEndpointError(message: "'\(text)' is not an http:// URL (for example http://127.0.0.1:4318, an OTLP/HTTP collector)")
        }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        var host = Substring(authority), port = 4318
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw OTLPEndpointError(message: "'\(text)': no ] after the IPv6 address") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { throw OTLPEndpointError(message: "'\(text)': bad port") }
                port = p
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else { throw OTLPEndpointError(message: "'\(text)': bad port") }
            port = p
        }
        guard !host.isEmpty else { throw OTLPEndpointError(message: "'\(text)' has no host") }
        guard (1...65535).contains(port) else { throw OTLPEndpointError(message: "'\(text)': port \(port) is not 1 to 65535") }
        guard !path.contains("?"), !path.contains("#") else { throw OTLPEndpointError(message: "'\(text)': no query or fragment, a base path only") }
        self.host = String(host)
        self.port = port
        basePath = path
    }

    package func path(_ signal: String) -> String { basePath + "/v1/" + signal }
    package var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(basePath)" }
}

package struct OTLPEndpointError: Error, Sendable, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

/// One POST over NIO's HTTP/1 client pipeline, waited for on the caller's thread (never on the
/// event loop): connect within 2 s, the answer's head within `timeout`.
final class OTLPHTTPClient: Sendable {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let endpoint: OTLPEndpoint
    let timeout: TimeAmount

    init(endpoint: OTLPEndpoint, timeout: TimeAmount = .seconds(5)) {
        self.endpoint = endpoint
        self.timeout = timeout
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// Posts `body` as `application/json` to `path`; the answer's status code.
    func post(path: String, body: [UInt8]) throws -> UInt {
        let loop = group.next()
        let answer = loop.makePromise(of: HTTPResponseHead.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseHeadHandler(answer))
                }
            }
        let channel: any Channel
        do {
            channel = try bootstrap.connect(host: endpoint.host, port: endpoint.port).wait()
        } catch {
            answer.fail(error)
            throw Failure(description: "cannot connect to \(endpoint): \(error)")
        }
        defer { channel.close(promise: nil) }
        let deadline = loop.scheduleTask(in: timeout) { answer.fail(Failure(description: "no answer from \(self.endpoint) within \(self.timeout.nanoseconds / 1_000_000_000) s")) }
        defer { deadline.cancel() }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: endpoint.host.contains(":") ? "[\(endpoint.host)]:\(endpoint.port)" : "\(endpoint.host):\(endpoint.port)")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "User-Agent", value: "ipcscope-exporter")
        channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(channel.allocator.buffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try answer.futureResult.wait().status.code
    }

    func shutdown() { try? group.syncShutdownGracefully() }
}

/// Completes the promise with the answer's head, or fails it when the connection ends first.
private final class ResponseHeadHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let answer: EventLoopPromise<HTTPResponseHead>
    init(_ answer: EventLoopPromise<HTTPResponseHead>) { self.answer = answer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let h) = unwrapInboundIn(data) { answer.succeed(h) }
    }
    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(OTLPHTTPClient.Failure(description: "the collector closed the connection before answering"))
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        answer.fail(error)
        context.close(promise: nil)
    }
}

/// The OTLP push: every `interval` a collection of the sections becomes a metrics body and the
/// sampled calls a traces body, queued for the sender; the sender posts them, retrying with
/// exponential backoff (0.5 s doubling to 30 s, with jitter) while the collector is down or asks
/// to wait (429, 502, 503, 504), dropping what it rejects (other answers than 2xx).
///
/// The queue is bounded: one metrics body (a newer one replaces an unsent one: metrics are
/// cumulative, so nothing is lost but a point in time) and at most `spanCapacity` spans; what
/// does not fit is dropped and counted in `ipcscope_exporter_otlp_dropped_total`. Collecting
/// and sending run on their own threads: a down collector never delays a scrape.
package final class OTLPPusher: Sendable {
    package struct Settings: Sendable {
        package var endpoint: OTLPEndpoint
        package var interval: Double
        package var spanCapacity: Int
        package var timeout: Double = 5
        package var maxBackoff: Double = 30
        package init(endpoint: OTLPEndpoint, interval: Double, spanCapacity: Int) {
            self.endpoint = endpoint
            self.interval = interval
            self.spanCapacity = spanCapacity
        }
    }

    /// What waits. The sender sends the head of each and removes it only when it is through
    /// (sent or refused), so what is being retried counts against the bound too.
    private struct Queue {
        var metrics: [UInt8]?
        /// +1 for every metrics body queued: tells the one being sent from a newer one.
        var metricsGeneration = 0
        var traces: [(body: [UInt8], spans: Int)] = []
        var spans = 0
        var stopped = false
    }

    private let service: ExporterService
    private let settings: Settings
    private let client: OTLPHTTPClient
    private let queue = Mutex(Queue())
    private let work = DispatchSemaphore(value: 0)
    private let tick = DispatchSemaphore(value: 0)
    private let finished = DispatchGroup()

    package init(service: ExporterService, settings: Settings) {
        self.service = service
        self.settings = settings
        client = OTLPHTTPClient(endpoint: settings.endpoint, timeout: .nanoseconds(Int64(settings.timeout * 1e9)))
    }

    /// Starts the collecting and the sending threads.
    package func start() {
        finished.enter()
        DispatchQueue(label: "ipcscope.otlp.collect").async { [self] in
            defer { finished.leave() }
            while !isStopped {
                pushOnce()
                _ = tick.wait(timeout: .now() + .nanoseconds(Int(settings.interval * 1e9)))
            }
        }
        finished.enter()
        DispatchQueue(label: "ipcscope.otlp.send").async { [self] in
            defer { finished.leave() }
            sendLoop()
        }
    }

    /// Stops both threads (after one last push attempt of what is queued, within the timeout).
    package func stop() {
        queue.withLock { $0.stopped = true }
        tick.signal()
        work.signal()
        finished.wait()
        client.shutdown()
    }

    private var isStopped: Bool { queue.withLock { $0.stopped } }

    /// One collection into the queue.
    package func pushOnce() {
        let batch = service.otlpBatch()
        var droppedMetrics = 0, droppedSpans = 0
        let queued = queue.withLock { q -> (Int, Int) in
            if q.metrics != nil { droppedMetrics = 1 }
            q.metrics = batch.metrics
            q.metricsGeneration += 1
            if let t = batch.traces {
                if q.spans + batch.spanCount > settings.spanCapacity {
                    droppedSpans = batch.spanCount
                } else {
                    q.traces.append((t, batch.spanCount))
                    q.spans += batch.spanCount
                }
            }
            return (1, q.spans)  // a metrics body always waits after a collection
        }
        service.otlpHealth(signal: "metrics", dropped: UInt64(droppedMetrics))
        service.otlpHealth(signal: "traces", dropped: UInt64(droppedSpans), queued: queued)
        work.signal()
    }

    private enum Sent { case ok, retry, rejected }

    private func send(_ signal: String, _ body: [UInt8]) -> Sent {
        let result: Sent
        do {
            let code = try client.post(path: settings.endpoint.path(signal), body: body)
            result = (200..<300).contains(code) ? .ok : [429, 502, 503, 504].contains(code) ? .retry : .rejected
        } catch {
            result = .retry
        }
        service.otlpHealth(signal: signal, result: result == .ok ? "ok" : result == .retry ? "failed" : "rejected")
        return result
    }

    private func sendLoop() {
        var backoff = 0.5
        while true {
            let next = queue.withLock { q -> (String, [UInt8], Int)? in
                if let m = q.metrics { return ("metrics", m, q.metricsGeneration) }
                if let t = q.traces.first { return ("traces", t.body, t.spans) }
                return nil
            }
            guard let (signal, body, tag) = next else {
                if isStopped { return }
                work.wait()
                continue
            }
            let sent = send(signal, body)
            var dropped = 0
            let queued = queue.withLock { q -> (Int, Int) in
                // Through (sent or refused): off the queue, unless a newer metrics body replaced
                // it meanwhile (that one is sent next). A retry leaves it at the head.
                if sent != .retry {
                    if signal == "metrics" {
                        if q.metricsGeneration == tag { q.metrics = nil }
                    } else {
                        q.traces.removeFirst()
                        q.spans -= tag
                    }
                    if sent == .rejected { dropped = signal == "metrics" ? 1 : tag }
                }
                return (q.metrics == nil ? 0 : 1, q.spans)
            }
            service.otlpHealth(signal: signal, dropped: UInt64(dropped), queued: queued)
            if sent == .retry {
                if isStopped { return }
                let pause = backoff * Double.random(in: 0.75...1.25)
                _ = tick.wait(timeout: .now() + .nanoseconds(Int(pause * 1e9)))
                backoff = min(backoff * 2, settings.maxBackoff)
            } else {
                backoff = 0.5
            }
        }
    }
}
