import IPCScopeObserve
import IPCScopeSchema
import IPCScopePOSIX

/// `watch --stats`: calls grouped in intervals of `--stats-interval` seconds by the time they
/// were answered (`done_ns`), printed once an interval is over: a line (or a JSON object) for
/// all calls, then one per function that had calls, each with the count, p50, p99 and max
/// (`LatencyStats`, the same code as `status` and `attach`'s latency pane).
///
/// An interval is printed `grace` after its end, so records written just after their answer
/// still count in it. A record that arrives later still (its server was descheduled for that
/// long) counts in the interval open when it is read, and that line says `late N`.
struct WatchStats {
    let intervalNS: UInt64
    let graceNS: UInt64
    let schema: Schema?
    let json: Bool
    /// The interval being filled: [from, from + intervalNS).
    private(set) var from: UInt64
    private var stats = LatencyStats()
    private var late = 0

    init(intervalNS: UInt64, graceNS: UInt64, start: UInt64, schema: Schema?, json: Bool) {
        self.intervalNS = intervalNS
        self.graceNS = graceNS
        self.schema = schema
        self.json = json
        from = start
    }

    /// Counts a record in its interval (or, when that one was printed already, in the open one).
    /// Prints every interval that is over first.
    mutating func add(_ r: TraceRecord, now: UInt64) {
        flush(upTo: r.doneNS >= from ? min(now, r.doneNS) : from)
        if r.doneNS < from { late += 1 }
        stats.add(r)
    }

    /// Prints every interval that ended at least `grace` before `now`.
    mutating func flush(now: UInt64) {
        flush(upTo: now >= graceNS ? now - graceNS : 0)
    }

    /// Prints the intervals that end at or before `t`.
    private mutating func flush(upTo t: UInt64) {
        while from &+ intervalNS <= t {
            printInterval()
            from &+= intervalNS
            let previous = stats
            stats = LatencyStats()
            // The split of the next interval's first call needs the last call of this one.
            stats.carryPrevious(from: previous)
            late = 0
        }
    }

    /// Prints the open interval (at the end of the watch), however short.
    mutating func finish(now: UInt64) {
        flush(now: now)
        if stats.all.count > 0 || now > from { printInterval(to: min(now, from &+ intervalNS)) }
    }

    private func printInterval(to: UInt64? = nil) {
        let to = to ?? from &+ intervalNS
        let name = { (f: UInt32) in schema?.function(f)?.name }
        var series: [(UInt32?, LatencyStats.Series)] = [(nil, stats.all)]
        for f in stats.functions.keys.sorted() { if let s = stats.functions[f] { series.append((f, s)) } }
        for (f, s) in series {
            let sum = s.summary
            if json {
                var pairs: [(String, JSON)] = [("event", .string("stats")), ("from_ns", .uint(from)), ("to_ns", .uint(to)),
                                               ("from_unix_ns", .uint(Units.unixNS(monotonicNS: from))),
                                               ("function", f.map { .number($0) } ?? .null)]
                if let f, let n = name(f) { pairs.append(("name", .string(n))) }
                pairs += [("calls", .uint(sum.count)), ("p50_ns", .uint(sum.p50)), ("p99_ns", .uint(sum.p99)), ("max_ns", .uint(sum.max)),
                          ("failed", .uint(s.failed))]
                if f == nil { pairs.append(("late", .number(late))) }
                printJSON(.object(pairs))
            } else {
                var line = Units.wallClock(monotonicNS: from) + "  " + (f.map { "fn \($0)" + (name($0).map { " " + $0 } ?? "") } ?? "all")
                line += "  calls \(sum.count)"
                if sum.count > 0 { line += "  " + sum.text([.p50, .p99, .max]) }
                if s.failed > 0 { line += "  status≠0 \(s.failed)" }
                if f == nil && late > 0 { line += "  late \(late)" }
                printLine(line)
            }
        }
    }
}
