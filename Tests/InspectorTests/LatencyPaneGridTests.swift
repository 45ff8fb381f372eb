// Golden-grid tests of the latency pane (`%`): known trace records whose percentiles are worked
// out by hand below (nearest rank: the ⌈p·n⌉-th smallest), drawn at 80x24 and 120x40, in
// UTF-8 and ASCII.
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import IPCScopeSchema
import Testing
import TestSupport
@testable import IPCScopeInspector

/// Fourteen calls over three seconds (5 s, 6 s and 7 s of CLOCK_MONOTONIC):
///
/// - seq 1-10, function 1 (`echo`): sent every 100 ms from 5.0 s, latencies 10, 20, ... 100 µs.
///   p50 = 5th = 50 µs, p90 = 9th = 90 µs, p99 = p99.9 = max = 100 µs.
/// - seq 11-14, function 2: 1 ms (sent 6.1 s), 2 ms (6.2 s), 3 ms (sent 6.2015 s, while seq 12
///   runs until 6.202 s: 0.5 ms queued, 2.5 ms service), 40 ms (7.5 s).
///   p50 = 2nd = 2 ms, p90 = p99 = max = 40 ms.
/// - all 14: p50 = 7th = 70 µs, p90 = 13th (⌈12.6⌉) = 3 ms, p99 = p99.9 = max = 40 ms.
///   Queued: 13 split calls (seq 1 has no predecessor), twelve 0 and one 500 µs: p50 0,
///   p99 = 13th = 500 µs. Service: the latencies, but 2.5 ms for seq 13.
func latencyRecords() -> [TraceRecord] {
    let base: UInt64 = 5_000_000_000
    var rs: [TraceRecord] = []
    for i in 0..<10 {
        let n = UInt64(i)
        rs.append(record(n + 1, fn: 1, sent: base + n * 100_000_000, latency: (n + 1) * 10_000))
    }
    rs.append(record(11, fn: 2, sent: 6_100_000_000, latency: 1_000_000))
    rs.append(record(12, fn: 2, sent: 6_200_000_000, latency: 2_000_000))
    rs.append(record(13, fn: 2, sent: 6_201_500_000, latency: 3_000_000))
    rs.append(record(14, fn: 2, sent: 7_500_000_000, latency: 40_000_000))
    return rs
}

let latencySchema = """
    functions:
      1: { name: echo }
    """

/// A model that has seen `latencyRecords()`, with the pane shown.
func latencyModel(ascii: Bool = false, schema: Bool = true) throws -> InspectorModel {
    // At attach nothing was locked yet; by the second frame 14 calls were, 3 of them after a wait.
    var s = SectionBytes()
    s.server(served: 0)
    var m = testModel(ascii: ascii)
    if schema { m.schema = try Schema.parse(yaml: latencySchema) }
    m.ingest(s.snapshot(), now: 9_000_000_000)
    s.server(served: 14)
    s.set64(Int(IPCSCOPE_OFF_CONTENDED_COUNT), 3)
    var snap = s.snapshot()
    snap.trace = latencyRecords()
    m.ingest(snap, now: 10_000_000_000)
    _ = m.handle(key: .char("%"))
    return m
}

/// Whether `value` is `expected` to HdrHistogram's three significant digits.
func close(_ value: UInt64, _ expected: UInt64) -> Bool {
    let d = value > expected ? value - expected : expected - value
    return d * 1000 <= expected
}

@Suite struct LatencyPaneGridTests {
    @Test func percentilesAreTheHandWorkedOnes() {
        var st = LatencyStats()
        st.add(latencyRecords())
        let all = st.all.summary, echo = st.functions[1]!.summary, two = st.functions[2]!.summary
        #expect(all.count == 14 && echo.count == 10 && two.count == 4)
        for (got, want) in [(all.p50, 70_000), (all.p90, 3_000_000), (all.p99, 40_000_000), (all.p999, 40_000_000), (all.max, 40_000_000),
                            (echo.p50, 50_000), (echo.p90, 90_000), (echo.p99, 100_000), (echo.max, 100_000),
                            (two.p50, 2_000_000), (two.p90, 40_000_000), (two.max, 40_000_000)] as [(UInt64, UInt64)] {
            #expect(close(got, want), "\(got) is not \(want)")
            #expect(got <= want, "a percentile never overstates: \(got) > \(want)")
        }
        // The split: seq 13 waited 0.5 ms for seq 12; every other call found the server free.
        let q = st.functions[2]!.queuedSummary, sv = st.functions[2]!.serviceSummary
        #expect(st.functions[2]!.splitCount == 4 && st.all.splitCount == 13)
        #expect(q.p50 == 0 && close(q.p99, 500_000) && close(q.max, 500_000))
        #expect(close(sv.p50, 2_000_000) && close(sv.max, 40_000_000))
        #expect(record(13, sent: 6_201_500_000, latency: 3_000_000).serviceStartNS(previousDoneNS: 6_202_000_000) == 6_202_000_000)
        #expect(record(13, sent: 6_201_500_000, latency: 3_000_000).serviceStartNS(previousDoneNS: 6_000_000_000) == 6_201_500_000)
        // Buckets: the histogram's rows, counted exactly.
        var b = BucketCounts()
        for r in latencyRecords() { b.add(r.latencyNS) }
        #expect(LatencyBuckets.edgeText(LatencyBuckets.index(100_000)) == "100µs")
        #expect(LatencyBuckets.edgeText(LatencyBuckets.index(100_001)) == "200µs")
        #expect(b.bucket(atPercentile: 50) == LatencyBuckets.index(70_000))
        #expect(b.bucket(atPercentile: 99) == LatencyBuckets.index(40_000_000))
    }

    @Test func eightyByTwentyFour() throws {
        var m = try latencyModel()
        let g = draw(&m, width: 80, height: 24)
        let expected = [
            "─ Latency  14 calls since attach  latency: sent → answered  r resets ───────────",
            "  function             calls      p50      p90      p99    p99.9      max",
            "→ all calls               14   70.0µs   3.00ms   40.0ms   40.0ms   40.0ms",
            "  echo (1)                10   50.0µs   90.0µs  100.0µs  100.0µs  100.0µs",
            "  fn 2                     4   2.00ms   40.0ms   40.0ms   40.0ms   40.0ms",
            " queued  p50 0ns     p99 500.0µs max 500.0µs  behind other calls",
            " service p50 80.0µs  p99 40.0ms  max 40.0ms   busy 2%",
            " mutex waits: 21% of 14 calls (3 contended)",
            "─ Histogram: all calls ─────────────────────────────────────────────────────────",
            "     5µs-20µs │████████████ 2 (14.3%)",
            "   20µs-100µs │████████████████████████████████████████████████ 8 (57.1%)",
            "  100µs-500µs │",
            "    500µs-2ms │████████████ 2 (14.3%)",
            "     2ms-10ms │██████ 1 (7.1%)",
            "    10ms-50ms │██████ 1 (7.1%)",
            "─ Calls over time: a column a second, shade = the second's p99 ─────────────────",
            "                                                                         ░▓█",
            " -77s                                 -38s                                  now",
            " ░ p99 ≤100µs  ▒ ≤1ms  ▓ ≤10ms  █ more   (from its p50 ≤100µs; blank: no calls)",
        ]
        #expect(Array(g.lines[3..<22]) == expected, "\(g.lines.joined(separator: "\n"))")
        #expect(g.text(23) == "↑↓ function  r reset  % or Esc back  i client  space pause  ? help  q quit")
        // Now is 10 s: the last column is second 10, so seconds 5, 6 and 7 are columns 73-75.
        #expect(g[19, 73].role == .good && g[19, 74].role == .warning && g[19, 75].role == .bad && g[19, 76].char == " ")
    }

    @Test func oneTwentyByForty() throws {
        var m = try latencyModel()
        let g = draw(&m, width: 120, height: 40)
        let expected = [
            "  function                   calls      p50      p90      p99    p99.9      max status≠0",
            "→ all calls                     14   70.0µs   3.00ms   40.0ms   40.0ms   40.0ms        0",
            "  echo (1)                      10   50.0µs   90.0µs  100.0µs  100.0µs  100.0µs        0",
            "  fn 2                           4   2.00ms   40.0ms   40.0ms   40.0ms   40.0ms        0",
            " queued  p50 0ns     p99 500.0µs max 500.0µs  before the server could start it (behind other calls)",
            " service p50 80.0µs  p99 40.0ms  max 40.0ms   13 of 14 split (the call before unseen), server busy 2%",
            " clients waiting for the mutex: 21% of 14 calls (3 contended; before sent_ns, in no record)",
        ]
        #expect(Array(g.lines[4..<11]) == expected, "\(g.lines.joined(separator: "\n"))")
        // One bucket a row: 10 µs is in 5-10 µs (a bucket holds its upper edge), 30, 40 and 50 µs in 20-50 µs.
        let bars = g.lines[12..<24].map { $0.split(separator: "│").map { $0.trimmingCharacters(in: .whitespaces) } }
        #expect(bars.map { $0.first ?? "" } == ["5µs-10µs", "10µs-20µs", "20µs-50µs", "50µs-100µs", "100µs-200µs", "200µs-500µs",
                                                "500µs-1ms", "1ms-2ms", "2ms-5ms", "5ms-10ms", "10ms-20ms", "20ms-50ms"])
        #expect(bars.map { $0.count > 1 ? String($0[1].split(separator: " ").dropFirst().first ?? "") : "" }
                == ["1", "1", "3", "5", "", "", "1", "1", "1", "", "", "1"])
        #expect(g.text(24).hasPrefix("─ Calls over time"))
        // A line per series; the columns of seconds 5, 6 and 7 end three columns before now.
        let heat = (25...27).map { row in (111...117).map { String(g[row, $0].char) }.joined() }
        #expect(heat == ["  ░▓█  ", "  ▒    ", "   ▒▓  "], "\(heat)")
        #expect(g.text(25).hasPrefix(" all calls") && g.text(26).hasPrefix(" echo (1)") && g.text(27).hasPrefix(" fn 2"))
        #expect(g.text(29).contains("each line against its own p50"))
    }

    @Test func asciiHasNoUnicode() throws {
        var m = try latencyModel(ascii: true)
        for (w, h) in [(80, 24), (120, 40)] {
            let g = draw(&m, width: w, height: h)
            let text = g.lines.joined(separator: "\n")
            #expect(text.unicodeScalars.allSatisfy { $0.isASCII }, "\(text)")
            #expect(text.contains("> all calls") && text.contains("70.0us") && text.contains("us-100us |######"))
        }
        let g = draw(&m, width: 80, height: 24)
        #expect(g.text(19) == "                                                                         .*#")
    }

    @Test func keysSelectResetAndLeave() throws {
        var m = try latencyModel()
        _ = m.handle(key: .down)
        var g = draw(&m, width: 80, height: 24)
        #expect(g.text(6).hasPrefix("→ echo (1)"))
        #expect(g.text(11).hasPrefix("─ Histogram: echo (1) "))
        _ = m.handle(key: .down)
        g = draw(&m, width: 80, height: 24)
        // Function 2: seq 13 queued 0.5 ms behind seq 12; service 1, 2, 2.5 and 40 ms (p50 = 2nd).
        #expect(g.text(8) == " queued  p50 0ns     p99 500.0µs max 500.0µs  behind other calls")
        #expect(g.text(9).hasPrefix(" service p50 2.00ms  p99 40.0ms  max 40.0ms"))
        // Keys of hidden panes do nothing; r starts again; Esc goes back to the live screen.
        #expect(m.handle(key: .enter).isEmpty && m.focus == .request)
        _ = m.handle(key: .char("r"))
        g = draw(&m, width: 80, height: 24)
        #expect(g.text(3).hasPrefix("─ Latency  0 calls since r"))
        #expect(g.contains("(no calls yet)") && g.contains("no calls yet") && !g.contains("echo (1)"))
        _ = m.handle(key: .escape)
        g = draw(&m, width: 80, height: 24)
        #expect(g.text(8).hasPrefix("─ Request ─"))
        #expect(g.text(23).hasPrefix("i client  Tab pane  % latency"))
        #expect(draw(&m).text(39).contains("Tab pane  ↑↓ PgUp PgDn scroll  % latency"))
        // In the client pane % is text.
        _ = m.handle(key: .char("i"))
        _ = m.handle(key: .char("%"))
        #expect(!m.latency.shown && m.client.input == "%")
    }

    @Test func aRestartStartsAgain() throws {
        var m = try latencyModel()
        var s = SectionBytes()
        s.server(epoch: 2, served: 0)
        m.ingest(s.snapshot(), now: 11_000_000_000)
        let g = draw(&m, width: 80, height: 24)
        #expect(g.text(3).hasPrefix("─ Latency  0 calls since attach"), "\(g.text(3))")
        #expect(m.latency.shown)
    }
}
