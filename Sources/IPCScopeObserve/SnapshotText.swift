#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

/// ANSI colour for command-line text, or none (pipes, `NO_COLOR`).
package struct TextStyle: Sendable {
    package var enabled: Bool
    package init(enabled: Bool) { self.enabled = enabled }

    /// Colour only when `fd` is a terminal and `NO_COLOR` is unset (https://no-color.org).
    package static func forOutput(_ fd: Int32 = 1) -> TextStyle {
        TextStyle(enabled: isatty(fd) == 1 && getenv("NO_COLOR") == nil)
    }

    package func bold(_ s: String) -> String { wrap(s, "1") }
    package func dim(_ s: String) -> String { wrap(s, "2") }
    package func red(_ s: String) -> String { wrap(s, "31") }
    package func green(_ s: String) -> String { wrap(s, "32") }
    package func yellow(_ s: String) -> String { wrap(s, "33") }
    package func cyan(_ s: String) -> String { wrap(s, "36") }
    private func wrap(_ s: String, _ code: String) -> String { enabled ? "\u{1b}[\(code)m\(s)\u{1b}[0m" : s }
}

/// Human units for the command line.
package enum Units {
    /// "850 ns", "12.3 µs", "4.56 ms", "1.234 s".
    package static func duration(ns: UInt64) -> String {
        let v = Double(ns)
        if ns < 1_000 { return "\(ns) ns" }
        if ns < 1_000_000 { return fixed(v / 1e3, 1) + " µs" }
        if ns < 1_000_000_000 { return fixed(v / 1e6, 2) + " ms" }
        return fixed(v / 1e9, 3) + " s"
    }

    /// `value` with `digits` decimals.
    package static func fixed(_ value: Double, _ digits: Int) -> String {
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
    package static func wallClock(monotonicNS t: UInt64) -> String {
        WallClock.format(monotonic: t)
    }

    /// A CLOCK_MONOTONIC instant as Unix nanoseconds (CLOCK_REALTIME).
    package static func unixNS(monotonicNS t: UInt64) -> UInt64 {
        realtimeNanoseconds() &- (monotonicNanoseconds() &- t)
    }

    /// Octal mode like "0600".
    package static func mode(_ m: UInt32) -> String {
        let s = String(m, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// A user name for a uid, or the number.
    package static func user(_ uid: UInt32) -> String {
        guard let pw = getpwuid(uid), let n = pw.pointee.pw_name else { return String(uid) }
        return String(cString: n)
    }
}

// MARK: - trace records

extension TraceRecord {
    /// One line for `watch` and `status`: seq, time, function, sizes, status, latency, pid, first bytes.
    /// `clock`: the section host's clocks, for a record read through an agent (wall-clock time
    /// is then that host's); nil for a section on this machine.
    package func line(style: TextStyle = TextStyle(enabled: false), clock: HostClock? = nil) -> String {
        let st = status == 0 ? style.green("status=0") : style.red("status=\(status)")
        let time = clock.map { $0.format(monotonic: doneNS) } ?? Units.wallClock(monotonicNS: doneNS)
        var s = "#\(seq) \(time) f=\(function) req=\(requestSize) rsp=\(responseSize) \(st)"
        s += " latency=\(Units.duration(ns: latencyNS)) pid=\(clientPID)"
        if rejected { s += " " + style.red("rejected") }
        if afterRecovery { s += " " + style.yellow("after-recovery") }
        let shown = requestHead.prefix(min(16, Int(requestSize)))
        s += " \"\(HexDump.printable(shown))\"" + (requestSize > 16 ? "…" : "")
        return s
    }

    /// The record as JSON (times as CLOCK_MONOTONIC ns and as Unix ns).
    package var json: JSON {
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
