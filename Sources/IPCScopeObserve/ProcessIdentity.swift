#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopePOSIX

/// Whether a pid recorded in a section still names the process that wrote it.
///
/// Pids are reused: after a server dies, its pid may belong to any later program, whose
/// command line must not be shown as the server's. The section records the server's start
/// time (`server_starttime`, field 22 of `/proc/PID/stat`); the mutex owner's record has no
/// start time, but a process that started after the lock was taken cannot be its owner.
package enum PidIdentity: Equatable, Sendable {
    /// The live process with that pid is the one recorded.
    case same
    /// No process has that pid now.
    case gone
    /// Another program has that pid now.
    case reused

    /// A short note for displays: nil when `same`.
    package var note: String? {
        switch self {
        case .same: nil
        case .gone: "pid gone"
        case .reused: "pid reused"
        }
    }

    /// The server's pid against the start time the section recorded (0: not recorded, trust a live pid).
    /// - Parameter startTime: reads a live process's start time (0 when it does not exist).
    package static func server(pid: Int32, recordedStart: UInt64,
                              startTime: (Int32) -> UInt64 = ProcessFacts.startTime(of:)) -> PidIdentity {
        guard pid > 0 else { return .gone }
        let now = startTime(pid)
        if now == 0 { return .gone }
        return recordedStart == 0 || now == recordedStart ? .same : .reused
    }

    /// A lock owner's pid: the process must have started before the lock was taken
    /// (`sinceNS`, CLOCK_MONOTONIC; 0 when unknown).
    package static func owner(pid: Int32, sinceNS: UInt64,
                             startTime: (Int32) -> UInt64 = ProcessFacts.startTime(of:),
                             clockTicksPerSecond: UInt64? = nil, bootMinusMonotonicNS: UInt64? = nil) -> PidIdentity {
        guard pid > 0 else { return .gone }
        let ticks = startTime(pid)
        if ticks == 0 { return .gone }
        guard sinceNS > 0 else { return .same }
        let hz = max(1, clockTicksPerSecond ?? UInt64(max(1, sysconf(Int32(_SC_CLK_TCK)))))
        // Start times count from boot, suspend included (CLOCK_BOOTTIME); the owner record is
        // CLOCK_MONOTONIC. One tick of slack for the start time's granularity.
        let (startNS, overflow) = (ticks / hz).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .same }
        let startBoot = startNS &+ (ticks % hz) * (1_000_000_000 / hz)
        let lockBoot = sinceNS &+ (bootMinusMonotonicNS ?? bootMinusMonotonic())
        return startBoot > lockBoot &+ 1_000_000_000 / hz ? .reused : .same
    }

    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC now (time spent suspended), in nanoseconds.
    package static func bootMinusMonotonic() -> UInt64 {
        var b = timespec(), m = timespec()
        clock_gettime(CLOCK_BOOTTIME, &b)
        clock_gettime(CLOCK_MONOTONIC, &m)
        let bn = UInt64(b.tv_sec) &* 1_000_000_000 &+ UInt64(b.tv_nsec)
        let mn = UInt64(m.tv_sec) &* 1_000_000_000 &+ UInt64(m.tv_nsec)
        return bn >= mn ? bn - mn : 0
    }
}
