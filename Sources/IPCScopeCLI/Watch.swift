import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow the trace ring and print each call as it is served.",
            discussion: """
                Polls trace_head (one 8-byte pread) every --interval and prints each new record: \
                seq, time, function, request and response sizes, status, latency, client pid \
                and the first bytes. When the server writes more records between two polls than \
                the ring holds, the lost calls are counted and reported ("missed N"), never \
                guessed. Read-only (O_RDONLY, pread); works on stale sections too (with \
                --from-start it prints what the ring still holds).

                At the end (--limit, --timeout, Ctrl-C, or the section removed) a summary goes to \
                stderr (and, with --json, a {"event":"summary"} line to stdout).

                Examples:
                  ipcscope watch MyService
                  ipcscope watch MyService --json --limit 100
                  ipcscope watch MyService -o calls.jsonl --timeout 60
                  ipcscope watch MyService --host user@box      (mbvipc-agent on box, over ssh)
                """)

        @Argument(help: "The service name.")
        var name: String

        @Flag(help: "Print JSON Lines: one object per call, per miss, and a summary.")
        var json = false

        @Option(help: "Stop after this many calls.")
        var limit: Int?

        @Option(help: "Stop after this many seconds (\(Seconds.rangeText)).", transform: Seconds.parse)
        var timeout: Seconds?

        @Option(name: [.short, .customLong("output")], help: "Also record every call to this file as JSON Lines.", completion: .file())
        var output: String?

        @Option(help: "Milliseconds between two polls of the ring.")
        var interval: Double = 5

        @Flag(help: "Start with the records already in the ring (default: only new calls).")
        var fromStart = false

        @OptionGroup var schemaOptions: SchemaOptions

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func validate() throws {
            if let limit { guard limit > 0 else { throw ValidationError("--limit must be 1 or more") } }
            guard interval > 0, interval <= 10_000 else { throw ValidationError("--interval must be 0 to 10000 ms") }
        }

        func run() throws {
            let schema = try schemaOptions.load(service: name)
            let follower = try WatchSource.start(name, remote: remote, fromStart: fromStart)
            defer { follower.close() }
            var outFD: Int32 = -1
            if let output {
                outFD = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard outFD >= 0 else {
                    throw usageFailure("cannot create -o '\(output)': \(String(cString: strerror(errno))); check the directory")
                }
            }
            defer { if outFD >= 0 { close(outFD) } }
            let stop = StopFlag()
            let sources = installStopSignals { stop.set() }
            defer { sources.forEach { $0.cancel() } }

            let cap = follower.layout?.traceCapacity ?? 0
            printError("watching '\(name)'\(follower.place.map { $0.hasPrefix("via ") ? " (\($0))" : " on \($0)" } ?? "") (trace ring of \(cap) records, head \(follower.next)); Ctrl-C stops")
            let style = stdoutStyle
            let deadline = timeout.map { monotonicNanoseconds() &+ $0.nanoseconds }
            let intervalNS = UInt64(interval * 1e6)
            var calls = 0, missed: UInt64 = 0
            var warnedDead = false
            var ending = "stopped"
            loop: while true {
                let p: TraceFollower.Poll
                p = try follower.poll()
                if p.gone { ending = "the section was removed (its server stopped)"; break }
                if p.replaced { printError("'\(name)' was recreated by a new server: following the new section") }
                if !p.alive && !warnedDead {
                    printError("no server is running for '\(name)' (stale section): waiting for one")
                    warnedDead = true
                } else if p.alive { warnedDead = false }
                if p.missed > 0 {
                    missed = missed.addingReportingOverflow(p.missed).overflow ? .max : missed + p.missed
                    let line = "missed \(p.missed) call\(p.missed == 1 ? "" : "s"): the ring of \(cap) records was overrun between two polls; try a smaller --interval"
                    if json { printJSON(.object([("event", .string("missed")), ("count", .uint(p.missed))])) }
                    else { printLine(style.yellow("! " + line)) }
                    if outFD >= 0 { writeAll(JSON.object([("event", .string("missed")), ("count", .uint(p.missed))]).rendered + "\n", to: outFD) }
                }
                for r in p.records {
                    let j = Self.callJSON(r, schema: schema)
                    if json { printJSON(j) } else { printLine(r.line(style: style) + Self.fieldsText(r, schema: schema)) }
                    if outFD >= 0 { writeAll(j.rendered + "\n", to: outFD) }
                    calls += 1
                    if let limit, calls >= limit { ending = "limit reached"; break loop }
                }
                if stop.isSet { break }
                if let deadline, monotonicNanoseconds() >= deadline { ending = "timeout"; break }
                sleepNS(intervalNS)
            }
            let summary = "watched \(calls) call\(calls == 1 ? "" : "s"), missed \(missed) (\(ending))"
            printError(summary)
            if json {
                printJSON(.object([("event", .string("summary")), ("calls", .number(calls)), ("missed", .uint(missed)),
                                   ("end", .string(ending))]))
            }
        }

        static func callJSON(_ r: TraceRecord, schema: Schema? = nil) -> JSON {
            guard case .object(let pairs) = r.json else { return r.json }
            return .object([("event", .string("call"))] + pairs + (schema.map { Self.schemaPairs(r, $0) } ?? []))
        }
    }
}

/// A flag a signal source sets and a loop polls.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }
}
