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

                Each poll also copies the request and response slots, under the rule 'ipcscope \
                record' uses (the slot's seq matches the call's record and nothing newer touched \
                the slot during the copy). A call copied before the next call overwrote its slots \
                is seen whole; any other is marked partial ("partial": true): only the ring's first \
                16 request bytes are known. A smaller --interval sees more calls whole. With a \
                schema, each call carries its decoded fields: the request's as "fields" (also \
                "request_fields"; from the 16-byte head when partial, with a warning), the \
                response's as "response_fields" (only when the whole response was copied).

                At the end (--limit, --timeout, Ctrl-C, or the section removed) a summary goes to \
                stderr (and, with --json, a {"event":"summary"} line to stdout).

                With --stats, calls are not printed one by one: every --stats-interval seconds \
                (by the time each call was answered) it prints a line for all calls and one per \
                function: calls, p50, p99 and max latency (sent to answered), or with --json one \
                {"event":"stats"} object each (function null for all calls; from_ns and to_ns the \
                interval in CLOCK_MONOTONIC ns).

                Examples:
                  ipcscope watch MyService
                  ipcscope watch MyService --json --limit 100
                  ipcscope watch MyService -o calls.jsonl --timeout 60
                  ipcscope watch MyService --json | jq '{request_fields, response_fields}'
                  ipcscope watch MyService --stats --stats-interval 10
                  ipcscope watch MyService --host box --json   # through mbvipc-agent on box (ssh)
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

        @Flag(help: "Print latency statistics per interval (all calls, then each function: calls, p50, p99, max) instead of each call.")
        var stats = false

        @Option(help: "Seconds per --stats interval (default 1; \(Seconds.rangeText)).", transform: Seconds.parse)
        var statsInterval: Seconds?

        @OptionGroup var schemaOptions: SchemaOptions

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func validate() throws {
            if let limit { guard limit > 0 else { throw ValidationError("--limit must be 1 or more") } }
            guard interval > 0, interval <= 10_000 else { throw ValidationError("--interval must be 0 to 10000 ms") }
            if statsInterval != nil && !stats { throw ValidationError("--stats-interval goes with --stats") }
        }

        func run() throws {
            let schema = try schemaOptions.load(service: name)
            let source = try RecorderSource.start(name, remote: remote, fromStart: fromStart)
            defer { source.close() }
            let recorder = source.recorder
            // Through an agent, wall-clock times are the section's host's (its REALTIME offset).
            let remoteClock = source.connection.map { _ in recorder.clock }
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

            let cap = recorder.layout?.traceCapacity ?? 0
            printError("watching '\(name)'\(source.place.map { " on " + $0 } ?? "") (trace ring of \(cap) records, head \(recorder.position)); Ctrl-C stops")
            let style = stdoutStyle
            let deadline = timeout.map { monotonicNanoseconds() &+ $0.nanoseconds }
            let intervalNS = UInt64(interval * 1e6)
            var calls = 0, missed: UInt64 = 0
            var warnedDead = false
            var ending = "stopped"
            let statsNS = statsInterval?.nanoseconds ?? 1_000_000_000
            var periods = stats ? WatchStats(intervalNS: statsNS, graceNS: 100_000_000 + 2 * intervalNS,
                                             start: monotonicNanoseconds(), schema: schema, json: json) : nil
            // --stats times calls and shows no payloads: hand each call out as soon as the ring has it.
            recorder.waitsForSlots = !stats
            /// Prints the calls, or counts them with --stats (and writes them to -o); false once
            /// --limit is reached.
            func show(_ found: [RecordedCall]) -> Bool {
                for call in found {
                    var j = Self.callJSON(call, schema: schema)
                    if let remoteClock, case .object(let pairs) = j {
                        j = .object(pairs.map { $0.0 == "time_unix_ns" ? ($0.0, .uint(remoteClock.unixNS(monotonic: call.doneNS))) : $0 })
                    }
                    if periods != nil { periods?.add(call.traceRecord, now: monotonicNanoseconds()) }
                    else if json { printJSON(j) } else { printLine(Self.callText(call, schema: schema, style: style, clock: remoteClock)) }
                    if outFD >= 0 { writeAll(j.rendered + "\n", to: outFD) }
                    calls += 1
                    if let limit, calls >= limit { return false }
                }
                return true
            }
            while true {
                let p: CallRecorder.Poll
                p = try source.poll()
                if p.replaced { printError("'\(name)' was recreated by a new server: following the new section") }
                if p.gone {
                    // Nothing to warn about: the calls the server finished before it unlinked the name follow.
                } else if !p.alive && !warnedDead {
                    printError("no server is running for '\(name)' (stale section): waiting for one")
                    warnedDead = true
                } else if p.alive { warnedDead = false }
                if p.missed > 0 {
                    missed = missed.addingReportingOverflow(p.missed).overflow ? .max : missed + p.missed
                    let line = "missed \(p.missed) call\(p.missed == 1 ? "" : "s"): the ring of \(cap) records was overrun between two polls; try a smaller --interval"
                    if json { printJSON(.object([("event", .string("missed")), ("count", .uint(p.missed))])) }
                    else if periods != nil { printError(line) }
                    else { printLine(style.yellow("! " + line)) }
                    if outFD >= 0 { writeAll(JSON.object([("event", .string("missed")), ("count", .uint(p.missed))]).rendered + "\n", to: outFD) }
                }
                if !show(p.calls) { ending = "limit reached"; break }
                periods?.flush(now: monotonicNanoseconds())
                if p.gone { ending = "the section was removed (its server stopped)"; break }
                if stop.isSet { break }
                if let deadline, monotonicNanoseconds() >= deadline { ending = "timeout"; break }
                sleepNS(intervalNS)
            }
            // Calls still waiting for a slot copy at a stop or timeout: shown as they are.
            if ending == "stopped" || ending == "timeout" { _ = show(recorder.drain()) }
            periods?.finish(now: monotonicNanoseconds())
            let summary = "watched \(calls) call\(calls == 1 ? "" : "s"), missed \(missed) (\(ending))"
            printError(summary)
            if json {
                printJSON(.object([("event", .string("summary")), ("calls", .number(calls)), ("missed", .uint(missed)),
                                   ("end", .string(ending))]))
            }
        }
    }
}

/// A flag a signal source sets and a loop polls.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }
}
