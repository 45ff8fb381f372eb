// What a process task shares with the synchronous side, and the thread that sees the child end.
#if canImport(Glibc)
import Glibc
#endif

/// A child's pid once started, its launch failure, or how it ended; behind a pthread mutex and a
/// condition variable that the synchronous side waits on.
final class ExitRecord: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pid: pid_t?
    private var launchFailure: LaunchError?
    private var ended: Termination?
    private var abandoned = false

    init() {
        pthread_mutex_init(lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(changed, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// The child exists. One the caller stopped waiting for is killed at once.
    func started(_ pid: pid_t) {
        let unwanted = locked { () -> Bool in
            self.pid = pid
            pthread_cond_broadcast(changed)
            return abandoned
        }
        if unwanted { kill(pid, SIGKILL) }
    }

    /// The child ended; the first report wins.
    func ended(_ termination: Termination) {
        locked {
            if ended == nil { ended = termination }
            pthread_cond_broadcast(changed)
        }
    }

    /// The launch failed (ignored once the child exists).
    func failed(_ error: LaunchError) {
        locked {
            if pid == nil { launchFailure = error }
            pthread_cond_broadcast(changed)
        }
    }

    /// How the child ended, or nil while it runs.
    var termination: Termination? { locked { ended } }

    /// Waits for `started` or `failed`, at most `timeout` seconds.
    func waitForStart(timeout: Double) -> Result<pid_t, LaunchError> {
        var deadline = Self.deadline(after: timeout)
        return locked {
            while pid == nil && launchFailure == nil {
                if pthread_cond_timedwait(changed, lock, &deadline) == ETIMEDOUT { break }
            }
            if let pid { return .success(pid) }
            if let launchFailure { return .failure(launchFailure) }
            abandoned = true
            return .failure(LaunchError(executable: "", reason: "not started within \(timeout) s", errno: ETIMEDOUT))
        }
    }

    /// Waits at most `timeout` seconds for the end; returns it, or nil.
    func waitForEnd(timeout: Double) -> Termination? {
        var deadline = Self.deadline(after: timeout)
        return locked {
            while ended == nil {
                if pthread_cond_timedwait(changed, lock, &deadline) == ETIMEDOUT { break }
            }
            return ended
        }
    }

    private static func deadline(after seconds: Double) -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        let ns = Int64(t.tv_nsec) + Int64(max(0, min(seconds, 1e9)) * 1e9)
        t.tv_sec += Int(ns / 1_000_000_000)
        t.tv_nsec = Int(ns % 1_000_000_000)
        return t
    }
}

// MARK: - seeing the end

/// Starts a thread that blocks until `pid` has ended, records how, then calls `then`.
///
/// It waits with `WNOWAIT`: the zombie stays for swift-subprocess to reap once the task's closure
/// returns. So the end is known the moment it happens, on a thread of its own, whatever the
/// cooperative pool is doing (swift-subprocess itself needs a pool thread to finish `run`).
/// Returns false when no thread could be made.
func watchForEnd(of pid: pid_t, record: ExitRecord, then: @escaping @Sendable () -> Void) -> Bool {
    let watch = EndWatch(pid: pid, record: record, then: then)
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, 128 * 1024)
    var all = sigset_t(), saved = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_SETMASK, &all, &saved)  // the thread inherits "every signal blocked"
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(watch).toOpaque()
    let r = pthread_create(&thread, &attributes, { context in
        Unmanaged<EndWatch>.fromOpaque(context!).takeRetainedValue().run()
        return nil
    }, context)
    if r != 0 { Unmanaged<EndWatch>.fromOpaque(context).release() }
    return r == 0
}

private final class EndWatch: @unchecked Sendable {
    let pid: pid_t
    let record: ExitRecord
    let then: @Sendable () -> Void

    init(pid: pid_t, record: ExitRecord, then: @escaping @Sendable () -> Void) {
        self.pid = pid
        self.record = record
        self.then = then
    }

    func run() {
        var info = siginfo_t()
        var r: Int32
        repeat { r = waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) } while r < 0 && errno == EINTR
        if r == 0 {
            let status = info._sifields._sigchld.si_status
            record.ended(info.si_code == CLD_EXITED ? .exited(status) : .signaled(status))
        }
        // r < 0 (ECHILD: someone else reaped it) leaves the report to swift-subprocess's result.
        then()
    }
}
