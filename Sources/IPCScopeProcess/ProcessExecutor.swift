// The one thread on which every process this module starts is watched over.
//
// swift-subprocess is async and scopes a process to a closure; the callers here are synchronous
// and keep children across calls. A caller therefore starts the process in a task and blocks on a
// condition variable until the task reports. If that task ran on the cooperative pool (two threads
// on a two-core machine, and Swift Testing runs the tests themselves there), two blocked callers
// would starve it for good. So the task prefers this executor: one dedicated thread, never a pool
// thread, which only ever runs short jobs (the spawn itself runs on swift-subprocess's own worker
// thread, the exit is noticed by its monitor thread).
#if canImport(Glibc)
import Glibc
#endif

/// A `TaskExecutor` that runs its jobs, one at a time, on a thread of its own.
final class ProcessExecutor: TaskExecutor, @unchecked Sendable {
    /// The executor every process task of this module prefers.
    static let shared = ProcessExecutor()

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var jobs: [UnownedJob] = []

    private init() {
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wakeUp, nil)
        // The thread blocks every signal, so none meant for the process lands on it; swift-subprocess's
        // worker thread, created from this one, inherits that mask.
        var all = sigset_t(), saved = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let r = pthread_create(&thread, nil, { context in
            Unmanaged<ProcessExecutor>.fromOpaque(context!).takeRetainedValue().runJobs()
        }, context)
        precondition(r == 0, "cannot create the process executor's thread: \(String(cString: strerror(r)))")
        pthread_detach(thread)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(lock)
        jobs.append(job)
        pthread_cond_signal(wakeUp)
        pthread_mutex_unlock(lock)
    }

    /// The thread's loop: takes every queued job and runs it, forever.
    private func runJobs() -> Never {
        while true {
            pthread_mutex_lock(lock)
            while jobs.isEmpty { pthread_cond_wait(wakeUp, lock) }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(lock)
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
