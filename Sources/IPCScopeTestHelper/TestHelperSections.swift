// The test helper's modes for liveness and creation (see TestHelper.swift for the others):
//
//   IPCScopeTestHelper read-lock-posix NAME [SECONDS]   like read-lock, with a classic POSIX lock
//                                                  (F_SETLK), whose holder F_OFD_GETLK names by pid
//   IPCScopeTestHelper create-section NAME LOCK_MS HEADER_MS   a server's creation, slowed down:
//                                                  O_EXCL ("created"), LOCK_MS later the liveness
//                                                  lock ("locked"), HEADER_MS later the whole section,
//                                                  magic last, as a live server ("serving"); then
//                                                  sleeps holding it. "never" for either: that step
//                                                  never comes (it sleeps).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CIPCScope
import IPCScopeKit

struct ReadLockPosix: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-lock-posix",
        abstract: "Like read-lock with a classic POSIX lock (F_SETLK), whose holder F_OFD_GETLK names by pid.")
    @Argument var name: String
    @Argument var seconds: Double = 30

    func run() {
        let fd = shm_open("/ipcscope." + name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0)
        if fd < 0 { die("open \(errno)") }
        var fl = flock()
        fl.l_type = Int16(F_RDLCK)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = 0
        fl.l_len = 1
        if fcntl(fd, F_SETLK, &fl) != 0 { die("lock \(errno)") }
        out("locked")
        usleep(UInt32(seconds * 1_000_000))
    }
}

struct CreateSection: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create-section",
        abstract: "A server's creation, slowed down: O_EXCL, LOCK_MS later the liveness lock, HEADER_MS later the section (\"never\": not that step).")
    @Argument var name: String
    @Argument(help: ArgumentHelp(valueName: "lock-ms")) var lockMS: String
    @Argument(help: ArgumentHelp(valueName: "header-ms")) var headerMS: String

    /// Milliseconds, or nil for "never".
    static func delay(_ text: String) -> UInt32?? {
        if text == "never" { return .some(nil) }
        return UInt32(text).map { .some($0) }
    }

    func run() {
        guard let lockDelay = Self.delay(lockMS), let headerDelay = Self.delay(headerMS) else { die("usage: LOCK_MS and HEADER_MS are milliseconds or 'never'") }
        var image = modelImage()
        func put32<O: BinaryInteger>(_ offset: O, _ v: UInt32) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { image[Int(offset) + i] = b } }
        }
        put32(IPCSCOPE_OFF_SERVER_FLAGS, UInt32(IPCSCOPE_SERVER_TRACING))   // not shutting down
        put32(IPCSCOPE_OFF_SERVER_PID, UInt32(bitPattern: getpid()))         // a live server: this process

        let fd = shm_open("/ipcscope." + name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        if fd < 0 { die("create \(errno)") }
        out("created")
        guard let lockDelay else { sleepForever() }
        usleep(lockDelay * 1000)
        if CIPCScope_ofd_trylock(fd) != 0 { die("lock") }
        out("locked")
        guard let headerDelay else { sleepForever() }
        usleep(headerDelay * 1000)
        ftruncate(fd, off_t(image.count))
        _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 8, $0.count - 8, 8) }
        _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress!, 8, 0) }
        out("serving")
        sleepForever()
    }

    /// A real section's bytes, from a server that made one under another name and stopped
    /// (kept, read, then removed).
    func modelImage() -> [UInt8] {
        var keep = ServerOptions()
        keep.keepOnExit = true
        let model = name + ".model"
        do { try Server(service: model, options: keep).shutdown() } catch { die("model \(error.message)") }
        let mfd = shm_open("/ipcscope." + model, O_RDONLY, 0)
        defer { _ = shm_unlink("/ipcscope." + model) }
        var st = stat()
        guard mfd >= 0, fstat(mfd, &st) == 0 else { die("model open \(errno)") }
        var image = [UInt8](repeating: 0, count: Int(st.st_size))
        let got = image.withUnsafeMutableBytes { pread(mfd, $0.baseAddress, $0.count, 0) }
        close(mfd)
        guard got == image.count, image.count >= Int(IPCSCOPE_HEADER_SIZE) else { die("model read") }
        return image
    }

    func sleepForever() -> Never {
        while true { sleep(60) }
    }
}
