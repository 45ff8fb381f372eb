// Starting a process with swift-subprocess from synchronous code, and keeping it across calls.
#if canImport(Glibc)
import Glibc
#endif
import Subprocess
import Synchronization
import SystemPackage

/// A process started by `StartedProcess.start`. swift-subprocess reaps it; this object never calls
/// `waitpid` itself, so it can be asked from any thread, any number of times.
///
/// The child gets: an empty signal mask and every signal at its default action (whatever this
/// process blocks or ignores), no file descriptor but 0, 1 and 2, and the environment of this
/// process plus the launch's additions. It is spawned from swift-subprocess's worker thread, which
/// lives as long as this process: a child that asks for `PR_SET_PDEATHSIG` dies with this process,
/// not with the thread that called `start`.
///
/// swift-subprocess's monitor thread waits with every signal unblocked, so a signal sent to this
/// process may be delivered there: take signals with handlers or dispatch sources (as the demo and
/// the benchmark do), not with `sigwait` on signals blocked everywhere else.
package final class StartedProcess: @unchecked Sendable {
    /// The child's pid.
    package let pid: pid_t
    private let record: ExitRecord
    /// The read end of standard output's pipe (`Redirect.pipe`) until `readOutput` closes it.
    private let outputPipe: Mutex<Int32?>
    /// The write end of standard input's pipe (`Launch.standardInputPipe`) until taken.
    private let inputPipe: Mutex<Int32?>

    private init(pid: pid_t, record: ExitRecord, outputPipe: Int32?, inputPipe: Int32?) {
        self.pid = pid
        self.record = record
        self.outputPipe = Mutex(outputPipe)
        self.inputPipe = Mutex(inputPipe)
    }

    deinit {
        if let fd = outputPipe.withLock({ $0 }) { _ = Glibc.close(fd) }
        if let fd = inputPipe.withLock({ $0 }) { _ = Glibc.close(fd) }
    }

    /// Hands over the pipe ends this process kept (standard input's write end, standard output's
    /// read end): the caller closes them. Nil for an end the launch did not ask for, or taken before.
    package func takePipes() -> (input: Int32?, output: Int32?) {
        let input = inputPipe.withLock { fd -> Int32? in defer { fd = nil }; return fd }
        let output = outputPipe.withLock { fd -> Int32? in defer { fd = nil }; return fd }
        return (input, output)
    }

    /// Starts `launch` and returns once the child exists.
    ///
    /// Blocks the calling thread until the spawn is done, at most `startTimeout` seconds. Nothing
    /// it waits for needs a cooperative-pool thread (see `ProcessExecutor`), so a caller on the
    /// pool, such as a test, cannot starve it.
    /// - Throws: `LaunchError` when a redirect cannot be opened or the program cannot be started
    ///   (missing, not executable).
    package static func start(_ launch: Launch, startTimeout: Double = 60) throws(LaunchError) -> StartedProcess {
        let files = try StandardFiles(launch)
        var environment = Environment.inherit
        if !launch.environment.isEmpty {
            var added: [Environment.Key: String?] = [:]
            for (name, value) in launch.environment {
                guard let key = Environment.Key(rawValue: name) else {
                    files.close()
                    throw LaunchError(executable: launch.executable, reason: "bad environment name '\(name)'", errno: nil)
                }
                added[key] = value
            }
            environment = environment.updating(added)
        }
        let record = ExitRecord()
        let executable = Executable.path(FilePath(launch.executable))
        let arguments = Arguments(executablePathOverride: launch.argumentZero, remainingValues: launch.arguments)
        let name = launch.executable
        Task(executorPreference: ProcessExecutor.shared) {
            do {
                let result = try await Subprocess.run(
                    executable, arguments: arguments, environment: environment,
                    input: .fileDescriptor(files.input, closeAfterSpawningProcess: true),
                    output: .fileDescriptor(files.output, closeAfterSpawningProcess: files.closeOutput),
                    error: .fileDescriptor(files.error, closeAfterSpawningProcess: files.closeError)
                ) { execution in
                    let pid = execution.processIdentifier.value
                    record.started(pid)
                    // Returning lets swift-subprocess reap the child: first see it end (see watchForEnd).
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        if !watchForEnd(of: pid, record: record, then: { done.resume() }) { done.resume() }
                    }
                }
                switch result.terminationStatus {
                case .exited(let code): record.ended(.exited(code))
                case .signaled(let sig): record.ended(.signaled(sig))
                }
            } catch let error as SubprocessError {
                record.failed(LaunchError(executable: name, reason: error.reason, errno: error.errno))
            } catch {
                record.failed(LaunchError(executable: name, reason: "\(error)", errno: nil))
            }
        }
        switch record.waitForStart(timeout: startTimeout) {
        case .success(let pid): return StartedProcess(pid: pid, record: record, outputPipe: files.outputPipe, inputPipe: files.inputPipe)
        case .failure(let error):
            if let fd = files.outputPipe { _ = Glibc.close(fd) }
            if let fd = files.inputPipe { _ = Glibc.close(fd) }
            throw error.renamed(launch.executable)
        }
    }

    /// Reads standard output (`Redirect.pipe`) until every writer has closed it, usually when the
    /// child ends, then closes the pipe; returns what was read.
    ///
    /// Blocks at most `timeout` seconds; nil when the output had not ended by then (the pipe stays
    /// open, what was read so far is lost). Empty when the launch had no pipe or it was read before.
    package func readOutput(timeout: Double) -> [UInt8]? {
        outputPipe.withLock { pipe -> [UInt8]? in
            guard let fd = pipe else { return [] }
            let deadline = monotonicSeconds() + timeout
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let left = deadline - monotonicSeconds()
                guard left > 0 else { return nil }
                var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&ready, 1, left >= 86_400 ? 86_400_000 : Int32((left * 1000).rounded(.up)))
                if r < 0 && errno != EINTR { break }
                guard r > 0 else { continue }
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n > 0 { bytes += chunk[0..<n]; continue }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                break
            }
            _ = Glibc.close(fd)
            pipe = nil
            return bytes
        }
    }

    /// How it ended, or nil while it runs. Never blocks.
    package var termination: Termination? { record.termination }

    /// Whether it has ended.
    package var hasExited: Bool { termination != nil }

    /// Waits at most `timeout` seconds for it to end; nil when it still runs.
    @discardableResult
    package func wait(timeout: Double) -> Termination? { record.waitForEnd(timeout: timeout) }

    /// Sends `signal` unless it has ended; returns whether it was sent.
    @discardableResult
    package func send(_ signal: Int32) -> Bool {
        guard termination == nil else { return false }
        return Glibc.kill(pid, signal) == 0
    }

    /// SIGKILL (and SIGCONT, in case it is stopped), then waits at most `timeout` seconds for the
    /// end; returns how it ended, nil if it still had not after `timeout`.
    @discardableResult
    package func kill(timeout: Double = 5) -> Termination? {
        if send(SIGKILL) { _ = send(SIGCONT) }
        return wait(timeout: timeout)
    }
}

/// CLOCK_MONOTONIC in seconds.
private func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

extension LaunchError {
    /// The same error, naming `executable`.
    func renamed(_ executable: String) -> LaunchError {
        LaunchError(executable: executable, reason: reason, errno: errno)
    }
}

extension SubprocessError {
    /// The reason in words: swift-subprocess's description names the code and the errno.
    var reason: String {
        if let e = errno { return String(cString: strerror(e)) }
        return description
    }

    /// The errno behind the failure, if there was one.
    var errno: Int32? {
        if let underlying = underlyingError { return underlying.rawValue }
        return nil
    }
}

