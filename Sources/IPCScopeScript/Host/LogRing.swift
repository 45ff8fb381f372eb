import CIPCScope
import IPCScopeKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

/// A bounded single-producer, single-consumer ring: the serving thread pushes one entry per
/// call, the logging thread drains them. Pushing never blocks and never allocates (the slots
/// are allocated once); when the ring is full the entry is counted as dropped instead.
package final class LogRing<Entry>: @unchecked Sendable {
    private let mask: Int
    private let slots: UnsafeMutablePointer<Entry>
    /// Entries ever pushed (written by the producer only).
    private let pushed = Atomic<Int>(0)
    /// Entries ever drained (written by the consumer only).
    private let drained = Atomic<Int>(0)
    /// Entries the producer could not push because the ring was full.
    package let dropped = Atomic<Int>(0)

    /// `capacity` is rounded up to a power of two.
    package init(capacity: Int) {
        var c = 1
        while c < capacity { c <<= 1 }
        mask = c - 1
        slots = .allocate(capacity: c)
    }

    deinit {
        let from = drained.load(ordering: .relaxed), to = pushed.load(ordering: .relaxed)
        for i in from..<to { (slots + (i & mask)).deinitialize(count: 1) }
        slots.deallocate()
    }

    /// Producer side: stores `entry`, or counts it dropped when the consumer is a whole ring behind.
    @inline(__always)
    package func push(_ entry: Entry) {
        let w = pushed.load(ordering: .relaxed)
        if w &- drained.load(ordering: .acquiring) > mask {
            dropped.add(1, ordering: .relaxed)
            return
        }
        (slots + (w & mask)).initialize(to: entry)
        pushed.store(w &+ 1, ordering: .releasing)
    }

    /// Consumer side: hands every pushed entry to `body` in order; returns how many.
    package func drain(_ body: (Entry) -> Void) -> Int {
        let r = drained.load(ordering: .relaxed)
        let w = pushed.load(ordering: .acquiring)
        for i in r..<w { body((slots + (i & mask)).move()) }
        drained.store(w, ordering: .releasing)
        return w &- r
    }
}

/// The facts of one `--echo` call, fixed size: recording it costs no allocation.
package struct EchoCall {
    package var seq: UInt64 = 0
    package var function: UInt32 = 0
    package var size: Int = 0
    package var clientPID: Int32 = 0
    package var clientTID: Int32 = 0
    package var elapsedNS: UInt64 = 0
    /// The first 32 request bytes (`size` says how many of them count).
    package var head: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    /// The request bytes kept (at most 32).
    package var headBytes: [UInt8] {
        var h = head
        return withUnsafeBytes(of: &h) { Array($0.prefix(min(max(size, 0), 32))) }
    }
}

/// `serve`'s log, written by its own thread so that the serving thread never formats or writes
/// a line: the server pushes each call's facts into a ring; this thread drains it every few
/// milliseconds and writes the lines in one `write`. When the output cannot keep up (a slow
/// pipe, a terminal), calls are not slowed down: their lines are dropped and one line says how
/// many were missed.
package final class ServeLogger<Entry>: @unchecked Sendable {
    package let ring: LogRing<Entry>
    private let format: (Entry) -> String
    private let missedLine: (Int) -> String
    private let stopping = Atomic<Bool>(false)
    private let exited = Atomic<Bool>(false)
    private var reportedDrops = 0
    private var started = false

    /// - Parameters:
    ///   - capacity: entries the ring holds between two drains.
    ///   - format: one log line (without newline) for an entry; runs on the logging thread.
    ///   - missed: the line that reports `n` dropped lines.
    package init(capacity: Int = 8192, format: @escaping (Entry) -> String, missed: @escaping (Int) -> String) {
        ring = LogRing(capacity: capacity)
        self.format = format
        missedLine = missed
    }

    /// Starts the logging thread (signals stay blocked in it, as in every thread `serve` starts).
    package func start() {
        do {
            _ = try OSThread(detached: true) { [self] in loop() }
            started = true
        } catch {
            exited.store(true, ordering: .releasing)
            printError("\(error) for the log: serving without log lines")
        }
    }

    /// Writes what is left and stops the thread. Waits at most `timeoutNS` (stdout may be a
    /// pipe nobody reads); returns whether everything was written.
    @discardableResult
    package func finish(timeoutNS: UInt64 = 1_000_000_000) -> Bool {
        guard started else { return true }
        stopping.store(true, ordering: .releasing)
        let until = monotonicNanoseconds() &+ timeoutNS
        while !exited.load(ordering: .acquiring) {
            if monotonicNanoseconds() >= until { return false }
            usleep(1_000)
        }
        return true
    }

    private func loop() {
        // The lowest share of the CPU (nice 19, this thread only): on a busy machine the log
        // must not take a CPU from the server or its clients. If it cannot keep up, the ring
        // fills and lines are dropped and counted, never the calls slowed.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(CIPCScope_gettid()), 19)
        var batch = ""
        batch.reserveCapacity(1 << 16)
        while true {
            let last = stopping.load(ordering: .acquiring)
            let n = ring.drain { entry in
                batch += format(entry)
                batch += "\n"
            }
            let dropped = ring.dropped.load(ordering: .relaxed)
            if dropped != reportedDrops {
                batch += missedLine(dropped - reportedDrops) + "\n"
                reportedDrops = dropped
            }
            if !batch.isEmpty {
                writeAll(batch, to: 1)
                batch.removeAll(keepingCapacity: true)
            }
            if last { break }
            // Busy: come back soon with the next batch. Idle: a few wakeups a second cost nothing.
            usleep(n > 0 ? 2_000 : 20_000)
        }
        exited.store(true, ordering: .releasing)
    }
}
