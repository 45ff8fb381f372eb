// The seam between the verbs that watch a section over time (attach, watch, record) and where
// the section is: this machine (`SectionReader`, `TraceFollower`) or the host of an mbvipc-agent
// (`AgentConnection`, `RemoteTraceFollower`). Both give the same `Snapshot` and `TraceRecord`s.
import IPCScopeKit
import IPCScopePOSIX

/// Why a source gave no snapshot: the section's own error (the same a local read gives), or the
/// agent's stream (its ERROR frames, or the transport failing).
package enum SourceError: Error, Sendable, CustomStringConvertible {
    case section(IPCError)
    case agent(AgentProtocolError)

    package var description: String {
        switch self {
        case .section(let e): e.message
        case .agent(let e): e.description
        }
    }

    /// The section is not there (no object by that name), locally or on the agent's host.
    package var isNoSection: Bool {
        switch self {
        case .section(let e): e.code == .noSuchService
        case .agent(.agent(let code, _)): code == AgentErrorCode.noSection
        default: false
        }
    }

    /// The stream to the agent is gone (not an answer about the section): worth reconnecting.
    package var isTransport: Bool {
        switch self {
        case .section: false
        case .agent(.agent(let code, _)): code == AgentErrorCode.badFrame || code == AgentErrorCode.timeout
        case .agent: true
        }
    }
}

/// How the clocks of the section's host relate to this one's.
package struct HostClock: Sendable, Equatable {
    /// CLOCK_MONOTONIC of the section's host minus this host's (0 on this machine), estimated at
    /// the last snapshot: an age such as "heartbeat 40 ms ago" is `now + offset − heartbeat`.
    package var monotonicOffsetNS: Int64 = 0
    /// CLOCK_REALTIME − CLOCK_MONOTONIC on the section's host: a trace time plus it is wall clock.
    package var realtimeOffsetNS: UInt64 = WallClock.realtimeOffset

    package init(monotonicOffsetNS: Int64 = 0, realtimeOffsetNS: UInt64 = WallClock.realtimeOffset) {
        self.monotonicOffsetNS = monotonicOffsetNS
        self.realtimeOffsetNS = realtimeOffsetNS
    }

    /// This machine.
    package static let local = HostClock()

    /// A CLOCK_MONOTONIC time of the section's host as Unix nanoseconds.
    package func unixNS(monotonic: UInt64) -> UInt64 { monotonic &+ realtimeOffsetNS }

    /// A CLOCK_MONOTONIC time of the section's host as wall-clock `HH:MM:SS.mmm` (local time zone).
    package func format(monotonic: UInt64) -> String {
        WallClock.format(monotonic: monotonic &+ realtimeOffsetNS &- WallClock.realtimeOffset)
    }

    /// This host's `now` (CLOCK_MONOTONIC) on the section's host's clock.
    package func hostNow(_ localNow: UInt64) -> UInt64 { localNow &+ UInt64(bitPattern: monotonicOffsetNS) }
}

/// Where snapshots of one section come from. One caller at a time.
package protocol SnapshotSource: AnyObject {
    /// The service read.
    var service: String { get }
    /// Where the section is, short (`host:box`, `container 4242`, `via wine`); nil on this machine.
    var place: String? { get }
    /// The clocks of the section's host.
    var clock: HostClock { get }
    /// One snapshot, with its host's facts about the pids in it.
    func take() throws(SourceError) -> RemoteSnapshot
}

/// Where a section's trace records come from, poll by poll (`TraceFollower` semantics: a record
/// once, lapped records counted as missed, never guessed).
package protocol TraceSource: AnyObject {
    var layout: SectionLayout? { get }
    /// The ring position of the next record to read.
    var next: UInt64 { get }
    /// Positions at the ring's head (or its oldest record when `fromStart`).
    func startTrace(fromStart: Bool) throws(SourceError)
    /// What the server wrote since the last poll.
    func pollTrace() throws(SourceError) -> TraceFollower.Poll
}

/// This machine's section, through a `SectionReader`.
package final class LocalSnapshotSource: SnapshotSource {
    package let reader: SectionReader
    package var service: String { reader.service.rawValue }
    package var place: String? { nil }
    package var clock: HostClock { .local }

    package init(service: String) throws(IPCError) { reader = try SectionReader(service: service) }

    package func take() throws(SourceError) -> RemoteSnapshot {
        do { return RemoteSnapshot(snapshot: try reader.snapshot(), facts: .local) } catch { throw .section(error) }
    }
}

extension TraceFollower: TraceSource {
    package func startTrace(fromStart: Bool) throws(SourceError) {
        do { try start(fromStart: fromStart) } catch { throw .section(error) }
    }
    package func pollTrace() throws(SourceError) -> TraceFollower.Poll {
        do { return try poll() } catch { throw .section(error) }
    }
}

extension RemoteTraceFollower: TraceSource {
    package func startTrace(fromStart: Bool) throws(SourceError) {
        do { try start(fromStart: fromStart) } catch { throw .agent(error) }
    }
    package func pollTrace() throws(SourceError) -> TraceFollower.Poll {
        do { return try poll() } catch { throw .agent(error) }
    }
}
