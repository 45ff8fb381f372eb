// Percentiles, medians and the printed table. Every latency row, framework or baseline,
// goes through `Latency(samples:)`: sorted raw samples, nearest-rank percentiles.
#if canImport(Glibc)
import Glibc
#endif

/// p50 / p99 / p99.9 of one set of round trips, in nanoseconds.
struct Latency {
    var count: Int
    var p50: Double
    var p99: Double
    var p999: Double
    var max: Double

    /// Nearest-rank percentiles of raw samples.
    init(samples: [UInt64]) {
        let s = samples.sorted()
        count = s.count
        func rank(_ q: Double) -> Double {
            guard !s.isEmpty else { return .nan }
            let i = Swift.min(s.count - 1, Swift.max(0, Int((q * Double(s.count)).rounded(.up)) - 1))
            return Double(s[i])
        }
        p50 = rank(0.50)
        p99 = rank(0.99)
        p999 = rank(0.999)
        max = s.last.map(Double.init) ?? .nan
    }

    init(count: Int, p50: Double, p99: Double, p999: Double, max: Double) {
        self.count = count; self.p50 = p50; self.p99 = p99; self.p999 = p999; self.max = max
    }
}

/// The median of a few numbers (the middle one, or the mean of the two middle ones).
func median(_ xs: [Double]) -> Double {
    let s = xs.filter { !$0.isNaN }.sorted()
    if s.isEmpty { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Formats nanoseconds for the table: "412 ns", "3.4 µs", "46 µs", "1.2 ms".
func formatNS(_ ns: Double) -> String {
    if ns.isNaN { return "-" }
    if ns < 1_000 { return "\(Int(ns.rounded())) ns" }
    if ns < 10_000 { return fixed(ns / 1_000, 2) + " µs" }
    if ns < 1_000_000 { return fixed(ns / 1_000, 1) + " µs" }
    return fixed(ns / 1_000_000, 2) + " ms"
}

/// `x` with `digits` decimals.
func fixed(_ x: Double, _ digits: Int) -> String {
    if x.isNaN { return "-" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    var p = 1.0
    for _ in 0..<digits { p *= 10 }
    let r = (abs(x) * p).rounded()
    let whole = Int(r / p)
    let frac = Int(r) - whole * Int(p)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}

/// Left- or right-pads to a width.
func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    if n >= width { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

/// Escapes a string for JSON.
func jsonString(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if c.value < 0x20 { out += "\\u00" + (c.value < 16 ? "0" : "") + String(c.value, radix: 16) } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

/// A JSON number (null for NaN).
func jsonNumber(_ x: Double) -> String {
    if x.isNaN || x.isInfinite { return "null" }
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    return fixed(x, 4)
}
