#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

/// What a reader learns about pids from the host a section lives on, beyond the section's bytes:
/// whether a pid lives and since when, its command, whether a thread exists.
///
/// `local` asks this machine's /proc; a remote reader (`AgentConnection`) fills it from what the
/// agent on the section's host reported, so `StatusReport` and `SectionDirectory` work unchanged.
package struct HostFacts: Sendable {
    /// Field 22 of `/proc/<pid>/stat` (0: no such process).
    package var startTime: @Sendable (Int32) -> UInt64
    /// `/proc/<pid>/comm`, nil when gone or hidden.
    package var command: @Sendable (Int32) -> String?
    /// The base name and arguments from `/proc/<pid>/cmdline`, nil when gone or hidden.
    package var commandLine: @Sendable (Int32) -> String?
    /// Whether `/proc/<tid>` exists (nil: cannot be told).
    package var threadExists: @Sendable (Int32) -> Bool?
    /// `sysconf(_SC_CLK_TCK)` of that host: the unit of `startTime`.
    package var clockTicksPerSecond: UInt64
    /// CLOCK_BOOTTIME − CLOCK_MONOTONIC on that host, in nanoseconds.
    package var bootMinusMonotonicNS: @Sendable () -> UInt64
    /// The facts come from a Windows host (mbvipc-agent.exe): they know NT process ids, so an NT
    /// program's section gets commands and pid checks too (start times are CreateTime, 100 ns units).
    package var ntPids = false

    /// Whether these facts can judge the pids `snap` names: an NT program's section names NT
    /// process ids, which only a Windows host's facts know.
    package func judgesPids(of snap: Snapshot) -> Bool { !snap.ntObjects || ntPids }

    package init(startTime: @escaping @Sendable (Int32) -> UInt64, command: @escaping @Sendable (Int32) -> String?,
                 commandLine: @escaping @Sendable (Int32) -> String?, threadExists: @escaping @Sendable (Int32) -> Bool?,
                 clockTicksPerSecond: UInt64, bootMinusMonotonicNS: @escaping @Sendable () -> UInt64) {
        self.startTime = startTime
        self.command = command
        self.commandLine = commandLine
        self.threadExists = threadExists
        self.clockTicksPerSecond = clockTicksPerSecond
        self.bootMinusMonotonicNS = bootMinusMonotonicNS
    }

    /// This machine, through /proc.
    package static let local = HostFacts(
        startTime: { ProcessFacts.startTime(of: $0) }, command: { ProcessFacts.command(of: $0) },
        commandLine: { ProcessFacts.commandLine(of: $0) }, threadExists: { ProcessFacts.threadExists($0) },
        clockTicksPerSecond: UInt64(max(1, sysconf(Int32(_SC_CLK_TCK)))),
        bootMinusMonotonicNS: { PidIdentity.bootMinusMonotonic() })
}
