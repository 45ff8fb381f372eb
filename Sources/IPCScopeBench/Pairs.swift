// Interleaved measurement: short alternating windows (baseline, framework, baseline, framework,
// ...) from one process, a ratio per pair. This host's cross-CPU latency changes phase every few
// seconds; a baseline and the row it is compared with land in the same phase only when they are
// measured a few milliseconds apart, so the verdicts use the median of the per-pair ratios.
//
//   --role pairs KIND NAME SPIN_NS PAYLOAD PAIRS WINDOW GAP_NS OTHER
//       KIND spin:  raw spin ping-pong window, then WINDOW calls to NAME
//       KIND futex: raw futex spaced window (GAP_NS apart), then WINDOW calls to NAME, as far apart
//       KIND serve: WINDOW calls to OTHER (the bench's own server), then WINDOW calls to NAME
//       KIND c:     WINDOW calls to NAME (the bench's own server), then WINDOW calls by the C library
//                   to OTHER (the C library's echo server, `--role cserver OTHER`)
//       prints "ok base=P50,... fw=P50,... calls=N" (p50 of each window, ns)
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import IPCScopeKit

/// The per-pair ratios of one interleaved measurement.
struct Pairs {
    var base: [Double]
    var framework: [Double]

    /// framework p50 / baseline p50, per pair.
    var ratios: [Double] { zip(framework, base).map { $0 / $1 } }

    /// Nearest-rank quantile of the ratios.
    static func quantile(_ xs: [Double], _ q: Double) -> Double {
        let s = xs.filter { !$0.isNaN }.sorted()
        guard !s.isEmpty else { return .nan }
        return s[min(s.count - 1, max(0, Int((q * Double(s.count)).rounded(.up)) - 1))]
    }

    /// "median 2.31x  p25–p75 2.10–2.52x  min–max 1.80–3.91x" for any per-pair values.
    static func summary(_ xs: [Double], unit: String, digits: Int = 2) -> String {
        guard !xs.isEmpty else { return "-" }
        let f = { (x: Double) in fixed(x, digits) }
        return "median \(f(median(xs)))\(unit)  p25–p75 \(f(quantile(xs, 0.25)))–\(f(quantile(xs, 0.75)))\(unit)"
            + "  min–max \(f(xs.min()!))–\(f(xs.max()!))\(unit)"
    }
}

extension Roles {
    /// The `pairs` role (see the top of this file).
    static func pairs(kind: String, name: String, spinNS: UInt64, payload: Int, pairs: Int, window: Int,
                      gapNS: UInt64, other: String) throws {
        var options = ClientOptions()
        options.spin = .nanoseconds(Int64(spinNS))
        let client = try Client(service: name, options: options)
        let reference = kind == "serve" ? try Client(service: other, options: options) : nil
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: max(payload, 1), alignment: 64)
        for i in 0..<request.count { request[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let response = UnsafeMutableRawBufferPointer.allocate(byteCount: max(client.responseCapacity, reference?.responseCapacity ?? 0),
                                                              alignment: 64)
        var samples = [UInt64](repeating: 0, count: window)
        let req = UnsafeRawBufferPointer(rebasing: request[0..<payload])
        var bad = 0

        /// WINDOW timed calls to `c` (each after `gap`), their p50.
        func calls(_ c: Client, gap: UInt64) throws -> Double {
            try samples.withUnsafeMutableBufferPointer { s in
                for i in 0..<window {
                    if gap > 0 { CIPCBench_sleep_ns(gap) }
                    let t = CIPCBench_now_ns()
                    let r = try c.call(function: 1, payload: req, into: response, timeout: .seconds(20))
                    s[i] = CIPCBench_now_ns() &- t
                    if r.status != 0 || r.count != payload { bad += 1 }
                }
            }
            return Latency(samples: samples).p50
        }
        /// One raw baseline window, its p50.
        func raw(_ body: (Int32, UnsafeMutablePointer<UInt64>) -> Int32) throws -> Double {
            let r = samples.withUnsafeMutableBufferPointer { body(Int32(window), $0.baseAddress!) }
            guard r == 0 else { throw BenchError("baseline failed: errno \(r)") }
            return Latency(samples: samples).p50
        }

        // Warm both sides up once, outside the pairs.
        for _ in 0..<200 { _ = try client.call(function: 1, payload: req, into: response) }
        if let reference { for _ in 0..<200 { _ = try reference.call(function: 1, payload: req, into: response) } }
        var base: [Double] = [], fw: [Double] = []
        let cConn = kind == "c" ? CIPCBench_mbv_connect(other) : nil
        if kind == "c" && cConn == nil { throw BenchError("the C library cannot connect to \(other)") }
        for _ in 0..<pairs {
            if kind == "c" {
                base.append(try calls(client, gap: 0))
                fw.append(try raw { CIPCBench_mbv_calls(cConn, $0, Int32(payload), $1) })
                continue
            }
            switch kind {
            case "spin": base.append(try raw { CIPCBench_spin_pingpong($0, 50, Int32(payload), $1) })
            case "futex": base.append(try raw { CIPCBench_futex_spaced($0, 1, Int32(payload), gapNS, $1) })
            default: base.append(try calls(reference!, gap: gapNS))
            }
            fw.append(try calls(client, gap: kind == "futex" ? gapNS : 0))
        }
        guard bad == 0 else { throw BenchError("\(bad) calls answered wrongly") }
        let list = { (xs: [Double]) in xs.map { String(Int($0.rounded())) }.joined(separator: ",") }
        say("ok base=\(list(base)) fw=\(list(fw)) calls=\(pairs * window)")
    }
}

extension Roles {
    /// The C library's echo server (`--role cserver NAME`); prints "ready" once serving.
    static func cserver(name: String) throws {
        let r = CIPCBench_mbv_serve(name) { say("ready pid=\(getpid())") }
        throw BenchError("the C library's server for \(name) failed: error \(r)")
    }
}

extension Bench {
    /// Runs the `pairs` role once and reads its windows back.
    static func pairs(_ c: Config, kind: String, name: String, other: String = "-", payload: Int = 64, window: Int,
                      gapNS: UInt64 = 0, tag: String) throws -> Pairs {
        let child = try Child(role: ["pairs", kind, name, String(c.clientSpinNS), String(payload), String(c.pairs),
                                     String(window), String(gapNS), other], tag: tag)
        let budget = 60 + Double(c.pairs * window * 2) * (Double(gapNS) / 1e9 + 100e-6)
        try child.finish(within: budget, what: "pairs \(tag)")
        let f = fields(child.output.split(separator: "\n").last.map(String.init) ?? "")
        let base = (f["base"] ?? "").split(separator: ",").compactMap { Double($0) }
        let fw = (f["fw"] ?? "").split(separator: ",").compactMap { Double($0) }
        guard base.count == c.pairs, fw.count == c.pairs else { throw BenchError("pairs \(tag) printed \(child.output)") }
        return Pairs(base: base, framework: fw)
    }

    /// `ipcscope serve NAME --echo` as a user runs it, its log to a file; nil when the
    /// `ipcscope` binary is not beside this one.
    static func startServe(_ name: String, tag: String) throws -> Child? {
        let path = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.startIndex)]) + "/ipcscope"
        guard access(path, X_OK) == 0 else { return nil }
        let child = try Child(executable: path, arguments: ["serve", name, "--echo"], tag: tag)
        if let pin = getenv("IPCSCOPE_BENCH_PIN"), String(cString: pin) == "1" { _ = CIPCBench_pin_pid(child.pid, 0) }
        _ = try child.waitForLine("serving", within: 20, what: "ipcscope serve")
        return child
    }
}
