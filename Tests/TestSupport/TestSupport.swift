// Helpers for tests that start real processes on real shared-memory objects.
// Every object gets a unique name; every wait has a deadline; a `TestScope` kills its
// processes and unlinks its objects when it ends, even when the test fails.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeProcess
import Synchronization
import IPCScopePOSIX

/// The directory holding the built products (`ipcscope`, `ipcscope-testhelper`, …).
public let productsDirectory: String = ownExecutableDirectory

/// The repository's root, from this file's path (Tests/TestSupport/TestSupport.swift).
public let repositoryRoot: String = {
    var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}()

/// The path of a built executable product.
public func productPath(_ name: String) -> String { productsDirectory + "/" + name }

/// The `ipcscope` binary under test.
public var ipcscopePath: String { productPath("ipcscope") }
/// The multi-process test helper.
public var helperPath: String { productPath("IPCScopeTestHelper") }

private let counter = Atomic<Int>(0)

/// A service name no other test (or test run) uses.
public func uniqueServiceName(_ prefix: String = "t") -> String {
    let n = counter.add(1, ordering: .relaxed).newValue
    return "\(prefix)-\(getpid())-\(n)-\(UInt32.random(in: 0...UInt32.max))"
}

/// Seconds of CLOCK_MONOTONIC.
public func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

/// Sleeps for `seconds`.
public func sleepSeconds(_ seconds: Double) { usleep(UInt32(max(0, seconds) * 1e6)) }

/// Polls `condition` until it holds or `timeout` seconds pass; returns whether it held.
@discardableResult
public func waitUntil(timeout: Double, interval: Double = 0.01, _ condition: () -> Bool) -> Bool {
    let end = now() + timeout
    while true {
        if condition() { return true }
        if now() >= end { return false }
        sleepSeconds(interval)
    }
}

/// A child process with stdout and stderr captured to files.
public final class ChildProcess: @unchecked Sendable {
    private let process: StartedProcess
    public let arguments: [String]
    public let outPath: String
    public let errPath: String

    init(_ process: StartedProcess, arguments: [String], outPath: String, errPath: String) {
        self.process = process
        self.arguments = arguments
        self.outPath = outPath
        self.errPath = errPath
    }

    /// The child's pid.
    public var pid: pid_t { process.pid }
    /// The exit code, once it exited.
    public var exitStatus: Int32? { if case .exited(let c)? = process.termination { return c } else { return nil } }
    /// The signal that ended the process, if one did.
    public var exitSignal: Int32? { if case .signaled(let s)? = process.termination { return s } else { return nil } }

    /// Everything written to stdout so far.
    public var stdout: String { readFile(outPath) }
    /// Everything written to stderr so far.
    public var stderr: String { readFile(errPath) }

    /// Whether the process has ended.
    public var hasExited: Bool { process.hasExited }

    /// Waits for the process to end, at most `timeout` seconds; returns the exit code
    /// (128 + signal when killed) or nil on timeout.
    @discardableResult
    public func wait(timeout: Double) -> Int32? { process.wait(timeout: timeout)?.code }

    /// Waits until stdout contains `text`; returns whether it did within `timeout`.
    @discardableResult
    public func waitForOutput(_ text: String, timeout: Double) -> Bool {
        waitUntil(timeout: timeout, interval: 0.01) { stdout.contains(text) || stderr.contains(text) }
    }

    /// Sends a signal.
    public func signal(_ sig: Int32) { process.send(sig) }

    /// SIGKILL and wait for the end (5 s at most).
    public func killAndReap() { process.kill(timeout: 5) }
}


/// Removes `path` and, when it is a directory, everything under it (never following a link).
public func removeTree(_ path: String) {
    var st = stat()
    guard lstat(path, &st) == 0 else { return }
    if st.st_mode & 0o170000 == 0o040000 {
        if let d = opendir(path) {
            var names: [String] = []
            while let e = readdir(d) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if n != "." && n != ".." { names.append(n) }
            }
            closedir(d)
            for n in names { removeTree(path + "/" + n) }
        }
        rmdir(path)
    } else {
        unlink(path)
    }
}

/// Reads a whole file as UTF-8, or "" when missing.
public func readFile(_ path: String) -> String { readTextFile(path) ?? "" }

/// Owns what a test starts: processes are killed and service objects unlinked at `cleanup()`
/// (call it with `defer`), whatever happened.
public final class TestScope: @unchecked Sendable {
    private var children: [ChildProcess] = []
    private var services: [String] = []
    private var files: [String] = []
    private let lock = Mutex(())
    public let directory: String

    public init() {
        var template = Array("/tmp/ipcscope-test-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = dir.map { String(cString: $0) } ?? "/tmp"
    }

    deinit { cleanup() }

    /// A new unique service name whose object is removed at cleanup.
    public func serviceName(_ prefix: String = "t") -> String {
        let name = uniqueServiceName(prefix)
        lock.withLock { _ in services.append(name) }
        return name
    }

    /// Registers an existing name for removal at cleanup.
    public func track(service name: String) { lock.withLock { _ in services.append(name) } }

    /// Starts `path` with `arguments`; stdin is /dev/null unless `stdinPath` is given. The child
    /// starts with an empty signal mask and default dispositions (the test runner's worker threads
    /// block most signals: a tmux server would ignore kill-server, a server be deaf to SIGTERM).
    public func spawn(_ path: String, _ arguments: [String], environment: [String: String] = [:],
                      stdinPath: String = "/dev/null") -> ChildProcess {
        let id = lock.withLock { _ in children.count }
        mkdir(directory, 0o700)  // again, if a cleanup removed it while the scope is still in use
        let out = "\(directory)/p\(id).out", err = "\(directory)/p\(id).err"
        var launch = Launch(path, arguments, environment: environment, standardInput: stdinPath,
                            standardOutput: .file(out, append: false), standardError: .file(err, append: false))
        let process: StartedProcess
        do {
            process = try StartedProcess.start(launch)
        } catch {
            // A program that cannot start (missing, not executable) fails the test, not the run:
            // a stand-in exits 127 with the reason on stderr, as a shell would.
            launch.executable = "/bin/sh"
            launch.standardInput = "/dev/null"
            launch.arguments = ["-c", "echo \"$0\" >&2; exit 127", error.description]
            do { process = try StartedProcess.start(launch) } catch { preconditionFailure("\(error)") }
        }
        let child = ChildProcess(process, arguments: arguments, outPath: out, errPath: err)
        lock.withLock { _ in children.append(child) }
        return child
    }

    /// Runs a command to completion (at most `timeout` seconds) and returns it.
    public func run(_ path: String, _ arguments: [String], timeout: Double = 30,
                    environment: [String: String] = [:], stdinPath: String = "/dev/null") -> ChildProcess {
        let c = spawn(path, arguments, environment: environment, stdinPath: stdinPath)
        if c.wait(timeout: timeout) == nil { c.killAndReap() }
        return c
    }

    /// Runs `ipcscope` with `arguments` to completion.
    public func ipcscope(_ arguments: [String], timeout: Double = 30, stdinPath: String = "/dev/null") -> ChildProcess {
        run(ipcscopePath, arguments, timeout: timeout, stdinPath: stdinPath)
    }

    /// Writes `bytes` to a file in the scope's directory and returns its path.
    public func file(_ name: String, _ contents: String) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var c = contents
        c.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
        close(fd)
        lock.withLock { _ in files.append(path) }
        return path
    }

    /// Kills every child (SIGTERM, then SIGKILL), unlinks every service object and removes the
    /// scope's temporary directory with everything in it. Idempotent; `deinit` calls it too, so a
    /// test that fails before its `defer` still leaves nothing behind.
    public func cleanup() {
        let (kids, names) = lock.withLock { _ in (children, services) }
        for c in kids where !c.hasExited { c.signal(SIGTERM) }
        for c in kids where c.wait(timeout: 2) == nil { c.killAndReap() }
        for n in names { _ = shm_unlink("/ipcscope." + n) }
        lock.withLock { _ in children = []; services = []; files = [] }
        if directory.hasPrefix("/tmp/ipcscope-test-") { removeTree(directory) }
    }

    /// Whether `/dev/shm/ipcscope.<name>` exists.
    public func objectExists(_ name: String) -> Bool { access("/dev/shm/ipcscope." + name, F_OK) == 0 }

    /// Starts `ipcscope serve NAME --echo` and waits until it serves (10 s at most).
    public func startEchoServer(_ name: String, extra: [String] = []) -> ChildProcess {
        let s = spawn(ipcscopePath, ["serve", name, "--echo"] + extra)
        waitUntil(timeout: 10) { s.stdout.contains("serving") || s.stdout.contains("took over") || s.hasExited }
        return s
    }
}

// MARK: - another user

/// A copy of the executable at `path` that user `nobody` can run, whatever the checkout's
/// permissions (a clone under `/root` is not searchable by others). Copied once per process into
/// a world-searchable folder under /tmp, removed when the test process exits.
public func otherUserRunnable(_ path: String) -> String {
    otherUserCopies.withLock { copies in
        if let done = copies[path] { return done }
        if otherUserFolder.isEmpty {
            var template = Array("/tmp/ipcscope-otheruser-XXXXXX".utf8CString)
            guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return path }
            otherUserFolder = String(cString: made)
            chmod(otherUserFolder, 0o755)
            atexit { removeOtherUserFolder() }
        }
        let target = otherUserFolder + "/" + (path.split(separator: "/").last.map(String.init) ?? "program")
        guard let bytes = readFileContents(path) else { return path }
        let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { return path }
        let wrote = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard wrote == bytes.count else { return path }
        chmod(target, 0o755)
        copies[path] = target
        return target
    }
}

nonisolated(unsafe) private var otherUserFolder = ""
private let otherUserCopies = Mutex<[String: String]>([:])

private func removeOtherUserFolder() {
    if !otherUserFolder.isEmpty { removeTree(otherUserFolder) }
}
