// Starting and ending the processes the driver plays with.
#if canImport(Glibc)
import Glibc
#endif

/// The directory of this executable, where `ipcscope` and `IPCScopeTestHelper` are built too.
let productsDirectory: String = {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    let exe = String(decoding: buf[0..<max(n, 0)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return String(exe[..<(exe.lastIndex(of: "/") ?? exe.endIndex)])
}()

/// A started process; `reap()` collects it once it ends.
final class Proc {
    let pid: pid_t
    let role: String
    let outPath: String?
    private(set) var ended = false
    private(set) var exitCode: Int32?
    private(set) var signal: Int32?
    var stopped = false

    init(pid: pid_t, role: String, outPath: String?) {
        self.pid = pid
        self.role = role
        self.outPath = outPath
    }

    /// Whether it has ended (collects it if so).
    @discardableResult
    func reap(block: Bool = false) -> Bool {
        if ended { return true }
        var status: Int32 = 0
        var r: pid_t
        repeat { r = waitpid(pid, &status, block ? 0 : WNOHANG) } while r < 0 && errno == EINTR
        guard r == pid else { return r < 0 }
        ended = true
        if status & 0x7f == 0 { exitCode = (status >> 8) & 0xff } else { signal = status & 0x7f }
        return true
    }

    /// Sends `sig` unless it has ended.
    func send(_ sig: Int32) { if !reap() { kill(pid, sig) } }

    /// SIGCONT (if stopped), SIGKILL, and wait for it.
    func killNow() {
        guard !reap() else { return }
        kill(pid, SIGKILL)
        kill(pid, SIGCONT)
        reap(block: true)
    }
}

/// Starts `path` with `args`: stdin from /dev/null, stdout to `outPath` (or /dev/null), stderr
/// appended to `errPath`; a clean signal mask, so SIGTERM reaches it.
func spawn(_ path: String, _ args: [String], role: String, outPath: String? = nil, errPath: String) -> Proc? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t(), all = sigset_t()
    sigemptyset(&none)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv = ([path] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, path, &actions, &attr, argv, environ) == 0 else { return nil }
    return Proc(pid: pid, role: role, outPath: outPath)
}

/// Pids of live processes whose command line mentions `text` (leftovers after the run).
func processesMentioning(_ text: String) -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var out: [Int32] = []
    while let ent = readdir(dir) {
        let name = withUnsafeBytes(of: ent.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let pid = Int32(name), pid != getpid() else { continue }
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { continue }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        close(fd)
        guard n > 0 else { continue }
        let cmd = String(decoding: buf[0..<n].map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        // a zombie has an empty cmdline; a process we started and did not reap would show here
        if cmd.contains(text) { out.append(pid) }
    }
    return out
}

/// Names in /dev/shm that start with `prefix`.
func shmObjects(prefix: String) -> [String] {
    guard let dir = opendir("/dev/shm") else { return [] }
    defer { closedir(dir) }
    var out: [String] = []
    while let ent = readdir(dir) {
        let name = withUnsafeBytes(of: ent.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasPrefix(prefix) { out.append(name) }
    }
    return out
}

/// Sleeps for `ms` milliseconds.
func sleepMS(_ ms: Int) { usleep(UInt32(max(0, ms)) * 1000) }
