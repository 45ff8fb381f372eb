// An operating-system thread for work that blocks: a server's loop, a signal taker, a log writer.
// Such work must never run on Swift's cooperative pool, which has only as many threads as cores:
// one blocked pool thread on a 2-core machine halves every other task's progress, two stop it.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// `pthread_create` refused to start a thread.
package struct ThreadStartError: Error, CustomStringConvertible {
    /// The errno `pthread_create` returned (EAGAIN when out of threads or memory).
    package let code: Int32
    package var description: String { "cannot start a thread: \(String(cString: strerror(code)))" }
}

/// A thread running one closure. Joinable unless started `detached`.
package final class OSThread: @unchecked Sendable {
    private var handle = pthread_t()
    private let joinable: Bool
    private var joined = false
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    private let ended: Ended

    private final class Ended: Sendable {
        let flag = Atomic<Bool>(false)
    }

    private final class Body {
        let run: () -> Void
        let ended: Ended
        init(_ run: @escaping () -> Void, _ ended: Ended) { self.run = run; self.ended = ended }
    }

    /// Starts `body` on a new thread. `blockingSignals`: the thread starts with every signal blocked
    /// (so none meant for the process lands on it).
    package init(detached: Bool = false, blockingSignals: Bool = false,
                 _ body: @escaping () -> Void) throws(ThreadStartError) {
        joinable = !detached
        let ended = Ended()
        self.ended = ended
        pthread_mutex_init(lock, nil)
        var saved = sigset_t()
        if blockingSignals {
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_SETMASK, &all, &saved)  // the new thread inherits the mask
        }
        let context = Unmanaged.passRetained(Body(body, ended)).toOpaque()
        let r = pthread_create(&handle, nil, { context in
            let body = Unmanaged<Body>.fromOpaque(context!).takeRetainedValue()
            body.run()
            body.ended.flag.store(true, ordering: .releasing)
            return nil
        }, context)
        if blockingSignals { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        guard r == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            pthread_mutex_destroy(lock)
            lock.deallocate()
            throw ThreadStartError(code: r)
        }
        if detached { pthread_detach(handle) }
    }

    deinit {
        // A joinable thread nobody joined keeps running; its resources go when the process ends.
        if joinable && !joined { pthread_detach(handle) }
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Waits for the thread's end. Once; later calls return at once.
    package func join() {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard joinable, !joined else { return }
        pthread_join(handle, nil)
        joined = true
    }

    /// Waits at most `timeout` seconds for the thread's end; true when it has ended (or was joined before).
    @discardableResult
    package func join(timeout: Double) -> Bool {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard joinable else { return false }
        if joined { return true }
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while !ended.flag.load(ordering: .acquiring) {
            var t = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t)
            if Double(t.tv_sec - start.tv_sec) + Double(t.tv_nsec - start.tv_nsec) / 1e9 >= timeout { return false }
            usleep(1000)
        }
        pthread_join(handle, nil)  // the body has returned: this is immediate
        joined = true
        return true
    }
}
