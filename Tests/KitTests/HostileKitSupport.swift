// What the hostile-input tests share: another user through setpriv, objects written by hand,
// fields poked into a real section, a stale section of our own.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import Testing
import TestSupport
import IPCScopePOSIX

extension TestScope {
    /// Whether the test can act as user nobody: false (nothing to test) when not root; an issue
    /// is recorded when root cannot, because `setpriv` is missing or nobody cannot run the build.
    func canActAsNobody() -> Bool {
        guard geteuid() == 0 else { return false }  // only root can become another user
        guard access("/usr/bin/setpriv", X_OK) == 0 else {
            Issue.record("setpriv is missing: install util-linux to run the other-user tests")
            return false
        }
        let probe = run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", otherUserRunnable(ipcscopePath), "--help"], timeout: 10)
        guard probe.exitStatus == 0 else {
            Issue.record("user nobody cannot run a copy of \(ipcscopePath) under /tmp: \(probe.stderr)")
            return false
        }
        return true
    }

    /// Starts `path arguments` as user nobody (group nogroup, no supplementary groups).
    func spawnAsNobody(_ path: String, _ arguments: [String]) -> ChildProcess {
        spawn("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", otherUserRunnable(path)] + arguments)
    }

    /// A stale section of ours: created by a real `ipcscope serve` (with `extra` options) and SIGKILLed.
    func staleSection(_ name: String, extra: [String] = []) -> Bool {
        let s = startEchoServer(name, extra: ["--quiet"] + extra)
        guard s.stdout.contains("serving") || s.stdout.contains("took over") else { return false }
        s.killAndReap()
        return objectExists(name)
    }
}

/// Writes `bytes` at `offset` of `/dev/shm/ipcscope.<name>` (as an attacker with write access would).
func pokeSection(_ name: String, at offset: Int, _ bytes: [UInt8]) {
    let fd = open("/dev/shm/ipcscope." + name, O_RDWR | O_NOFOLLOW)
    precondition(fd >= 0, "open \(name): \(errno)")
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    close(fd)
}

func pokeSection<T: FixedWidthInteger>(_ name: String, at offset: Int, value: T) {
    pokeSection(name, at: offset, withUnsafeBytes(of: value.littleEndian) { Array($0) })
}

/// Reads a little-endian integer at `offset` of the object (0 when it cannot).
func peekSection<T: FixedWidthInteger>(_ name: String, at offset: Int, as: T.Type = T.self) -> T {
    let fd = open("/dev/shm/ipcscope." + name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    let b = preadBytes(fd, at: offset, count: MemoryLayout<T>.size)
    guard b.count == MemoryLayout<T>.size else { return 0 }
    return b.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
}

/// `stat` of the object: (owner uid, permission bits), or nil.
func sectionOwnerAndMode(_ name: String) -> (uid: uid_t, mode: mode_t)? {
    var st = stat()
    guard lstat("/dev/shm/ipcscope." + name, &st) == 0 else { return nil }
    return (st.st_uid, st.st_mode & 0o7777)
}

/// Writes an object by hand: `bytes` of content in an object of `size` bytes.
func plantObject(_ name: String, bytes: [UInt8], size: Int, mode: mode_t = 0o600) {
    let fd = shm_open("/ipcscope." + name, O_RDWR | O_CREAT | O_TRUNC, mode)
    precondition(fd >= 0)
    ftruncate(fd, off_t(size))
    _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    close(fd)
}

/// A valid default header line 0, as bytes (sizes of a 28672-byte section).
func validIdentityBytes(sectionSize: UInt64 = 28672) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: 512)
    func put32(_ o: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { h[o + i] = b } } }
    func put64(_ o: Int, _ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { h[o + i] = b } } }
    for (i, b) in "IPCSCOPE".utf8.enumerated() { h[i] = b }
    put32(8, 1); put32(12, 512); put64(16, sectionSize)
    put32(24, 512); put32(28, 4096); put32(32, 4672); put32(36, 4096)
    put32(40, 8832); put32(44, 256); put32(48, 128); put32(52, geteuid())
    return h
}

/// The pid of a process that has exited (a thread id no thread has now).
func deadThreadID(_ scope: TestScope) -> Int32 {
    let p = scope.run("/bin/true", [], timeout: 5)
    return p.pid
}
