// Starting and ending the processes the driver plays with.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeProcess
import IPCScopePOSIX

/// The directory of this executable, where `ipcscope` and `IPCScopeTestHelper` are built too.
let productsDirectory = ownExecutableDirectory

/// A started process and what the driver knows of it.
final class Proc {
    private let process: StartedProcess
    let role: String
    let outPath: String?
    var stopped = false

    init(_ process: StartedProcess, role: String, outPath: String?) {
        self.process = process
        self.role = role
        self.outPath = outPath
    }

    var pid: pid_t { process.pid }
    /// Its exit code, when it exited.
    var exitCode: Int32? { if case .exited(let c)? = process.termination { return c } else { return nil } }
    /// The signal that ended it, if one did.
    var signal: Int32? { if case .signaled(let s)? = process.termination { return s } else { return nil } }

    /// Whether it has ended (swift-subprocess reaps it).
    @discardableResult
    func reap() -> Bool { process.hasExited }

    /// Sends `sig` unless it has ended.
    func send(_ sig: Int32) { process.send(sig) }

    /// SIGKILL (and SIGCONT, in case it is stopped), and wait for it.
    func killNow() { process.kill(timeout: 10) }
}

/// Starts `path` with `args`: stdin from /dev/null, stdout to `outPath` (or /dev/null), stderr
/// appended to `errPath`; a clean signal mask, so SIGTERM reaches it.
func spawn(_ path: String, _ args: [String], role: String, outPath: String? = nil, errPath: String) -> Proc? {
    let launch = Launch(path, args, standardOutput: outPath.map { .file($0, append: false) } ?? .null,
                        standardError: .file(errPath, append: true), fileMode: 0o600)
    guard let process = try? StartedProcess.start(launch) else { return nil }
    return Proc(process, role: role, outPath: outPath)
}

/// Pids of live processes whose command line mentions `text` (leftovers after the run).
func processesMentioning(_ text: String) -> [Int32] {
    directoryNames("/proc").compactMap { name -> Int32? in
        guard let pid = Int32(name), pid != getpid() else { return nil }
        guard let bytes = readFileContents("/proc/\(pid)/cmdline"), !bytes.isEmpty else { return nil }
        let cmd = String(decoding: bytes.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        // a zombie has an empty cmdline; a process we started and did not reap would show here
        return cmd.contains(text) ? pid : nil
    }
}

/// Names in /dev/shm that start with `prefix`.
func shmObjects(prefix: String) -> [String] {
    directoryNames("/dev/shm").filter { $0.hasPrefix(prefix) }
}

/// The names in directory `path`, without "." and "..".
private func directoryNames(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var out: [String] = []
    while let ent = readdir(dir) {
        let name = withUnsafeBytes(of: ent.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { out.append(name) }
    }
    return out
}

/// Sleeps for `ms` milliseconds.
func sleepMS(_ ms: Int) { usleep(UInt32(max(0, ms)) * 1000) }
