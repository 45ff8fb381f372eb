#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

/// `ipcscope status`: one snapshot decoded for a person (`text`) or a program (`json`).
package struct StatusReport {
    package var snapshot: Snapshot
    /// The server's command, when it is alive.
    package var serverCommand: String?
    /// The lock owner's command.
    package var ownerCommand: String?
    /// Why no command is shown for a recorded pid (`pid gone`, `pid reused`), per role.
    package var serverPidNote: String?, ownerPidNote: String?
    /// Trace records to show (the newest); nil: all in the ring.
    package var traceLimit: Int?
    /// `hexdump -C -v` (no `*` lines).
    package var verboseDump = false
    /// Where the section is when not on this machine (`box`, `via 'docker exec -i ctr mbvipc-agent'`).
    package var place: String?

    /// - Parameter facts: where pids are looked up: this machine, or the section's host through an agent.
    package init(_ snapshot: Snapshot, traceLimit: Int? = 16, facts: HostFacts = .local) {
        self.snapshot = snapshot
        self.traceLimit = traceLimit
        // An NT program's pids are NT process ids: /proc knows nothing of them (the NT agent does).
        if !facts.judgesPids(of: snapshot) { return }
        // Any process may name itself with escape sequences (PR_SET_NAME): show names escaped.
        // A pid's command is shown only while the pid still names the recorded process.
        if snapshot.serverPID > 0 {
            let who = PidIdentity.server(pid: snapshot.serverPID, recordedStart: snapshot.serverStartTime, startTime: facts.startTime)
            if who == .same, snapshot.serverAlive {
                serverCommand = facts.commandLine(snapshot.serverPID).map(escapeForTerminal)
            } else {
                serverPidNote = who.note
            }
        }
        if snapshot.ownerPID > 0 {
            let who = snapshot.ownerPID == snapshot.serverPID && snapshot.serverStartTime != 0
                ? PidIdentity.server(pid: snapshot.ownerPID, recordedStart: snapshot.serverStartTime, startTime: facts.startTime)
                : PidIdentity.owner(pid: snapshot.ownerPID, sinceNS: snapshot.ownerSinceNS, startTime: facts.startTime,
                                    clockTicksPerSecond: facts.clockTicksPerSecond,
                                    bootMinusMonotonicNS: facts.bootMinusMonotonicNS())
            if who == .same {
                ownerCommand = facts.command(snapshot.ownerPID).map(escapeForTerminal)
            } else {
                ownerPidNote = who.note
            }
        }
    }

    // MARK: - health

    /// A heartbeat older than this means the server neither waits nor finishes calls: hung.
    package static let hungAfterNS: UInt64 = 5_000_000_000

    /// What `ipcscope status` exits with: 0 healthy, 2 problems found (1, missing or
    /// unreadable, is decided before there is a snapshot).
    package var exitCode: Int32 { healthProblems.isEmpty ? 0 : 2 }

    /// Everything that keeps the section from answering calls; empty when it is healthy.
    package var healthProblems: [String] {
        let s = snapshot
        if s.starting { return ["starting: its server holds the liveness lock but has not written the header yet"] }
        if s.objectSize == 0 { return ["empty: the object is 0 bytes"] }
        if let id = s.identity, !id.magicOK { return ["garbage: bad magic, not an ipcscope section"] }
        var out = s.problems
        if !s.serverAlive { out.append("stale: no server holds the liveness lock") }
        if s.ownerThreadDead {
            out.append("owner thread is dead: the mutex word names tid \(s.mutexWord.ownerTID), which no longer exists")
        }
        if s.serverAlive, s.heartbeatNS > 0, s.takenNS >= s.heartbeatNS, s.takenNS - s.heartbeatNS > Self.hungAfterNS {
            out.append("hung: heartbeat \(Units.duration(ns: s.takenNS - s.heartbeatNS)) old (state \(s.state?.name ?? "INVALID"))")
        }
        return out
    }

    private func age(_ t: UInt64) -> String {
        guard t > 0, snapshot.takenNS >= t else { return "-" }
        return Units.duration(ns: snapshot.takenNS - t)
    }

    private var shownTrace: [TraceRecord] {
        guard let n = traceLimit else { return snapshot.trace }
        return Array(snapshot.trace.suffix(n))
    }

    // MARK: - text

    /// The whole report as text, sections headed in bold.
    package func text(style: TextStyle = TextStyle(enabled: false)) -> String {
        let s = snapshot
        var out = ""
        func head(_ t: String) { out += style.bold(t) + "\n" }
        func row(_ k: String, _ v: String) { out += "  " + k.padding(18) + v + "\n" }

        head("service \(s.service)" + (place.map { $0.hasPrefix("via ") ? " (\($0))" : " on \($0)" } ?? ""))
        row("object", "/dev/shm/ipcscope.\(s.service), \(s.objectSize) bytes, owner \(Units.user(s.ownerUID)) (uid \(s.ownerUID)), mode \(Units.mode(s.mode))")
        let health = healthProblems
        row("health", health.isEmpty ? style.green("healthy") : style.red(health.joined(separator: "; ")))
        if s.starting || s.identity.map({ !$0.magicOK }) ?? true {
            // Nothing to decode: show the bytes themselves, as hexdump -C would.
            let shown = Array(s.bytes.prefix(64))
            row("first bytes", shown.isEmpty ? "(none)" : "\(shown.count) of \(s.objectSize), raw (not decoded):")
            out += indent(HexDump.format(shown, verbose: true))
            return out
        }
        if let id = s.identity {
            row("format", "magic \(id.magicOK ? "ok" : "BAD"), version \(id.version), header \(id.headerSize), section \(id.sectionSize) bytes")
            row("capacities", "request \(id.requestCapacity) @\(id.requestOffset), response \(id.responseCapacity) @\(id.responseOffset), trace \(id.traceCapacity) @\(id.traceOffset)")
            row("created", "by uid \(id.creatorUID), \(Units.unixTime(ns: id.createdUnixNS))")
        }
        for p in s.problems { row(style.red("problem"), style.red(p)) }
        guard s.bytes.count >= Int(IPCSCOPE_HEADER_SIZE) else { return out }

        head("server")
        let alive = s.serverAlive ? style.green("alive") : style.red("dead (stale section: remove it with 'ipcscope clean \(s.service)')")
        row("liveness lock", alive)
        row("pid", s.serverPID == 0 ? "0 (none)" : "\(s.serverPID)" + ((serverCommand ?? serverPidNote).map { " (\($0))" } ?? ""))
        row("epoch", "\(s.serverEpoch), starttime \(s.serverStartTime)")
        row("heartbeat", s.heartbeatNS == 0 ? "-" : "\(age(s.heartbeatNS)) ago")
        var flags: [String] = []
        if s.shuttingDown { flags.append("shutting-down") }
        if s.stepMode { flags.append("step-mode") }
        if s.tracing { flags.append("tracing") }
        if s.ntObjects { flags.append("NT objects") }
        row("flags", "0x\(String(s.serverFlags, radix: 16)) " + (flags.isEmpty ? "(none)" : flags.joined(separator: ", ")))
        if s.ntObjects {
            row("note", "mutex and events are NT objects (a Windows program): pids are NT ids, the mutex bytes stay zero")
        }
        row("calls", "\(s.callsServed) served, \(s.callsRejected) rejected, last took \(Units.duration(ns: s.lastServiceNS))")

        head("state")
        let stateName = s.state?.name ?? "INVALID(\(s.stateRaw))"
        row("state", "\(stateName) for \(age(s.stateSinceNS))")
        row("next seq", "\(s.nextSeq)")

        head("mutex")
        let w = s.mutexWord
        var word = "0x" + String(w.raw, radix: 16) + ": "
        word += w.isFree ? "free" : "owner tid \(w.ownerTID)"
        if w.waiters { word += ", waiters" }
        if w.ownerDied { word += ", " + style.red("owner died") }
        if s.ownerThreadDead { word += ", " + style.red("owner thread is dead") }
        row("kernel word", s.ntObjects ? "unused: the mutex is the NT Mutant ipcscope.\(s.service).mutex" : word)
        if s.ownerTID != 0 || s.ownerPID != 0 {
            row("owner record", "pid \(s.ownerPID)" + ((ownerCommand ?? ownerPidNote).map { " (\($0))" } ?? "") + ", tid \(s.ownerTID), held for \(age(s.ownerSinceNS))")
        } else {
            row("owner record", "none")
        }
        if s.ownerMismatch { row(style.yellow("note"), style.yellow("kernel word and owner record disagree (owner died, or mid-update)")) }
        row("counters", "\(s.lockCount) locks, \(s.contendedCount) contended, \(s.recoveredCount) recovered")

        head("events")
        row("request_event", "\(s.requestEvent), server waiting \(s.serverWaiting)")
        row("response_event", "\(s.responseEvent), client waiting \(s.clientWaiting) (clients that entered a wait; one killed while waiting stays counted)")
        if s.clientWaitingLooksLeaked {
            row(style.yellow("note"), style.yellow("client waiting is \(s.clientWaiting) while IDLE: counts clients killed while waiting, not live waiters"))
        }

        head("request slot")
        row("call", "seq \(s.requestSeq), function \(s.requestFunction), \(s.requestSize) bytes, client pid \(s.requestClientPID) tid \(s.requestClientTID), sent \(s.requestSentNS == 0 ? "-" : age(s.requestSentNS) + " ago")")
        out += indent(HexDump.format(s.requestPayload, verbose: verboseDump))
        head("response slot")
        row("answer", "seq \(s.responseSeq), status \(s.responseStatus), \(s.responseSize) bytes, done \(s.responseDoneNS == 0 ? "-" : age(s.responseDoneNS) + " ago")")
        out += indent(HexDump.format(s.responsePayload, verbose: verboseDump))

        let cap = s.layout?.traceCapacity ?? 0
        head("trace ring (\(cap) records, head \(s.traceHead)" + (s.tornRecords > 0 ? ", \(s.tornRecords) torn" : "") + ")")
        let shown = shownTrace
        if shown.count < s.trace.count { out += "  … \(s.trace.count - shown.count) older records (--trace all shows them)\n" }
        for r in shown { out += "  " + r.line(style: style) + "\n" }
        if s.trace.isEmpty { out += "  (empty)\n" }
        return out
    }

    private func indent(_ dump: String) -> String {
        dump.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { "    " + $0 + "\n" }.joined()
    }

    // MARK: - JSON

    /// The whole report as one JSON object.
    package var json: JSON {
        let s = snapshot
        var o: [(String, JSON)] = [
            ("service", .string(s.service)),
            ("object", .object([("path", .string("/dev/shm/ipcscope.\(s.service)")), ("size", .number(s.objectSize)),
                                ("owner_uid", .number(s.ownerUID)), ("mode", .string(Units.mode(s.mode)))])),
            ("valid", .bool(s.isValid)),
            ("problems", .array(s.problems.map { .string($0) })),
            ("alive", .bool(s.serverAlive)),
            ("stale", .bool(!s.serverAlive)),
            ("starting", .bool(s.starting)),
            ("health", .object([("exit_code", .number(exitCode)), ("problems", .array(healthProblems.map { .string($0) }))])),
        ]
        if let place { o.insert(("where", .string(place)), at: 1) }
        if s.starting || s.identity.map({ !$0.magicOK }) ?? true {
            o.append(("first_bytes_hex", .hex(Array(s.bytes.prefix(64)))))
            return .object(o)
        }
        if let id = s.identity {
            o.append(("identity", .object([
                ("magic_ok", .bool(id.magicOK)), ("version", .number(id.version)), ("header_size", .number(id.headerSize)),
                ("section_size", .uint(id.sectionSize)),
                ("request_offset", .number(id.requestOffset)), ("request_capacity", .number(id.requestCapacity)),
                ("response_offset", .number(id.responseOffset)), ("response_capacity", .number(id.responseCapacity)),
                ("trace_offset", .number(id.traceOffset)), ("trace_capacity", .number(id.traceCapacity)),
                ("creator_uid", .number(id.creatorUID)), ("created_unix_ns", .uint(id.createdUnixNS)),
            ])))
        }
        guard s.bytes.count >= Int(IPCSCOPE_HEADER_SIZE) else { return .object(o) }
        func ageNS(_ t: UInt64) -> JSON { t > 0 && s.takenNS >= t ? .uint(s.takenNS - t) : .null }
        o.append(("server", .object([
            ("pid", .number(s.serverPID)), ("command", serverCommand.map { .string($0) } ?? .null),
            ("pid_note", serverPidNote.map { .string($0) } ?? .null),
            ("epoch", .number(s.serverEpoch)), ("starttime", .uint(s.serverStartTime)),
            ("heartbeat_age_ns", ageNS(s.heartbeatNS)), ("flags", .number(s.serverFlags)),
            ("shutting_down", .bool(s.shuttingDown)), ("step_mode", .bool(s.stepMode)), ("tracing", .bool(s.tracing)),
            ("nt_objects", .bool(s.ntObjects)),
            ("calls_served", .uint(s.callsServed)), ("calls_rejected", .uint(s.callsRejected)),
            ("last_service_ns", .uint(s.lastServiceNS)),
        ])))
        o.append(("state", .object([
            ("value", .number(s.stateRaw)), ("name", .string(s.state?.name ?? "INVALID")),
            ("for_ns", ageNS(s.stateSinceNS)), ("next_seq", .uint(s.nextSeq)),
        ])))
        let w = s.mutexWord
        o.append(("mutex", .object([
            ("word", .number(w.raw)), ("owner_tid", .number(w.ownerTID)), ("waiters", .bool(w.waiters)),
            ("owner_died", .bool(w.ownerDied)),
            ("owner_thread_alive", s.ownerThreadAlive.map { .bool($0) } ?? .null),
            ("owner", .object([("pid", .number(s.ownerPID)), ("tid", .number(s.ownerTID)),
                               ("command", ownerCommand.map { .string($0) } ?? .null),
                               ("pid_note", ownerPidNote.map { .string($0) } ?? .null),
                               ("held_for_ns", s.ownerTID != 0 ? ageNS(s.ownerSinceNS) : .null)])),
            ("owner_mismatch", .bool(s.ownerMismatch)),
            ("lock_count", .uint(s.lockCount)), ("contended_count", .uint(s.contendedCount)),
            ("recovered_count", .uint(s.recoveredCount)),
        ])))
        o.append(("events", .object([
            ("request_event", .number(s.requestEvent)), ("response_event", .number(s.responseEvent)),
            ("server_waiting", .number(s.serverWaiting)), ("client_waiting", .number(s.clientWaiting)),
        ])))
        o.append(("request", .object([
            ("seq", .uint(s.requestSeq)), ("function", .number(s.requestFunction)), ("size", .number(s.requestSize)),
            ("client_pid", .number(s.requestClientPID)), ("client_tid", .number(s.requestClientTID)),
            ("sent_ns", .uint(s.requestSentNS)), ("data_hex", .hex(s.requestPayload)),
        ])))
        o.append(("response", .object([
            ("seq", .uint(s.responseSeq)), ("status", .number(s.responseStatus)), ("size", .number(s.responseSize)),
            ("done_ns", .uint(s.responseDoneNS)), ("data_hex", .hex(s.responsePayload)),
        ])))
        o.append(("trace", .object([
            ("capacity", .number(s.layout?.traceCapacity ?? 0)), ("head", .uint(s.traceHead)),
            ("torn", .number(s.tornRecords)), ("records", .array(shownTrace.map(\.json))),
        ])))
        return .object(o)
    }
}

extension Units {
    /// Unix nanoseconds as local "YYYY-MM-DD HH:MM:SS".
    package static func unixTime(ns: UInt64) -> String {
        var secs = time_t(ns / 1_000_000_000)
        var tmv = tm()
        localtime_r(&secs, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, 64, "%Y-%m-%d %H:%M:%S", &tmv)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension String {
    /// Pads with spaces to `width` characters (never truncates).
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
