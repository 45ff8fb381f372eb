#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit

/// ANSI colour for command-line text, or none (pipes, `NO_COLOR`).
public struct TextStyle: Sendable {
    public var enabled: Bool
    public init(enabled: Bool) { self.enabled = enabled }

    /// Colour only when `fd` is a terminal and `NO_COLOR` is unset (https://no-color.org).
    public static func forOutput(_ fd: Int32 = 1) -> TextStyle {
        TextStyle(enabled: isatty(fd) == 1 && getenv("NO_COLOR") == nil)
    }

    public func bold(_ s: String) -> String { wrap(s, "1") }
    public func dim(_ s: String) -> String { wrap(s, "2") }
    public func red(_ s: String) -> String { wrap(s, "31") }
    public func green(_ s: String) -> String { wrap(s, "32") }
    public func yellow(_ s: String) -> String { wrap(s, "33") }
    public func cyan(_ s: String) -> String { wrap(s, "36") }
    private func wrap(_ s: String, _ code: String) -> String { enabled ? "\u{1b}[\(code)m\(s)\u{1b}[0m" : s }
}

/// Human units for the command line.
public enum Units {
    /// "850 ns", "12.3 µs", "4.56 ms", "1.234 s".
    public static func duration(ns: UInt64) -> String {
        let v = Double(ns)
        if ns < 1_000 { return "\(ns) ns" }
        if ns < 1_000_000 { return fixed(v / 1e3, 1) + " µs" }
        if ns < 1_000_000_000 { return fixed(v / 1e6, 2) + " ms" }
        return fixed(v / 1e9, 3) + " s"
    }

    /// `value` with `digits` decimals.
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        let r = (value * p).rounded() / p
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
            if digits == 0 { s = String(s[..<dot]) }
        } else if digits > 0 {
            s += "." + String(repeating: "0", count: digits)
        }
        return s
    }

    /// A CLOCK_MONOTONIC instant as local wall-clock time "HH:MM:SS.mmm".
    public static func wallClock(monotonicNS t: UInt64) -> String {
        let nowMono = monotonicNanoseconds(), nowWall = realtimeNanoseconds()
        let wall = nowWall &- (nowMono &- t)
        var secs = time_t(wall / 1_000_000_000)
        var tmv = tm()
        localtime_r(&secs, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = Int(wall / 1_000_000 % 1000)
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(two(tmv.tm_hour)):\(two(tmv.tm_min)):\(two(tmv.tm_sec)).\(msText)"
    }

    /// A CLOCK_MONOTONIC instant as Unix nanoseconds (CLOCK_REALTIME).
    public static func unixNS(monotonicNS t: UInt64) -> UInt64 {
        realtimeNanoseconds() &- (monotonicNanoseconds() &- t)
    }

    /// Octal mode like "0600".
    public static func mode(_ m: UInt32) -> String {
        let s = String(m, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// A user name for a uid, or the number.
    public static func user(_ uid: UInt32) -> String {
        guard let pw = getpwuid(uid), let n = pw.pointee.pw_name else { return String(uid) }
        return String(cString: n)
    }
}

// MARK: - trace records

extension TraceRecord {
    /// One line for `watch` and `status`: seq, time, function, sizes, status, latency, pid, first bytes.
    public func line(style: TextStyle = TextStyle(enabled: false)) -> String {
        let st = status == 0 ? style.green("status=0") : style.red("status=\(status)")
        var s = "#\(seq) \(Units.wallClock(monotonicNS: doneNS)) f=\(function) req=\(requestSize) rsp=\(responseSize) \(st)"
        s += " latency=\(Units.duration(ns: latencyNS)) pid=\(clientPID)"
        if rejected { s += " " + style.red("rejected") }
        if afterRecovery { s += " " + style.yellow("after-recovery") }
        let shown = requestHead.prefix(min(16, Int(requestSize)))
        s += " \"\(HexDump.printable(shown))\"" + (requestSize > 16 ? "…" : "")
        return s
    }

    /// The record as JSON (times as CLOCK_MONOTONIC ns and as Unix ns).
    public var json: JSON {
        .object([
            ("seq", .uint(seq)), ("function", .number(function)), ("status", .number(status)),
            ("request_size", .number(requestSize)), ("response_size", .number(responseSize)),
            ("client_pid", .number(clientPID)), ("flags", .number(flags)),
            ("rejected", .bool(rejected)), ("after_recovery", .bool(afterRecovery)),
            ("sent_ns", .uint(sentNS)), ("done_ns", .uint(doneNS)),
            ("time_unix_ns", .uint(Units.unixNS(monotonicNS: doneNS))),
            ("latency_ns", .uint(latencyNS)),
            ("request_head_hex", .hex(requestHead.prefix(min(16, Int(requestSize))))),
        ])
    }
}
