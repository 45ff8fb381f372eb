// Facts about processes and threads from /proc, for display and to tell a reused pid apart.
#if canImport(Glibc)
import Glibc
#endif

/// Facts about a process from `/proc` (of this pid namespace).
package enum ProcessFacts {
    /// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot), or 0.
    package static func startTime(of pid: Int32) -> UInt64 {
        guard let rest = statFields(pid), rest.count > 19 else { return 0 }
        // rest[0] is field 3 (state); field 22 is rest[19].
        return UInt64(rest[19]) ?? 0
    }

    /// The command name of a process (`/proc/<pid>/comm`, without its newline), or nil when it is
    /// gone or hidden.
    package static func command(of pid: Int32) -> String? {
        guard pid > 0, let s = readTextFile("/proc/\(pid)/comm") else { return nil }
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }

    /// The first line of `/proc/<pid>/comm`; nil when it is gone, hidden or empty.
    package static func name(of pid: Int32) -> String? {
        guard pid > 0 else { return nil }
        let s = readTextFile("/proc/\(pid)/comm") ?? ""
        return s.isEmpty ? nil : String(s.split(separator: "\n").first ?? "")
    }

    /// `/proc/<pid>/cmdline`, the program's base name and its arguments joined by spaces; nil when
    /// the process is gone, hidden or a kernel thread.
    package static func commandLine(of pid: Int32) -> String? {
        guard pid > 0 else { return nil }
        let s = readTextFile("/proc/\(pid)/cmdline") ?? ""
        guard !s.isEmpty else { return nil }
        var parts = s.split(separator: "\0").map(String.init)
        if let first = parts.first, let slash = first.lastIndex(of: "/") { parts[0] = String(first[first.index(after: slash)...]) }
        return parts.joined(separator: " ")
    }

    /// Whether thread (or process) `tid` exists in this pid namespace and is not a zombie.
    ///
    /// Use it on the owner tid of a mutex's kernel word: a mutex held by a thread that no longer
    /// exists (and that the kernel did not mark `FUTEX_OWNER_DIED`, because the owner's robust
    /// list was corrupt, or because the word was forged) will never be released.
    package static func threadAlive(_ tid: Int32) -> Bool {
        guard tid > 0 else { return false }
        guard let fields = statFields(tid) else { return access("/proc/\(tid)", F_OK) == 0 }
        let state = fields.first
        return state != "Z" && state != "X"
    }

    /// Whether `/proc/<tid>` exists: true, false, or nil when that cannot be told (no /proc, or
    /// a permission error) or `tid` is not a thread id.
    package static func threadExists(_ tid: Int32) -> Bool? {
        guard tid > 0 else { return nil }
        var st = stat()
        if stat("/proc/\(tid)", &st) == 0 { return true }
        return errno == ENOENT ? false : nil
    }

    /// Whether `pid` has begun to exit (the kernel's `PF_EXITING` flag, field 9 of `/proc/<pid>/stat`),
    /// or is already a zombie. Set before the dying process's files are closed, so a process that sees
    /// a lock of `pid` released by its death can tell, without waiting for the reparenting that follows.
    package static func isExiting(_ pid: Int32) -> Bool {
        guard let fields = statFields(pid), fields.count > 6 else { return false }
        if fields[0] == "Z" || fields[0] == "X" { return true }
        return (UInt32(fields[6]) ?? 0) & 0x4 != 0
    }

    /// The fields of `/proc/<pid>/stat` after the command name: field 3 (state) first.
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}

/// Clocks shown to people.
package enum WallClock {
    /// REALTIME − MONOTONIC, read once (for showing trace times as wall clock).
    package static let realtimeOffset: UInt64 = {
        var r = timespec(), m = timespec()
        clock_gettime(CLOCK_REALTIME, &r)
        clock_gettime(CLOCK_MONOTONIC, &m)
        let rn = UInt64(r.tv_sec) * 1_000_000_000 + UInt64(r.tv_nsec)
        let mn = UInt64(m.tv_sec) * 1_000_000_000 + UInt64(m.tv_nsec)
        return rn &- mn
    }()

    /// A CLOCK_MONOTONIC time as local wall-clock `HH:MM:SS.mmm`.
    package static func format(monotonic: UInt64) -> String {
        let real = Int64(bitPattern: monotonic) &+ Int64(bitPattern: realtimeOffset)
        var t = time_t(real / 1_000_000_000)
        var tm = tm()
        localtime_r(&t, &tm)
        let ms = Int((real / 1_000_000) % 1000)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + "\(ms)"
    }
}
