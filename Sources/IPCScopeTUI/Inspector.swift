#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
import Synchronization

/// The curses front of `ipcscope attach`.
package enum IPCScopeTUI {}

/// What `ipcscope attach` was asked to do.
package struct AttachOptions: Sendable {
    package var service: String
    /// Refresh interval in nanoseconds (1 ms ... 10 s).
    package var intervalNS: UInt64 = 50_000_000
    /// ASCII box drawing even in a UTF-8 locale.
    package var ascii = false
    /// Serve the section in-process too (server mode).
    package var serve: ServeMode?
    /// How the in-process server creates its section (capacities, mode, replace, keep).
    package var serverOptions = ServerOptions()
    /// Names functions and decodes the slots (the `f` view).
    package var schema: Schema?
    /// How many calls the history keeps (with their whole payloads when seen whole).
    package var historyLimit = History.defaultLimit
    /// How long the client pane's calls wait for an answer; 0 waits until answered.
    package var callTimeoutNS = ClientPaneState.defaultTimeoutNS
    /// What the client pane's calls trust besides the user's own sections (`--trust-uid`,
    /// `--trust-world-writable`).
    package var clientOptions = ClientOptions()
    /// Read the section through an mbvipc-agent reached by this transport (`--host`, `--via`,
    /// `--container`) instead of this machine's /dev/shm.
    package var remote: AgentTransport?
    /// Seconds of silence from the agent before a request fails.
    package var agentTimeout: Double = 10
    /// Show the transport's bytes/s and the snapshot round trip in the header (always on through an agent).
    package var stats = false

    package init(service: String) { self.service = service }
}

/// Set by SIGTERM / SIGHUP: leave the loop and restore the terminal.
private let stopRequested = Atomic<Bool>(false)

extension IPCScopeTUI {
    /// Runs the inspector until `q`. Never writes the section (pread through a read-only
    /// descriptor), never takes its mutex, never waits on its futex words.
    ///
    /// - Throws: `IPCError` for a bad name or when server mode cannot start; `TerminalError`
    ///   when curses cannot start. Errors are thrown before the screen is taken.
    package static func attach(_ options: AttachOptions) throws {
        let source: any SnapshotSource
        if let t = options.remote {
            // Connect before the screen is taken: a host that cannot be reached is one clear line.
            _ = try ServiceName(options.service)
            let connection: AgentConnection
            do { connection = try AgentConnection(t, timeout: options.agentTimeout) } catch {
                throw AttachError(message: "cannot reach the agent \(t.place): \(t.explain(error))")
            }
            source = AgentSnapshotSource(service: options.service, transport: t, timeout: options.agentTimeout, connection: connection)
        } else {
            source = try LocalSnapshotSource(service: options.service)
        }
        var inProcess: InProcessServer?
        if let mode = options.serve {
            let s = try InProcessServer(service: options.service, mode: mode, options: options.serverOptions)
            s.start()
            inProcess = s
        }
        defer { inProcess?.stop() }

        setlocale(LC_ALL, "")
        let utf8 = String(cString: nl_langinfo(nl_item(CODESET))).uppercased().replacing("-", with: "") == "UTF8"
        let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
        signal(SIGTERM) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGHUP) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in stopRequested.store(true, ordering: .relaxed) }
        signal(SIGQUIT) { _ in stopRequested.store(true, ordering: .relaxed) }

        let term = try Terminal(noColor: noColor)
        defer { term.stop() }
        var model = InspectorModel(service: options.service, ascii: options.ascii || !utf8, intervalNS: options.intervalNS,
                                   historyLimit: options.historyLimit)
        model.client.timeoutNS = options.callTimeoutNS
        model.client.saved = SavedCallsFile.load()
        model.schema = options.schema
        model.fieldsView = options.schema != nil
        if let s = inProcess { model.server = ServerModeState(description: s.description) }
        model.place = source.place
        if source.place != nil { model.clockText = { [clock = source.clock] in clock.format(monotonic: $0) } }
        let worker = ClientWorker(service: options.service, options: options.clientOptions,
                                  remote: options.remote.map { ($0, options.agentTimeout) })
        Loop(reader: source, stats: options.stats || options.remote != nil, term: term, worker: worker, server: inProcess, interval: options.intervalNS).run(&model)
    }
}

/// One frame at a time: snapshot, draw (when something changed), wait for a key.
private struct Loop {
    let reader: any SnapshotSource
    let stats: Bool
    let term: Terminal
    let worker: ClientWorker
    let server: InProcessServer?
    let interval: UInt64
    /// Without changes, the screen is still redrawn this often (ages, heartbeat).
    let idleRedrawNS: UInt64 = 250_000_000

    /// Carries out the model's actions; false means quit.
    func perform(_ actions: [InspectorAction], _ model: inout InspectorModel) -> Bool {
        for action in actions {
            switch action {
            case .quit: return false
            case .send(let call): worker.send(call)
            case .saveCalls(let calls): SavedCallsFile.save(calls)
            case .setStepMode(let on): server?.setStepMode(on)
            case .setBreakpoints(let text): server?.gate.setBreakpoints(text)
            case .releaseHeld: server?.gate.release()
            case .cancelCall:
                // The pane's own call held by the in-process server is let go: the client finishes
                // its call (mutex released, slot back to IDLE), the pane drops the answer. Any
                // other wait (another server, the mutex, a call held elsewhere) is given up by the
                // client itself; the server still answers a request it was handed.
                if let h = server?.gate.held, h.clientPID == getpid(), let fault = h.fault {
                    // Letting it go would run the fault: end this inspector, or never answer.
                    model.clientCancelRefused("call \(h.seq) cannot be given up: letting it go runs its rule's fault '\(fault)'; q quits without running it")
                } else if let h = server?.gate.held, h.clientPID == getpid() {
                    server?.gate.release()
                    model.clientCancelled(seq: h.seq)
                } else if worker.cancel() {
                    model.clientCancelling()
                }
            case .export(let name, let text): model.exported(ExportFile.write(name: name, text: text))
            case .record(let name, let interface, let calls, let missed):
                model.exported(ExportFile.record(name: name, interface: interface, calls: calls, missed: missed, clock: reader.clock))
            }
        }
        return true
    }

    func run(_ model: inout InspectorModel) {
        var wire = WireMeter()
        var nextSnapshot: UInt64 = 0
        var lastDraw: UInt64 = 0
        var dirty = true
        var lastBytes: [UInt8] = []
        var lastAlive = false
        var lastAttach = AttachState.waiting("")
        while !stopRequested.load(ordering: .relaxed) {
            var now = monotonicNanoseconds()
            if now >= nextSnapshot {
                nextSnapshot = max(nextSnapshot + interval, now + interval / 2)
                do throws(SourceError) {
                    let started = monotonicNanoseconds()
                    let taken = try reader.take()
                    wire.lastTakeNS = monotonicNanoseconds() &- started
                    let snap = taken.snapshot
                    let hostNow = reader.clock.hostNow(now)
                    if stats { wire.sample(reader, now: now, into: &model) }
                    if snap.bytes != lastBytes || snap.serverAlive != lastAlive || lastAttach != .attached || model.lostConnection != nil {
                        lastBytes = snap.bytes
                        lastAlive = snap.serverAlive
                        if reader.place != nil { model.ingest(snap, facts: taken.facts, now: hostNow) } else { model.ingest(snap, now: now) }
                        dirty = true
                    } else {
                        model.tick(now: hostNow)
                    }
                    if model.client.writability == .unknown {
                        model.setWritability(worker.writability())
                    }
                } catch {
                    lastBytes = []
                    switch error {
                    case .section(let e): model.ingest(error: e, now: now)
                    case .agent(let e) where error.isTransport:
                        model.connectionLost(e.description, now: now)
                        dirty = true
                    case .agent(let e) where error.isNoSection:
                        model.ingest(error: IPCError(.noSuchService, service: reader.service, e.description), now: now)
                    case .agent(let e):
                        model.ingest(error: IPCError(.system, service: reader.service, e.description), now: now)
                    }
                    if model.attach != lastAttach { dirty = true }
                }
                lastAttach = model.attach
            }
            for outcome in worker.takeResults() {
                model.clientFinished(outcome)
                dirty = true
            }
            if let s = server {
                let held = s.gate.held
                if model.server?.held != held {
                    model.server?.held = held
                    dirty = true
                }
                for (seq, rule) in s.gate.takeRules() {
                    model.server?.answered(seq: seq, by: rule, limit: model.history.limit)
                    dirty = true
                }
            }
            if term.checkResize() { dirty = true }
            if dirty || model.animating || now &- lastDraw >= idleRedrawNS {
                let (w, h) = term.size
                var grid = Grid(width: w, height: h)
                model.render(into: &grid, now: reader.clock.hostNow(now))
                term.draw(grid)
                lastDraw = now
                dirty = false
            }
            now = monotonicNanoseconds()
            let waitMS = nextSnapshot > now ? Int((nextSnapshot - now + 999_999) / 1_000_000) : 0
            guard let key = term.readKey(timeoutMS: waitMS) else { continue }
            dirty = true
            // Keys that arrived together (a paste) are handled before the next frame.
            var next: Key? = key
            while let k = next {
                if k == .resize { term.invalidate() }
                let actions = model.handle(key: k)
                if !perform(actions, &model) { return }
                next = term.readKey(timeoutMS: 0)
            }
        }
    }
}

/// A failure of `attach` before the screen is taken, said in one line.
package struct AttachError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}

/// The header's transport figures: bytes on the wire per second (over the last second or so)
/// and the last snapshot's round trip.
private struct WireMeter {
    var since: UInt64 = 0
    var bytesThen: UInt64 = 0
    /// How long the last snapshot took (a local read: no wire, only this).
    var lastTakeNS: UInt64 = 0

    mutating func sample(_ source: any SnapshotSource, now: UInt64, into model: inout InspectorModel) {
        guard let agent = source as? AgentSnapshotSource else {
            model.wireStats = "local read, snapshot " + formatDuration(lastTakeNS)
            return
        }
        let bytes = agent.wireBytes
        if since == 0 { since = now; bytesThen = bytes; return }
        guard now &- since >= 1_000_000_000 else { return }
        let rate = Double(bytes &- bytesThen) / (Double(now &- since) / 1e9)
        let rtt = Double(agent.roundTripNS) / 1e6
        model.wireStats = "wire " + Self.rate(rate) + ", rtt " + (rtt < 10 ? String(format: "%.1f", rtt) : String(Int(rtt))) + " ms"
        since = now
        bytesThen = bytes
    }

    static func rate(_ r: Double) -> String {
        r < 1000 ? "\(Int(r)) B/s" : r < 1_000_000 ? String(format: "%.1f KB/s", r / 1000) : String(format: "%.1f MB/s", r / 1e6)
    }
}
