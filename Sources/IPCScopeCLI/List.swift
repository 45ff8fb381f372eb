import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

extension IPCScope {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every section in /dev/shm (ipcscope.*), live and stale.",
            discussion: """
                Read-only: opens each object O_RDONLY, reads it with pread and asks the kernel \
                (F_OFD_GETLK) whether its server holds the liveness lock. A section whose \
                server is dead is marked stale ('ipcscope clean' removes those). Opens never block and \
                never follow links: a FIFO, directory, socket or link is shown as "not a regular file", \
                another user's unreadable object as "not readable by you", a section whose server is \
                still writing its header as "starting". Names that are not service names are shown \
                escaped (\\xHH) and marked "invalid name".

                Examples:
                  ipcscope list
                  ipcscope list --json | jq '.sections[] | select(.stale)'
                  ipcscope list --host user@box              (mbvipc-agent on box, over ssh)
                  ipcscope list --via 'docker exec -i ctr mbvipc-agent'
                """)

        @Flag(help: "Print one JSON object {\"sections\": [...]}.")
        var json = false

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func run() throws {
            var place: String?
            var entries: [SectionEntry]
            if remote.isRemote {
                (place, entries) = try remoteEntries()
            } else {
                entries = SectionDirectory.listing().map(SectionDirectory.entry)
            }
            if json {
                var o: [(String, JSON)] = [("sections", .array(entries.map(Self.json)))]
                if let place { o.append(("where", .string(place))) }
                printJSON(.object(o))
                return
            }
            guard !entries.isEmpty else {
                printLine("no sections in /dev/shm" + (place.map { " on \($0)" } ?? "") + " (nothing named ipcscope.*)")
                return
            }
            if let place {
                // Where the sections are: every NAME reads HOST:NAME (or "via '…':NAME").
                for i in entries.indices { entries[i].name = place + ":" + entries[i].name }
            }
            let style = stdoutStyle
            let header = ["NAME", "PID", "COMMAND", "ALIVE", "STATE", "CALLS", "REQ/RSP/TRACE", "OWNER", "MODE"]
            var rows: [[String]] = []
            for e in entries {
                let s = e.valid ? e.snapshot : nil
                let caps = s?.layout.map { "\($0.requestCapacity)/\($0.responseCapacity)/\($0.traceCapacity)" } ?? "-"
                rows.append([e.name, s.map { String($0.serverPID) } ?? "-", e.serverCommand.map { $0.count > 40 ? String($0.prefix(39)) + "…" : $0 } ?? "-",
                             Self.aliveColumn(e), Self.stateColumn(e), s.map { String($0.callsServed) } ?? "-", caps,
                             Units.user(e.ownerUID), Units.mode(e.mode)])
            }
            var widths = header.map(\.count)
            for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
            func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
            printLine(style.bold(header.enumerated().map { pad($1, widths[$0]) }.joined(separator: "  ")))
            for (r, e) in zip(rows, entries) {
                var cells = r.enumerated().map { pad($1, widths[$0]) }
                if e.condition == .live { cells[3] = style.green(cells[3]) } else { cells[3] = style.red(cells[3]) }
                if !e.valid { cells[4] = style.red(cells[4]) }
                printLine(cells.joined(separator: "  ").trimmingTrailingSpaces)
            }
            for e in entries where e.problem != nil && e.problem != "gone" {
                printLine(style.dim("  \(e.name): \(escapeForTerminal(e.problem!))"))
            }
        }

        /// ALIVE: yes, stale, starting, or "?" when it cannot be told.
        static func aliveColumn(_ e: SectionEntry) -> String {
            switch e.condition {
            case .live: "yes"
            case .stale: "stale"
            case .starting: "starting"
            case .invalidName, .notRegular, .unreadable, .gone: "?"
            }
        }

        /// STATE: the protocol state of a valid section, else what the entry is.
        static func stateColumn(_ e: SectionEntry) -> String {
            switch e.condition {
            case .live, .stale: e.valid ? (e.snapshot?.state?.name ?? "?") : "invalid"
            case .starting: "starting"
            case .invalidName: "invalid name"
            case .notRegular: "not a regular file (\(e.fileKind))"
            case .unreadable: "not readable by you"
            case .gone: "gone"
            }
        }

        static func json(_ e: SectionEntry) -> JSON {
            let s = e.valid ? e.snapshot : nil
            return .object([
                ("name", .string(e.name)), ("path", .string(e.path)),
                ("alive", .bool(e.alive)), ("stale", .bool(e.stale)), ("valid", .bool(e.valid)),
                ("condition", .string(e.condition.rawValue)), ("valid_name", .bool(e.validName)),
                ("file_type", .string(e.fileKind)),
                ("server_pid", s.map { .number($0.serverPID) } ?? .null),
                ("command", e.serverCommand.map { .string($0) } ?? .null),
                ("state", s.flatMap { $0.state }.map { .string($0.name) } ?? .null),
                ("calls_served", s.map { .uint($0.callsServed) } ?? .null),
                ("request_capacity", s?.layout.map { .number($0.requestCapacity) } ?? .null),
                ("response_capacity", s?.layout.map { .number($0.responseCapacity) } ?? .null),
                ("trace_capacity", s?.layout.map { .number($0.traceCapacity) } ?? .null),
                ("size", .number(e.objectSize)), ("owner_uid", .number(e.ownerUID)),
                ("owner", .string(Units.user(e.ownerUID))), ("mode", .string(Units.mode(e.mode))),
                ("problem", e.problem.map { .string($0) } ?? .null),
            ])
        }
    }

    struct Clean: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove stale sections (never a live one).",
            discussion: """
                Without NAME, removes every ipcscope.* object in /dev/shm whose server is dead \
                (stale) or that is not a valid section. With NAME, removes that one if no server \
                lives. Right before unlinking, clean takes the liveness lock itself (or, without \
                write access, probes it), so a live or just-started server is never removed. \
                Only a write lock is a server's: a stale section that a reader holds a read lock \
                on is kept too, and clean says so (with the reader's pid when the kernel names it).

                Never removed without NAME: a section being created ("starting"), another user's \
                object you cannot read (clean cannot tell whether it is served: it says so), a \
                FIFO, directory, socket or link named ipcscope.* (give its name to remove it), and \
                names that are not service names (shown escaped; remove those with rm).

                Exit status: 0 when everything asked for was removed (or nothing was stale), \
                1 when NAME is alive, starting, held by a reader's read lock, missing, unreadable, or could \
                not be removed.

                Examples:
                  ipcscope clean
                  ipcscope clean MyService
                  ipcscope clean --dry-run
                """)

        @Argument(help: "Only this service.")
        var name: String?

        @Flag(help: "Say what would be removed, remove nothing.")
        var dryRun = false

        @Flag(help: "Print one JSON object {\"removed\": [...], \"kept\": [...]}.")
        var json = false

        func run() throws {
            var removed: [String] = [], kept: [(String, String)] = [], failed = false
            let explicit = name != nil
            let candidates: [SectionEntry]
            if let name {
                let e = SectionDirectory.entry(name)
                if e.condition == .gone {
                    printError("no section named '\(escapeForTerminal(name))' in /dev/shm: see 'ipcscope list'")
                    throw ExitCode(1)
                }
                if e.condition == .invalidName {
                    printError("'\(e.name)' is not a service name: remove /dev/shm/ipcscope.\(e.name) with rm if it is yours")
                    throw ExitCode(1)
                }
                candidates = [e]
            } else {
                candidates = SectionDirectory.listing().map(SectionDirectory.entry)
            }
            /// Keeps `e`, saying why (on stderr when it was asked for by name, as a note otherwise).
            func keep(_ e: SectionEntry, _ reason: String, _ message: String) {
                kept.append((e.name, reason))
                if explicit { printError(message); failed = true } else if !json { printLine("kept \(e.name): \(message)") }
            }
            for e in candidates {
                switch e.condition {
                case .gone:
                    continue
                case .live:
                    let pid = e.snapshot?.serverPID ?? 0
                    if explicit {
                        keep(e, "alive", "service '\(e.name)' is served by pid \(pid)\(e.serverCommand.map { " (\($0))" } ?? "") (still running): stop it first")
                    } else {
                        kept.append((e.name, "alive"))
                    }
                    continue
                case .starting:
                    keep(e, "starting", "its server is creating it right now (header not written yet): not removed")
                    continue
                case .unreadable:
                    keep(e, "unreadable", "\(e.problem ?? "not readable by you"): clean cannot tell whether it is served; ask its owner (or root) to run 'ipcscope clean \(e.name)'")
                    continue
                case .invalidName:
                    keep(e, "invalid name", "not a service name (shown escaped), not removed: check who made /dev/shm/ipcscope.\(e.name) and remove it with rm")
                    continue
                case .notRegular where !explicit:
                    keep(e, "not a regular file", "not a regular file (\(e.fileKind)), not removed: remove it with 'ipcscope clean \(e.name)'")
                    continue
                case .notRegular, .stale:
                    break
                }
                let why = e.condition == .notRegular ? "not a regular file (\(e.fileKind))" : e.valid ? "stale" : "invalid"
                if dryRun {
                    removed.append(e.name)
                    if !json { printLine("would remove \(e.name) (\(why))") }
                    continue
                }
                switch SectionDirectory.remove(e.rawName) {
                case .removed:
                    removed.append(e.name)
                    if !json { printLine("removed \(e.name) (\(why)" + (e.snapshot.map { $0.serverPID > 0 ? ", was served by pid \($0.serverPID)" : "" } ?? "") + ")") }
                case .alive:
                    kept.append((e.name, "alive"))
                    if explicit { printError("service '\(e.name)' got a live server meanwhile: not removed"); failed = true }
                case .readerLocked(let pid):
                    keep(e, "read lock", Self.readerLockMessage(e.name, pid: pid))
                case .missing:
                    break
                case .failed(let message):
                    kept.append((e.name, message))
                    printError(message)
                    failed = true
                }
            }
            if json {
                printJSON(.object([("removed", .array(removed.map { .string($0) })),
                                   ("kept", .array(kept.map { .object([("name", .string($0.0)), ("reason", .string($0.1))]) })),
                                   ("dry_run", .bool(dryRun))]))
            } else if removed.isEmpty && !failed && !explicit {
                printLine("nothing to clean: no stale sections")
            }
            if failed { throw ExitCode(1) }
        }
    }
}

extension IPCScope.Clean {
    /// Why a stale section was kept: a reader's read lock (not a server) stands in the way of the
    /// liveness lock that clean takes before unlinking. Names the holder when the kernel does.
    static func readerLockMessage(_ name: String, pid: Int32?) -> String {
        let who: String
        if let pid {
            who = ": pid \(pid)" + (ProcessFacts.command(of: pid).map { " (\(escapeForTerminal($0)))" } ?? "")
        } else {
            who = " (an open-file-description lock: the kernel reports pid -1, not who holds it)"
        }
        return "service '\(name)' has no server, but a reader holds a read lock on it\(who); not removed: "
            + "clean must take the liveness lock before unlinking; stop that reader (it has /dev/shm/ipcscope.\(name) open) "
            + "and run 'ipcscope clean \(name)' again"
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
