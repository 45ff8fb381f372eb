// The table and the JSON: medians over runs, with the spread (min–max), and the targets.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench

enum Report {
    /// A target: a ratio or figure, the bound, and which way it must hold.
    struct Target {
        var name: String
        var values: [Double]
        var bound: Double
        var atMost: Bool
        var unit: String
        var pass: Bool { let m = median(values); return atMost ? m <= bound : m >= bound }
    }

    /// Whether `--pin` placed the server and the clients on fixed CPUs.
    static var pinned: Bool { getenv("IPCSCOPE_BENCH_PIN").map { String(cString: $0) == "1" } ?? false }

    /// What each interleaved measurement compares, by kind, and how its per-pair value reads.
    static let pairKinds: [(kind: String, label: String)] = [
        ("spin", "hot path, 64 B: call / raw spin"),
        ("futex", "blocking, 64 B: spaced call / raw futex spaced"),
        ("serve", "ipcscope serve --echo / bench server, 64 B"),
        ("c", "C library (libmbvipc) / Swift framework, 64 B"),
        ("reader", "attach reader: throughput lost, %"),
    ]

    /// The per-pair values of one kind: ratios, or for the reader the throughput lost in %.
    static func perPair(_ p: Pairs, _ kind: String) -> [Double] {
        kind == "reader" ? p.ratios.map { (1 - $0) * 100 } : p.ratios
    }

    /// The interleaved section: per run and kind, median and spread of the pairs, then every pair.
    static func pairLines(_ rs: [RunResult]) -> [String] {
        var out = ["interleaved pairs (a baseline window, then a framework window, repeated; one ratio per pair)"]
        for (i, r) in rs.enumerated() {
            for (kind, label) in pairKinds {
                guard let p = r.pairs[kind] else { continue }
                let v = perPair(p, kind)
                let unit = kind == "reader" ? "%" : "x"
                out.append(pad("  " + (rs.count > 1 ? "run \(i + 1): " : "") + label, 58)
                           + "\(v.count) pairs  " + Pairs.summary(v, unit: unit))
                let what = kind == "reader" ? "calls/s" : "p50"
                let f = kind == "reader" ? { (x: Double) in fixed(x / 1000, 0) + "k" } : formatNS
                out.append("      median \(what): baseline windows \(f(median(p.base))), framework windows \(f(median(p.framework)))")
                out.append("      pairs: " + v.map { fixed($0, kind == "reader" ? 1 : 2) }.joined(separator: " "))
            }
        }
        return out
    }

    static func targets(_ rs: [RunResult]) -> [Target] {
        func per(_ f: (RunResult) -> Double?) -> [Double] { rs.map { f($0) ?? .nan } }
        func pairs(_ kind: String) -> [Double] { per { $0.pairs[kind].map { median($0.ratios) } } }
        return [
            Target(name: "hot path: call / raw spin p50, 64 B (pairs\(pinned ? ", pinned" : ""))",
                   values: pairs("spin"), bound: pinned ? 2 : 3, atMost: true, unit: "x"),
            Target(name: "ipcscope serve --echo p50 / bench server p50 (pairs)",
                   values: pairs("serve"), bound: 1.3, atMost: true, unit: "x"),
            Target(name: "unix-socket echo p50 / call p50 (64 B)",
                   values: per { r in r.row("unix-64").flatMap { u in r.row("call1-64").map { u.p50 / $0.p50 } } },
                   bound: 30, atMost: false, unit: "x"),
            Target(name: "blocking: spaced call p50 / raw futex spaced p50 (pairs)",
                   values: pairs("futex"),
                   bound: 1.3, atMost: true, unit: "x"),
            Target(name: "idle server CPU (% of a core)", values: per { $0.scalars["idle_server_pct"] },
                   bound: 1, atMost: true, unit: "%"),
            Target(name: "idle connected client CPU (% of a core)", values: per { $0.scalars["idle_client_pct"] },
                   bound: 1, atMost: true, unit: "%"),
            Target(name: "allocations per call, client call(into:)", values: per { $0.scalars["alloc_client"] },
                   bound: 0, atMost: true, unit: ""),
            Target(name: "allocations per call, server loop", values: per { $0.scalars["alloc_server"] },
                   bound: 0.01, atMost: true, unit: ""),
            Target(name: "allocations per call, serve --echo loop", values: per { $0.scalars["alloc_serve_echo"] },
                   bound: 0.01, atMost: true, unit: ""),
            Target(name: "allocations per call, serve --script loop", values: per { $0.scalars["alloc_serve_script"] },
                   bound: 0.01, atMost: true, unit: ""),
            Target(name: "attach reader: throughput lost (%)", values: per { $0.scalars["reader_overhead_pct"] },
                   bound: 3, atMost: true, unit: "%"),
        ]
    }

    /// "median (min–max)" of values, formatted by `f`; just the median for one run.
    static func spread(_ xs: [Double], _ f: (Double) -> String) -> String {
        let v = xs.filter { !$0.isNaN }
        guard !v.isEmpty else { return "-" }
        if v.count == 1 { return f(v[0]) }
        return "\(f(median(v))) (\(f(v.min()!))–\(f(v.max()!)))"
    }

    static func table(_ rs: [RunResult], _ c: Config) -> String {
        var out: [String] = []
        let runs = rs.count
        out.append("ipcscope-bench: \(runs) run\(runs == 1 ? "" : "s")\(c.quick ? " (--quick)" : ""); "
                   + "\(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cpus; server spin \(c.serverSpinNS / 1000) µs, client spin \(c.clientSpinNS / 1000) µs"
                   + (c.withReader ? "; reader polling throughout" : ""))
        out.append(runs > 1 ? "figures: median over runs (min–max across runs); percentiles are nearest-rank over all samples of a run"
                            : "percentiles are nearest-rank over all samples")
        out.append("")
        let w = 46, cw = 26
        out.append(pad("round trip", w) + pad("samples", 9, right: true) + "  " + pad("p50", cw) + pad("p99", cw) + "p99.9")
        for row in rs[0].rows {
            let lat = rs.compactMap { $0.row(row.key) }
            out.append(pad(row.label, w) + pad(String(lat[0].count), 9, right: true) + "  "
                       + pad(spread(lat.map(\.p50), formatNS), cw) + pad(spread(lat.map(\.p99), formatNS), cw)
                       + spread(lat.map(\.p999), formatNS))
        }
        out.append("")
        func scalar(_ k: String) -> [Double] { rs.map { $0.scalars[k] ?? .nan } }
        let kcalls = { (x: Double) in fixed(x / 1000, 0) + "k" }
        out.append(pad("throughput, 64 B, calls/s", w + 11) + "")
        out.append(pad("  1 client", w + 11) + spread(scalar("tput1"), kcalls))
        out.append(pad("  4 clients", w + 11) + spread(scalar("tput4"), kcalls))
        if !c.withReader {
            out.append(pad("  1 client, windows without the reader", w + 11) + spread(scalar("tput_reader_off"), kcalls))
            out.append(pad("  1 client, windows with a reader every \(c.readerIntervalMS) ms (attach)", w + 11) + spread(scalar("tput_reader_on"), kcalls))
        }
        out.append(pad("idle CPU over \(fixed(c.idleSeconds, 0)) s, % of a core", w + 11))
        out.append(pad("  server", w + 11) + spread(scalar("idle_server_pct"), { fixed($0, 2) + "%" }))
        out.append(pad("  connected client between calls", w + 11) + spread(scalar("idle_client_pct"), { fixed($0, 2) + "%" }))
        out.append(pad("heap allocations per call", w + 11))
        out.append(pad("  client call(function:payload:into:)", w + 11) + spread(scalar("alloc_client"), { fixed($0, 3) }))
        out.append(pad("  client call(function:payload:) (check: its answer, 1)", w + 11)
                   + spread(scalar("alloc_client_array"), { fixed($0, 3) }))
        out.append(pad("  server run loop", w + 11) + spread(scalar("alloc_server"), { fixed($0, 3) }))
        let perCall = { (key: String) in spread(scalar(key), { fixed($0, 3) }) }
        out.append(pad("  serve --echo: serving thread", w + 11) + perCall("alloc_serve_echo"))
        out.append(pad("    whole process (its log thread, to a file)", w + 11) + perCall("alloc_serve_echo_process"))
        out.append(pad("  serve --script --quiet: serving thread", w + 11) + perCall("alloc_serve_script"))
        out.append(pad("    whole process", w + 11) + perCall("alloc_serve_script_process"))
        out.append(pad("  serve --script (logged): serving thread", w + 11) + perCall("alloc_serve_script_logged"))
        out.append(pad("    whole process (its log thread, to a file)", w + 11) + perCall("alloc_serve_script_logged_process"))
        out.append("")
        out.append(contentsOf: pairLines(rs))
        out.append("")
        out.append(pad("target", w + 11) + pad("measured", 30) + pad("goal", 10) + "verdict")
        for t in targets(rs) {
            let f = { (x: Double) in t.unit == "x" ? fixed(x, 2) + "x" : (t.unit == "%" ? fixed(x, 2) + "%" : fixed(x, 3)) }
            let goal = (t.atMost ? "<= " : ">= ") + (t.unit == "x" ? fixed(t.bound, 1) + "x" : (t.unit == "%" ? fixed(t.bound, 0) + "%" : "0"))
            out.append(pad(t.name, w + 11) + pad(spread(t.values, f), 30) + pad(goal, 10) + (t.pass ? "PASS" : "MISS"))
        }
        return out.joined(separator: "\n")
    }

    static func json(_ rs: [RunResult], _ c: Config) -> String {
        var parts: [String] = []
        parts.append("\"runs\": \(rs.count)")
        parts.append("\"quick\": \(c.quick)")
        parts.append("\"server_spin_ns\": \(c.serverSpinNS)")
        parts.append("\"client_spin_ns\": \(c.clientSpinNS)")
        var rows: [String] = []
        for row in rs[0].rows {
            let lat = rs.compactMap { $0.row(row.key) }
            func arr(_ xs: [Double]) -> String { "[" + xs.map(jsonNumber).joined(separator: ", ") + "]" }
            rows.append("{\"key\": \(jsonString(row.key)), \"label\": \(jsonString(row.label)), \"samples\": \(lat[0].count), "
                        + "\"p50_ns\": \(arr(lat.map(\.p50))), \"p99_ns\": \(arr(lat.map(\.p99))), \"p999_ns\": \(arr(lat.map(\.p999))), "
                        + "\"max_ns\": \(arr(lat.map(\.max)))}")
        }
        parts.append("\"rows\": [\n    " + rows.joined(separator: ",\n    ") + "\n  ]")
        let keys = Set(rs.flatMap { $0.scalars.keys }).sorted()
        parts.append("\"scalars\": {" + keys.map { k in
            "\(jsonString(k)): [" + rs.map { jsonNumber($0.scalars[k] ?? .nan) }.joined(separator: ", ") + "]"
        }.joined(separator: ", ") + "}")
        parts.append("\"pairs\": {" + pairKinds.map { k in
            "\(jsonString(k.kind)): [" + rs.map { r in
                "[" + (r.pairs[k.kind].map { perPair($0, k.kind) } ?? []).map(jsonNumber).joined(separator: ", ") + "]"
            }.joined(separator: ", ") + "]"
        }.joined(separator: ", ") + "}")
        parts.append("\"targets\": [" + targets(rs).map { t in
            "{\"name\": \(jsonString(t.name)), \"median\": \(jsonNumber(median(t.values))), \"bound\": \(jsonNumber(t.bound)), "
                + "\"at_most\": \(t.atMost), \"pass\": \(t.pass)}"
        }.joined(separator: ", ") + "]")
        return "{\n  " + parts.joined(separator: ",\n  ") + "\n}"
    }
}
