// `attach` through an agent: snapshots over a connection that is re-made, with backoff, when the
// transport goes away (ssh dropped, a container restarted), so the screen recovers by itself.
import Dispatch
import IPCScopeKit
import IPCScopePOSIX
import Synchronization

extension AgentTransport {
    /// The place in a few characters, for a screen's header: `127.0.0.1`, `container 4242`,
    /// `via wine` (the command's first word, without its directory; a leading `env` and its
    /// `NAME=value` words are skipped).
    package var short: String {
        guard executable == "/bin/sh", arguments.count == 2 else { return place }
        var words = arguments[1].split(separator: " ").map(String.init)
        if words.first == "env" {
            words.removeFirst()
            while let w = words.first, w.contains("="), !w.hasPrefix("-") { words.removeFirst() }
        }
        let first = words.first ?? arguments[1]
        return "via " + (first.split(separator: "/").last.map(String.init) ?? first)
    }
}

/// Snapshots of one section through an agent, reconnecting after a lost transport: at most one
/// attempt per backoff step (0.25 s, doubling to 5 s), each bounded by the connection's timeout.
/// Attempts run on a queue of their own, so a screen taking snapshots never waits for one (a
/// host that does not answer would hold it for ssh's ConnectTimeout).
package final class AgentSnapshotSource: SnapshotSource {
    package let service: String
    package let transport: AgentTransport
    package let timeout: Double
    package private(set) var connection: AgentConnection?
    /// Why the connection was lost, while it is being retried (nil when connected).
    package private(set) var lost: String?
    private var lastError: AgentProtocolError?
    private var retryAt: UInt64 = 0
    private var backoffNS: UInt64 = 250_000_000
    /// Bytes on the wire of connections closed before this one.
    private var closedBytes: UInt64 = 0
    private var lastClock = HostClock.local
    /// A reconnection in progress (its outcome when done).
    private let attempt = AttemptSlot()
    private let queue = DispatchQueue(label: "ipcscope.agent.reconnect")

    private final class AttemptSlot: Sendable {
        let state = Mutex<Attempt?>(nil)
        func withLock<R>(_ body: (inout Attempt?) -> R) -> R { state.withLock { body(&$0) } }
    }

    private enum Attempt: Sendable {
        case running
        case done(ConnectionBox)
        case failed(AgentProtocolError)
    }

    /// Carries a connection made on the queue back to the caller's thread (used by one at a time).
    private final class ConnectionBox: @unchecked Sendable {
        let connection: AgentConnection
        init(_ c: AgentConnection) { connection = c }
    }

    package var place: String? { transport.short }
    package var clock: HostClock { connection?.clock ?? lastClock }
    /// Whether the agent accepts CALL (started with `--allow-calls`); nil while not connected.
    package var callsAllowed: Bool? { connection?.hello.callsAllowed }
    /// Every byte written and read on every connection so far.
    package var wireBytes: UInt64 { closedBytes &+ (connection.map { $0.bytesSent &+ $0.bytesReceived } ?? 0) }
    /// The last snapshot's round trip in nanoseconds (0 before the first).
    package private(set) var roundTripNS: UInt64 = 0

    /// Uses `connection` when given (already said hello), else connects on the first `take`.
    package init(service: String, transport: AgentTransport, timeout: Double, connection: AgentConnection? = nil) {
        self.service = service
        self.transport = transport
        self.timeout = timeout
        self.connection = connection
    }

    deinit {
        close()
        // A connection made by a reconnection nobody took. One still running is not waited for: its
        // transport's pipes close when this process ends.
        if case .done(let box)? = attempt.withLock({ $0 }) { box.connection.close() }
    }

    package func close() {
        if let c = connection {
            closedBytes &+= c.bytesSent &+ c.bytesReceived
            lastClock = c.clock
            c.close()
        }
        connection = nil
    }

    /// The connection, made again when it was lost and the backoff allows it.
    package func connected() throws(SourceError) -> AgentConnection {
        if let connection { return connection }
        let state = attempt.withLock { a -> Attempt? in
            defer { if case .running? = a {} else { a = nil } }
            return a
        }
        switch state {
        case .done(let box)?:
            connection = box.connection
            lost = nil
            backoffNS = 250_000_000
            return box.connection
        case .failed(let error)?:
            dropped(error)
            throw .agent(error)
        case .running?:
            throw .agent(lastError ?? .cannotStart("connecting to the agent \(transport.place)"))
        case nil:
            break
        }
        if monotonicNanoseconds() < retryAt, let lastError { throw .agent(lastError) }
        attempt.withLock { $0 = .running }
        let (transport, timeout) = (self.transport, self.timeout)
        queue.async { [attempt] in
            let outcome: Attempt
            do throws(AgentProtocolError) {
                outcome = .done(ConnectionBox(try AgentConnection(transport, timeout: timeout)))
            } catch {
                outcome = .failed(error)
            }
            attempt.withLock { $0 = outcome }
        }
        throw .agent(lastError ?? .cannotStart("connecting to the agent \(transport.place)"))
    }

    package func take() throws(SourceError) -> RemoteSnapshot {
        let c = try connected()
        do {
            let s = try c.snapshot(service: service)
            roundTripNS = c.lastRoundTripNS
            return s
        } catch {
            if SourceError.agent(error).isTransport {
                close()
                dropped(error)
            }
            throw .agent(error)
        }
    }

    private func dropped(_ error: AgentProtocolError) {
        lastError = error
        lost = error.description
        retryAt = monotonicNanoseconds() &+ backoffNS
        backoffNS = min(backoffNS * 2, 5_000_000_000)
    }
}
