#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopePOSIX

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
