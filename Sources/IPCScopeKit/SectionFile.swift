#if canImport(Glibc)
import Glibc
#endif
import CIPCScope

/// An open shared-memory object and, once mapped, its mapping.
///
/// Owns the descriptor and the mapping; `close()` (or deinit) releases both.
final class SectionFile {
    let service: ServiceName
    private(set) var fd: Int32
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var mappedSize: Int = 0

    init(service: ServiceName, fd: Int32) {
        self.service = service
        self.fd = fd
    }

    deinit { close() }

    /// Opens the object without blocking (`O_NONBLOCK`: a FIFO planted under the name cannot hang
    /// the caller) and refuses anything `fstat` does not call a regular file, naming what it is.
    /// `ENOENT` and friends become the framework's errors.
    static func open(_ service: ServiceName, flags: Int32, mode: mode_t = 0o600) throws(IPCError) -> SectionFile {
        let fd = try SectionObject.openDescriptor(service, flags: flags, mode: mode)
        return SectionFile(service: service, fd: fd)
    }

    /// `fstat` of the object.
    func stat() throws(IPCError) -> Glibc.stat {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw IPCError.system("fstat", service: service.rawValue, errno: Glibc.errno) }
        return st
    }

    /// Reads up to `count` bytes at `offset` with `pread` (never faults on a short object).
    func read(at offset: Int, count: Int) -> [UInt8] { preadBytes(fd, at: offset, count: count) }

    /// Maps `size` bytes shared, read-write, prefaulted.
    func map(size: Int) throws(IPCError) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)
        if p == MAP_FAILED || p == nil { throw IPCError.system("mmap", service: service.rawValue, errno: Glibc.errno) }
        base = p
        mappedSize = size
        return p!
    }

    /// Whether another open file description holds the liveness lock (a server lives).
    /// Only a write lock counts: any reader can take a read lock.
    func serverLockHeld() -> Bool { SectionObject.serverLockHeld(fd: fd) }

    /// Whether `/dev/shm/ipcscope.<name>` names the object `file` has open (same inode).
    static func pathNames(_ file: SectionFile, _ service: ServiceName) -> Bool {
        guard let ours = try? file.stat() else { return false }
        var st = Glibc.stat()
        guard Glibc.lstat(service.path, &st) == 0 else { return false }
        return st.st_ino == ours.st_ino && st.st_dev == ours.st_dev
    }

    func unmap() {
        if let b = base { munmap(b, mappedSize) }
        base = nil
        mappedSize = 0
    }

    func close() {
        unmap()
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }
}

/// Facts about a process from `/proc`, for display and to tell a reused pid apart.
public enum ProcessFacts {
    /// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot), or 0.
    public static func startTime(of pid: Int32) -> UInt64 {
        guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return 0 }
        let rest = stat[stat.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); field 22 is rest[19].
        guard rest.count > 19 else { return 0 }
        return UInt64(rest[19]) ?? 0
    }

    /// The command name of a process (`/proc/<pid>/comm`), or nil when it is gone or hidden.
    public static func command(of pid: Int32) -> String? {
        guard pid > 0, let s = readTextFile("/proc/\(pid)/comm") else { return nil }
        return s.hasSuffix("\n") ? String(s.dropLast()) : s
    }
}

/// Up to `count` bytes at `offset` of `fd` with `pread` (retrying EINTR); fewer at the end of the
/// object, none on error. Never maps, so a truncated object cannot raise SIGBUS.
/// `offset` and `count` may come from a section: a negative or overflowing range reads nothing,
/// and a count over 1 MiB is first cut to what the object holds.
public func preadBytes(_ fd: Int32, at offset: Int, count: Int) -> [UInt8] {
    guard count > 0, fd >= 0, offset >= 0, !offset.addingReportingOverflow(count).overflow else { return [] }
    var count = count
    if count > 1 << 20 {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > offset else { return [] }
        count = min(count, Int(st.st_size) - offset)
    }
    var out = [UInt8](repeating: 0, count: count)
    var done = 0
    while done < count {
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        done += n
    }
    out.removeLast(count - done)
    return out
}
