#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeSchema
import IPCScopePOSIX
import IPCScopeObserve
import IPCScopeRecording

/// Everything `ipcscope attach` shows and remembers, without curses.
///
/// The front feeds it snapshots (`ingest`), keys (`handle(key:)`) and the outcome of calls;
/// `render(into:now:)` draws it. Time is always an input (`now`, CLOCK_MONOTONIC ns), so the
/// same model state and `now` always draw the same grid.
package struct InspectorModel: Sendable {
    // MARK: - configuration

    package let service: String
    package var glyphs: Glyphs
    /// The refresh interval, for display.
    package var intervalNS: UInt64
    /// Process names for pids (`/proc/PID/comm`), injectable for tests.
    package var processName: @Sendable (Int32) -> String? = ProcessFacts.name(of:)
    /// A process's command line (`/proc/PID/cmdline`), injectable for tests.
    package var processCommand: @Sendable (Int32) -> String? = ProcessFacts.commandLine(of:)
    /// A live process's start time (field 22 of `/proc/PID/stat`, 0 when gone), injectable for tests.
    package var processStartTime: @Sendable (Int32) -> UInt64 = { ProcessFacts.startTime(of: $0) }
    /// Formats a trace record's CLOCK_MONOTONIC time for the history table.
    package var clockText: @Sendable (UInt64) -> String = WallClock.format(monotonic:)
    /// Where the section is when not on this machine (`127.0.0.1`, `container 4242`, `via wine`):
    /// the header says `PLACE:NAME`.
    package var place: String?
    /// The facts of the section's host (through an agent): pids are judged there, not here.
    package private(set) var hostFacts: HostFacts?
    /// The transport's figures for the header (`1.2 KB/s, rtt 0.4 ms`), through an agent.
    package var wireStats: String?
    /// Why the connection to the agent was lost, while it is being retried.
    package private(set) var lostConnection: String?

    // MARK: - what was seen

    package internal(set) var attach: AttachState = .waiting("starting")
    /// The snapshot on screen (frozen while paused).
    package internal(set) var snapshot: Snapshot?
    /// The newest snapshot (differs from `snapshot` while paused).
    package internal(set) var latest: Snapshot?
    package internal(set) var history = History()
    package internal(set) var rate = RateSampler()
    package internal(set) var requestDiff = ByteDiff()
    package internal(set) var responseDiff = ByteDiff()
    /// Server restarts (new object or new epoch) seen while attached.
    package internal(set) var restarts = 0
    /// One line about the last notable event (restart, server gone), shown in the footer.
    package internal(set) var notice: String?
    package internal(set) var frames = 0
    private var identityKey: (UInt64, UInt32, Int32)?
    private var serverCommandCache: (Int32, UInt64, String?)?
    private var ownerNameCache: (Int32, UInt64, String)?

    // MARK: - UI state

    package var focus: Pane = .request
    /// First line shown, per pane (history: lines up from the newest).
    package var scroll: [Pane: Int] = [:]
    /// Text view instead of hex for both dumps.
    package var textView = false
    /// The service's schema: names functions in the history, decodes the slots (the `f` view).
    package var schema: Schema?
    /// The request and response panes list the schema's fields beside a hex of the payload.
    package var fieldsView = false
    /// The fields view's cursor per dump pane: a byte offset into the payload shown.
    package var fieldByte: [Pane: Int] = [:]
    package var paused = false
    package var showHelp = false
    package var filter: HistoryFilter?
    /// Non-nil while a filter (`/`) or breakpoint (`b`) line is being typed.
    package var prompt: Prompt?
    package var client = ClientPaneState()
    package var server: ServerModeState?
    /// The history row selected with the arrows (by seq).
    package var selectedSeq: UInt64?
    /// Set when the screen shows a recording (`attach --file`): the header names the file and
    /// the call instead of a live server's state.
    package var recording: RecordingHeader?
    /// The call shown in the dump panes instead of the live slots (Enter on a history row).
    package var inspectedSeq: UInt64?
    /// The latency pane (`%`): percentiles, histogram and heatmap of the calls seen.
    package var latency = LatencyPaneState()

    /// A one-line editor in the footer.
    package struct Prompt: Sendable, Equatable {
        package enum Kind: Sendable, Equatable { case filter, breakpoints }
        package var kind: Kind
        package var text: String
    }

    /// Rows of the last drawn dumps and history (for page up/down).
    package internal(set) var pageRows: [Pane: Int] = [:]

    package init(service: String, ascii: Bool = false, intervalNS: UInt64 = 50_000_000, historyLimit: Int = History.defaultLimit) {
        self.service = service
        history = History(limit: historyLimit)
        self.glyphs = ascii ? .ascii : .unicode
        self.intervalNS = intervalNS
    }

    // MARK: - input from the section

    /// Takes a new snapshot. Detects a restarted server (new object or epoch) and resets
    /// what belonged to the old one.
    package mutating func ingest(_ snap: Snapshot, now: UInt64) {
        frames += 1
        if lostConnection != nil {
            lostConnection = nil
            notice = "connection back: re-attached to '\(service)' on \(place ?? "the agent's host")"
        }
        let key = (snap.identity?.createdUnixNS ?? 0, snap.serverEpoch, snap.serverPID)
        if let old = identityKey, snap.layout != nil, old.0 != key.0 || old.1 != key.1 {
            restarts += 1
            let what = old.0 != key.0 ? "new section object" : "epoch \(old.1) \(glyphs.arrowRight) \(key.1)"
            notice = "server restarted (\(what), pid \(key.2)): re-attached"
            history.reset()
            selectedSeq = nil
            inspectedSeq = nil
            server?.rules = [:]
            rate.reset()
            latency.restarted()
            requestDiff.reset()
            responseDiff.reset()
            client.writability = .unknown
        } else if case .waiting = attach, snapshot != nil {
            notice = "re-attached to '\(service)'"
        }
        if snap.layout != nil { identityKey = key }
        if case .attached = attach {} else if snapshot == nil { notice = nil }
        attach = .attached
        latest = snap
        let fresh = history.ingest(snap)
        latency.ingest(fresh, mutex: (snap.lockCount, snap.contendedCount)) { [history] in history.record(seq: $0)?.doneNS }
        rate.feed(count: snap.callsServed, now: now)
        guard !paused else { return }
        snapshot = snap
        requestDiff.update(snap.requestArea)
        responseDiff.update(snap.responseArea)
    }

    /// A frame whose snapshot is byte-for-byte the last one: only time moves (rates, fading).
    package mutating func tick(now: UInt64) {
        frames += 1
        if let l = latest { rate.feed(count: l.callsServed, now: now) }
        if animating, !paused, let s = snapshot {
            requestDiff.update(s.requestArea)
            responseDiff.update(s.responseArea)
        }
    }

    /// Records that no snapshot could be taken (no object yet, object removed, unreadable).
    package mutating func ingest(error: IPCError, now: UInt64) {
        frames += 1
        switch error.code {
        case .noSuchService:
            if snapshot != nil, case .attached = attach {
                notice = "section removed (server stopped): waiting for a new server"
            }
            attach = .waiting(error.message)
        default:
            attach = .failed(error.message)
        }
    }

    /// A snapshot taken through an agent: the same as `ingest(_:now:)`, with pids judged by the
    /// facts of the section's host (`now` on that host's CLOCK_MONOTONIC).
    package mutating func ingest(_ snap: Snapshot, facts: HostFacts, now: UInt64) {
        hostFacts = facts
        processName = facts.command
        processCommand = facts.commandLine
        processStartTime = facts.startTime
        ingest(snap, now: now)
    }

    /// The agent's transport went away (`why`); the front retries with backoff and the screen
    /// keeps the last snapshot until a new one arrives.
    package mutating func connectionLost(_ why: String, now: UInt64) {
        frames += 1
        if lostConnection == nil { notice = "connection lost, retrying: " + why }
        lostConnection = why
        if snapshot == nil { attach = .waiting("connection lost, retrying: " + why) }
    }

    /// Whether the screen needs redrawing every frame (changes are still fading).
    package var animating: Bool { requestDiff.fading || responseDiff.fading }

    // MARK: - client pane results

    /// The call started by `.send` finished.
    package mutating func clientFinished(_ outcome: ClientOutcome) {
        client.inFlight = false
        var outcome = outcome
        if let seq = client.cancelledSeq {
            outcome.error = "cancelled: the in-process server let call \(seq) go and its answer (status \(outcome.status.map(String.init) ?? "none"), \(outcome.response.count) bytes) was dropped; the section is free"
        }
        if client.cancelRequested { client.info = nil }
        client.cancelledSeq = nil
        client.cancelRequested = false
        client.last = outcome
        // The pane's own calls are known whole, whatever the refresh interval.
        if outcome.error == nil, let st = outcome.status {
            history.addBodies(seq: outcome.seq, History.CallBodies(request: outcome.call.payload, response: outcome.response, status: st))
        }
    }

    /// The front let the held call `seq` (the pane's own) go: its answer is dropped when it comes.
    package mutating func clientCancelled(seq: UInt64) {
        client.cancelledSeq = seq
        client.cancelRequested = true
        client.info = "cancelling call \(seq)..."
    }

    /// The front told the pane's client to stop waiting: the call ends (as `cancelled`) within
    /// about 100 ms; a request already sent is still answered by its server.
    package mutating func clientCancelling() {
        client.cancelRequested = true
        client.info = "giving up the call..."
    }

    /// The pane's call could not be given up (`why`: letting it go would run a fault).
    package mutating func clientCancelRefused(_ why: String) {
        client.cancelRequested = true
        client.problem = why
    }

    /// The file written by `.export` (or why it could not be).
    package mutating func exported(_ result: String) { notice = result }

    /// Whether the section can be opened read-write by this user (the front checks once per object).
    package mutating func setWritability(_ w: Writability) { client.writability = w }

    // MARK: - process names

    /// The server's command line, cached per pid and start time; nil when the pid no longer
    /// names the process that started the server (gone, or reused by another program).
    mutating func serverCommand(_ pid: Int32, startTime: UInt64) -> String? {
        if let c = serverCommandCache, c.0 == pid, c.1 == startTime { return c.2 }
        var s: String?
        if PidIdentity.server(pid: pid, recordedStart: startTime, startTime: processStartTime) == .same {
            s = processCommand(pid).map(escapeForTerminal) ?? "?"
        }
        serverCommandCache = (pid, startTime, s)
        return s
    }

    /// The mutex owner's process name, or why it is not shown (`(pid gone)`, `(pid reused)`);
    /// cached per pid and lock time.
    mutating func ownerNote(_ pid: Int32, sinceNS: UInt64, _ snap: Snapshot) -> String {
        if let c = ownerNameCache, c.0 == pid, c.1 == sinceNS { return c.2 }
        let who = pid == snap.serverPID && snap.serverStartTime != 0
            ? PidIdentity.server(pid: pid, recordedStart: snap.serverStartTime, startTime: processStartTime)
            : PidIdentity.owner(pid: pid, sinceNS: sinceNS, startTime: processStartTime,
                                clockTicksPerSecond: hostFacts?.clockTicksPerSecond, bootMinusMonotonicNS: hostFacts?.bootMinusMonotonicNS())
        // Any process may name itself with escape sequences.
        let s = who == .same ? processName(pid).map(escapeForTerminal) ?? "?" : "(" + (who.note ?? "") + ")"
        ownerNameCache = (pid, sinceNS, s)
        return s
    }
}


