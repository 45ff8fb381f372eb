/// What the latency pane (`%`) counts: percentiles per function (`LatencyStats`), exact counts in
/// log-scale buckets for the histogram, and per-second buckets for the heatmap line. Fed only the
/// trace records the history accepts, so it adds nothing to what `attach` reads.
import IPCScopeObserve

/// Log-scale latency buckets in 1-2-5 steps: bucket 0 holds 0 and 1 ns, bucket k the values
/// above `edge(k - 1)` up to `edge(k)` (1 ns, 2 ns, 5 ns, 10 ns, 20 ns, ... 1 h and more).
package enum LatencyBuckets {
    /// Buckets up to 5000 s (`edge(37)`); longer calls land in the last one.
    package static let count = 38

    /// The upper edge of bucket `k`, in nanoseconds.
    package static func edge(_ k: Int) -> UInt64 {
        var p: UInt64 = 1
        for _ in 0..<(max(0, k) / 3) { p *= 10 }
        return p * [1, 2, 5][max(0, k) % 3]
    }

    /// The upper edge of bucket `k` as short text: `500ns`, `20µs`, `1ms`, `5s`.
    package static func edgeText(_ k: Int, ascii: Bool = false) -> String {
        let k = max(0, k)
        let digit = [1, 2, 5][k % 3]
        let decade = k / 3
        let units = ["ns", ascii ? "us" : "µs", "ms", "s"]
        let unit = min(3, decade / 3)
        var zeros = decade - unit * 3
        var n = digit
        while zeros > 0 { n *= 10; zeros -= 1 }
        return "\(n)" + units[unit]
    }

    /// The bucket of `ns`.
    package static func index(_ ns: UInt64) -> Int {
        var k = 0
        while k < count - 1 && ns > edge(k) { k += 1 }
        return k
    }
}

/// Counts per bucket (`LatencyBuckets`), with the bucket holding a given rank.
package struct BucketCounts: Sendable, Equatable {
    package private(set) var counts: [UInt64] = Array(repeating: 0, count: LatencyBuckets.count)
    package private(set) var total: UInt64 = 0
    package init() {}

    package mutating func add(_ ns: UInt64) {
        counts[LatencyBuckets.index(ns)] += 1
        total += 1
    }

    /// The bucket holding the value of nearest rank `percent` (the ⌈percent·n/100⌉-th smallest).
    package func bucket(atPercentile percent: Double) -> Int? {
        guard total > 0 else { return nil }
        var rank = UInt64((Double(total) * percent / 100).rounded(.up))
        rank = max(1, min(total, rank))
        var seen: UInt64 = 0
        for (k, c) in counts.enumerated() {
            seen += c
            if seen >= rank { return k }
        }
        return counts.count - 1
    }
}

/// The latency pane's state: the statistics since attach (or the last `r`), which series is
/// selected, and the per-second buckets of the heatmap.
package struct LatencyPaneState: Sendable {
    /// Whether the pane is on screen (`%` toggles it).
    package var shown = false
    /// The series shown in the histogram and the heatmap: nil for all calls, else a function.
    package var selected: UInt32?
    package private(set) var stats = LatencyStats()
    /// Exact bucket counts per series (nil key: all calls).
    package private(set) var buckets: [UInt32?: BucketCounts] = [:]
    /// One entry per second that had calls (by `done_ns` / 1 s), oldest first, at most `keepSeconds`.
    package private(set) var seconds: [Second] = []
    /// The mutex counters when counting started (`lock_count`, `contended_count`), for the share
    /// of calls whose client waited for the mutex (before `sent_ns`, so in no trace record).
    package private(set) var mutexBase: (locks: UInt64, contended: UInt64)?
    package private(set) var mutexNow: (locks: UInt64, contended: UInt64) = (0, 0)
    /// Resets by `r` since attach.
    package private(set) var resets = 0

    /// How many seconds the heatmap remembers.
    package static let keepSeconds = 600

    /// One second's calls, per series, in buckets.
    package struct Second: Sendable, Equatable {
        package var second: UInt64
        package var all = BucketCounts()
        package var functions: [UInt32: BucketCounts] = [:]
        package func counts(_ series: UInt32?) -> BucketCounts? { series.map { functions[$0] } ?? all }
    }

    package init() {}

    /// Counts the records the history just accepted; `previousDone` gives the answer time of a
    /// call by seq when known (for the queued/service split).
    package mutating func ingest(_ records: [TraceRecord], mutex: (locks: UInt64, contended: UInt64),
                                 previousDone: (UInt64) -> UInt64?) {
        if mutexBase == nil || mutex.locks < (mutexBase?.locks ?? 0) { mutexBase = mutex }
        mutexNow = mutex
        for r in records {
            stats.add(r, previousDoneNS: r.seq > 0 ? previousDone(r.seq - 1) : nil)
            let ns = r.latencyNS
            buckets[nil, default: BucketCounts()].add(ns)
            if stats.functions[r.function] != nil { buckets[r.function, default: BucketCounts()].add(ns) }
            addToSecond(r, ns)
        }
    }

    private mutating func addToSecond(_ r: TraceRecord, _ ns: UInt64) {
        let sec = r.doneNS / 1_000_000_000
        var i = seconds.count
        while i > 0 && seconds[i - 1].second > sec { i -= 1 }
        if i > 0 && seconds[i - 1].second == sec {
            i -= 1
        } else {
            // Older than everything kept and the window is full: nothing to draw it in.
            if i == 0 && seconds.count >= LatencyPaneState.keepSeconds { return }
            seconds.insert(Second(second: sec), at: i)
        }
        seconds[i].all.add(ns)
        if stats.functions[r.function] != nil { seconds[i].functions[r.function, default: BucketCounts()].add(ns) }
        if seconds.count > LatencyPaneState.keepSeconds { seconds.removeFirst(seconds.count - LatencyPaneState.keepSeconds) }
    }

    /// Starts counting again (the `r` key); the selection stays.
    package mutating func reset() {
        let keep = (shown, selected, resets + 1)
        self = LatencyPaneState()
        (shown, selected, resets) = keep
        mutexBase = nil
    }

    /// Forgets everything that belonged to a server that went away (a restart): as `reset`, but
    /// not counted as one.
    package mutating func restarted() {
        reset()
        resets -= 1
    }

    /// The series in table order: all calls, then functions by calls.
    package var seriesOrder: [UInt32?] { [nil] + stats.functionsByCalls.map { Optional($0) } }

    /// Calls whose client found the mutex taken, and calls locked, since counting started.
    package var mutexWaits: (contended: UInt64, locks: UInt64) {
        guard let b = mutexBase else { return (0, 0) }
        let locks = mutexNow.locks >= b.locks ? mutexNow.locks - b.locks : 0
        let contended = mutexNow.contended >= b.contended ? mutexNow.contended - b.contended : 0
        return (min(contended, locks), locks)
    }
}
