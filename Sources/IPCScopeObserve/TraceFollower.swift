#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX

/// Follows a section's trace ring cheaply (for `ipcscope watch`): one 8-byte `pread` of
/// `trace_head` per poll, the ring only when it moved. Read-only: `O_RDONLY | O_NOFOLLOW`,
/// `pread`, `F_OFD_GETLK`; never a mapping, the mutex or a futex.
///
/// Records are counted by their position `n` in the ring's history (`trace_head` counts
/// them). A record is accepted only when the ring cannot have reused its slot by the time
/// the copy ended: `n + trace_capacity > trace_head` read again after the copy, and its
/// `seq` non-zero. Everything else the server wrote is counted in `missed`.
package final class TraceFollower {
    package let service: ServiceName
    /// The layout of the section being followed.
    package private(set) var layout: SectionLayout?
    /// The position of the next record to read.
    package private(set) var next: UInt64 = 0
    private var fd: Int32 = -1
    private var inode: UInt64 = 0

    /// What one poll found.
    package struct Poll: Sendable {
        /// New records, oldest first.
        package var records: [TraceRecord] = []
        /// Records written since the last poll that could not be read before the ring overwrote them.
        package var missed: UInt64 = 0
        /// The object was replaced by a new one (a server created a fresh section).
        package var replaced = false
        /// The object no longer exists.
        package var gone = false
        /// Whether a server holds the liveness lock.
        package var alive = false
        /// The trace head read at the start of the poll.
        package var head: UInt64 = 0

        package init() {}
    }

    /// Validates the name; nothing is opened yet.
    package init(service: String) throws(IPCError) {
        self.service = try ServiceName(service)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Opens the section and positions at its current head (only new calls will be read),
    /// or at the oldest record still in the ring when `fromStart`.
    /// - Throws: `noSuchService`, `corruptSection`, `incompatibleSection` (also: no trace ring),
    ///   `system`.
    package func start(fromStart: Bool) throws(IPCError) {
        try open()
        let head = readHead()
        next = fromStart ? head &- min(head, UInt64(layout!.traceCapacity)) : head
    }

    private func open() throws(IPCError) {
        if fd >= 0 { close(fd); fd = -1 }
        let f = try openSectionReadOnly(service)
        fd = f
        var st = stat()
        _ = fstat(fd, &st)
        inode = UInt64(st.st_ino)
        // A server creating the section holds the liveness lock before its header is written:
        // give it a moment (1 s at most) instead of calling the section broken.
        let end = monotonicNanoseconds() + 1_000_000_000
        while !(SectionIdentity(bytes: read(at: 0, count: 64))?.magicOK ?? false), lockHeld(), monotonicNanoseconds() < end {
            var pause = timespec(tv_sec: 0, tv_nsec: 20_000_000)
            nanosleep(&pause, nil)
        }
        _ = fstat(fd, &st)
        if !(SectionIdentity(bytes: read(at: 0, count: 64))?.magicOK ?? false), lockHeld() {
            throw IPCError(.corruptSection, service: service.rawValue,
                           "service '\(service)' is starting: its server holds the liveness lock but has not written the header yet; try again in a moment")
        }
        guard let id = SectionIdentity(bytes: read(at: 0, count: 64)) else {
            throw IPCError(.corruptSection, service: service.rawValue,
                           "\(service.path) is too short to be a section: remove it with 'ipcscope clean \(service)'")
        }
        let l = try id.validate(objectSize: Int(st.st_size), service: service.rawValue)
        guard l.traceCapacity > 0 else {
            // The section lacks the ring, not the command line: an unusable section (exit 1), not a usage error.
            throw IPCError(.incompatibleSection, service: service.rawValue,
                           "service '\(service)' has no trace ring (trace capacity 0): start its server with --trace-capacity 256 to watch it")
        }
        layout = l
    }

    /// Reads what the server wrote since the last poll.
    package func poll() throws(IPCError) -> Poll {
        var p = Poll()
        var st = stat()
        if lstat(service.path, &st) != 0 {
            p.gone = true
            return p
        }
        if UInt64(st.st_ino) != inode {
            try open()
            next = 0
            p.replaced = true
        }
        var held: Int32 = 0
        _ = CIPCScope_ofd_probe(fd, &held)
        p.alive = held != 0
        guard let l = layout else { return p }
        let cap = UInt64(l.traceCapacity)
        let head = readHead()
        p.head = head
        // trace_head wraps: count positions as distances modulo 2^64. A distance over 2^63 means
        // the head went back (a different section history), not 2^63 new calls.
        var count = head &- next
        if count > UInt64(Int64.max) { next = head; count = 0 }
        guard count > 0 else { return p }
        var first = next
        if count > cap {
            p.missed += count - cap
            first = head &- cap
            count = cap
        }
        let ring = read(at: l.traceOffset, count: l.traceCapacity * 64)
        let after = readHead()
        guard ring.count == l.traceCapacity * 64 else { return p }
        ring.withUnsafeBytes { b in
            for k in 0..<count {
                let n = first &+ k
                // Still in the ring when the copy ended: fewer than `cap` records written after it.
                guard after &- n < cap else { p.missed += 1; continue }
                let o = Int(n & (cap - 1)) * 64
                let seq = b.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                guard seq != 0 else { p.missed += 1; continue }
                p.records.append(TraceRecord(decoding: b, at: o))
            }
        }
        next = head
        return p
    }

    private func lockHeld() -> Bool {
        var held: Int32 = 0
        return CIPCScope_ofd_probe(fd, &held) == 0 && held != 0
    }

    private func readHead() -> UInt64 {
        let b = read(at: Int(IPCSCOPE_OFF_TRACE_HEAD), count: 8)
        guard b.count == 8 else { return 0 }
        return b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    private func read(at offset: Int, count: Int) -> [UInt8] { preadBytes(fd, at: offset, count: count) }
}
