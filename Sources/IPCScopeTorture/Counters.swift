// A client's tallies in a shared file, so the driver reads them even after the client is
// SIGKILLed, and so the driver can tell the client that it was stopped mid-call.
#if canImport(Glibc)
import Glibc
#endif

/// UInt64 counters in a `MAP_SHARED` file; one client writes them, the driver reads them.
struct Counters {
    enum Field: Int, CaseIterable {
        /// Calls answered with exactly the bytes sent (status 0).
        case ok
        /// Calls answered with other bytes or another status: must stay 0.
        case wrong
        /// Calls that returned (answer or error) later than their deadline plus the grace: must stay 0.
        case late
        /// Calls that hit their deadline (a stopped or dead server): expected under chaos.
        case timeouts
        /// Calls that learnt the server died or restarted: expected under chaos.
        case gone
        /// Other errors (no section yet, not running, …): expected while a server restarts.
        case otherErrors
        /// Bumped by the driver before it SIGSTOPs this client: a call that spans a stop is not timed.
        case stopEpoch
        /// CLOCK_MONOTONIC of the last good answer.
        case lastOkNS
        /// Calls whose timing was not judged because the client itself was stopped.
        case stoppedMidCall
        /// Calls answered -4 with no bytes: pending when the server stopped cleanly (expected).
        case shutdownAnswers
    }

    static let size = 4096
    let base: UnsafeMutableRawPointer

    /// Maps `path`, creating it zeroed if needed.
    init?(path: String) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        if st.st_size < Counters.size { guard ftruncate(fd, off_t(Counters.size)) == 0 else { return nil } }
        guard let p = mmap(nil, Counters.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        base = p
    }

    subscript(_ f: Field) -> UInt64 {
        get { base.load(fromByteOffset: 8 * f.rawValue, as: UInt64.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: 8 * f.rawValue, as: UInt64.self) }
    }

    func add(_ f: Field, _ n: UInt64 = 1) { self[f] = self[f] &+ n }

    func unmap() { munmap(base, Counters.size) }
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNS() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}


