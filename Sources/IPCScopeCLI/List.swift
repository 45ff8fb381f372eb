import ArgumentParser
import IPCScopeKit
import IPCScopeModel
#if canImport(Glibc)
import Glibc
#endif

extension IPCScope {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every section in /dev/shm (ipcscope.*), live and stale.",
            discussion: """
                Read-only: opens each object O_RDONLY, reads it with pread and asks the kernel \
                (F_OFD_GETLK) whether its server holds the liveness lock. A section whose \
                server is dead is marked stale ('ipcscope clean' removes those).

                Examples:
                  ipcscope list
                  ipcscope list --json | jq '.sections[] | select(.stale)'
                """)

        @Flag(help: "Print one JSON object {\"sections\": [...]}.")
        var json = false

        func run() throws {
            let entries = SectionDirectory.names().map(SectionDirectory.entry)
            if json {
                printJSON(.object([("sections", .array(entries.map(Self.json)))]))
                return
            }
            guard !entries.isEmpty else {
                printLine("no sections in /dev/shm (nothing named ipcscope.*)")
                return
            }
            let style = stdoutStyle
            let header = ["NAME", "PID", "COMMAND", "ALIVE", "STATE", "CALLS", "REQ/RSP/TRACE", "OWNER", "MODE"]
            var rows: [[String]] = []
            for e in entries {
                let s = e.valid ? e.snapshot : nil
                let caps = s?.layout.map { "\($0.requestCapacity)/\($0.responseCapacity)/\($0.traceCapacity)" } ?? "-"
                let state = e.valid ? (s?.state?.name ?? "?") : "invalid"
                rows.append([e.name, s.map { String($0.serverPID) } ?? "-", e.serverCommand ?? "-",
                             e.alive ? "yes" : "stale", state, s.map { String($0.callsServed) } ?? "-", caps,
                             Units.user(e.ownerUID), Units.mode(e.mode)])
            }
            var widths = header.map(\.count)
            for r in rows { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
            func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
            printLine(style.bold(header.enumerated().map { pad($1, widths[$0]) }.joined(separator: "  ")))
            for (r, e) in zip(rows, entries) {
                var cells = r.enumerated().map { pad($1, widths[$0]) }
                if !e.alive { cells[3] = style.red(cells[3]) } else { cells[3] = style.green(cells[3]) }
                if !e.valid { cells[4] = style.red(cells[4]) }
                printLine(cells.joined(separator: "  ").trimmingTrailingSpaces)
            }
            for e in entries where e.problem != nil && e.problem != "gone" {
                printLine(style.dim("  \(e.name): \(e.problem!)"))
            }
        }

        static func json(_ e: SectionEntry) -> JSON {
            let s = e.valid ? e.snapshot : nil
            return .object([
                ("name", .string(e.name)), ("path", .string(e.path)),
                ("alive", .bool(e.alive)), ("stale", .bool(e.stale)), ("valid", .bool(e.valid)),
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
                write access, probes it), so a live or just-started server is never removed.

                Exit status: 0 when everything asked for was removed (or nothing was stale), \
                1 when NAME is alive, missing, or could not be removed.

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
            let candidates: [SectionEntry]
            if let name {
                let e = SectionDirectory.entry(name)
                if e.problem == "gone" {
                    printError("no section named '\(name)' in /dev/shm: see 'ipcscope list'")
                    throw ExitCode(1)
                }
                candidates = [e]
            } else {
                candidates = SectionDirectory.names().map(SectionDirectory.entry)
            }
            for e in candidates {
                if e.alive {
                    kept.append((e.name, "alive"))
                    if name != nil {
                        let pid = e.snapshot?.serverPID ?? 0
                        printError("service '\(e.name)' is served by pid \(pid)\(e.serverCommand.map { " (\($0))" } ?? "") (still running): stop it first")
                        failed = true
                    }
                    continue
                }
                let why = e.valid ? "stale" : "invalid"
                if dryRun {
                    removed.append(e.name)
                    if !json { printLine("would remove \(e.name) (\(why))") }
                    continue
                }
                switch SectionDirectory.remove(e.name) {
                case .removed:
                    removed.append(e.name)
                    if !json { printLine("removed \(e.name) (\(why)" + (e.snapshot.map { $0.serverPID > 0 ? ", was served by pid \($0.serverPID)" : "" } ?? "") + ")") }
                case .alive:
                    kept.append((e.name, "alive"))
                    if name != nil { printError("service '\(e.name)' got a live server meanwhile: not removed"); failed = true }
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
            } else if removed.isEmpty && !failed && name == nil {
                printLine("nothing to clean: no stale sections")
            }
            if failed { throw ExitCode(1) }
        }
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
