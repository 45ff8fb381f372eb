// Child processes of the benchmark: re-executions of this binary with a hidden role.
// Every child is registered so the orchestrator can SIGKILL it and unlink the service
// object at exit, on error, or on SIGINT / SIGTERM.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import IPCScopeKit
import IPCScopeProcess
import IPCScopePOSIX

/// What the orchestrator must undo at exit.
enum Cleanup {
    nonisolated(unsafe) static var children: [pid_t] = []
    nonisolated(unsafe) static var services: [String] = []
    nonisolated(unsafe) static var directory: String?

    /// SIGKILLs every child still registered, waits for it to die, unlinks the objects and the
    /// scratch directory. Safe in a signal handler as far as the children go: no lock, and the wait
    /// (`WNOWAIT`) leaves the reaping to swift-subprocess, which started them.
    static func run() {
        for pid in children {
            kill(pid, SIGKILL)
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        }
        children = []
        for name in services { _ = shm_unlink("/ipcscope." + name) }
        services = []
        if let dir = directory {
            if let d = opendir(dir) {
                while let e = readdir(d) {
                    let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                    if name != "." && name != ".." { _ = unlink(dir + "/" + name) }
                }
                closedir(d)
            }
            _ = rmdir(dir)
            directory = nil
        }
    }

    /// Installs the exit and signal hooks.
    static func install() {
        atexit { Cleanup.run() }
        let handler: @convention(c) (Int32) -> Void = { sig in
            Cleanup.run()
            signal(sig, SIG_DFL)
            raise(sig)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        signal(SIGHUP, handler)
    }
}

/// The path of this executable.
let selfPath = ownExecutablePath

/// A role process: this binary with `--role ...`, stdout captured to a file.
final class Child {
    private let process: StartedProcess
    let outPath: String

    convenience init(role: [String], tag: String) throws(BenchError) {
        try self.init(executable: selfPath, arguments: ["--role"] + role, tag: tag)
    }

    /// Any program, its stdout (the log of `ipcscope serve`) to `<tag>.out`, its stderr this one's.
    init(executable: String, arguments: [String], tag: String) throws(BenchError) {
        outPath = "\(Cleanup.directory ?? "/tmp")/\(tag).out"
        let launch = Launch(executable, arguments, standardOutput: .file(outPath, append: false), standardError: .inherit)
        do {
            process = try StartedProcess.start(launch)
        } catch {
            throw BenchError("\(error)")
        }
        Cleanup.children.append(process.pid)
    }

    /// The child's pid.
    var pid: pid_t { process.pid }

    /// Its exit code (128 + signal when a signal ended it), once it ended.
    var exitCode: Int32? { process.termination?.code }

    /// Everything the child printed so far.
    var output: String { readTextFile(outPath) ?? "" }

    /// Whether it ended.
    var hasExited: Bool {
        guard process.hasExited else { return false }
        Cleanup.children.removeAll { $0 == pid }
        return true
    }

    /// Waits at most `seconds` for the child to end; SIGKILLs it and throws when it does not,
    /// or when it exits non-zero.
    func finish(within seconds: Double, what: String) throws(BenchError) {
        guard process.wait(timeout: seconds) != nil else {
            kill()
            throw BenchError("\(what) (pid \(pid)) did not finish within \(seconds) s; output: \(output)")
        }
        _ = hasExited
        guard exitCode == 0 else { throw BenchError("\(what) (pid \(pid)) failed with exit \(exitCode ?? -1): \(output)") }
    }

    /// Asks the process to stop (SIGTERM) and waits for a clean exit.
    func terminate(within seconds: Double, what: String) throws(BenchError) {
        process.send(SIGTERM)
        try finish(within: seconds, what: what)
    }

    /// Waits at most `seconds` for a line starting with `prefix`; returns the line.
    func waitForLine(_ prefix: String, within seconds: Double, what: String) throws(BenchError) -> String {
        let end = CIPCBench_now_ns() + UInt64(seconds * 1e9)
        while true {
            if let line = output.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
            if hasExited { throw BenchError("\(what) (pid \(pid)) exited \(exitCode ?? -1) before '\(prefix)': \(output)") }
            if CIPCBench_now_ns() >= end {
                kill()
                throw BenchError("\(what) (pid \(pid)) printed no '\(prefix)' within \(seconds) s: \(output)")
            }
            CIPCBench_sleep_ns(2_000_000)
        }
    }

    /// SIGKILL, and wait (5 s at most) for the end.
    func kill() {
        process.kill(timeout: 5)
        _ = hasExited
    }
}

/// An error that ends the benchmark with a message.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}


/// Reads a file of native UInt64 samples.
func readSamples(_ path: String) -> [UInt64] {
    let fd = open(path, O_RDONLY)
    if fd < 0 { return [] }
    defer { close(fd) }
    var st = stat()
    fstat(fd, &st)
    let n = Int(st.st_size) / 8
    var out = [UInt64](repeating: 0, count: n)
    let got = out.withUnsafeMutableBytes { read(fd, $0.baseAddress, n * 8) }
    return got == n * 8 ? out : []
}

/// Writes one line to stdout, unbuffered.
func say(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

/// Parses "key=value" fields of a line.
func fields(_ line: String) -> [String: String] {
    var out: [String: String] = [:]
    for part in line.split(separator: " ") {
        if let eq = part.firstIndex(of: "=") { out[String(part[..<eq])] = String(part[part.index(after: eq)...]) }
    }
    return out
}

/// Writes one line to stderr, unbuffered.
func complain(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
