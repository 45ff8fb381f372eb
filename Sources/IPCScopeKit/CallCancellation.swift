import Synchronization

/// Lets another thread give up a call that is waiting: for the mutex, for the slot to be free,
/// or for its answer.
///
/// Pass one to `Client.call(function:payload:timeout:cancellation:)` and call `cancel()` from
/// any thread: the call throws `IPCError.Code.cancelled` within about 100 ms (its waits sleep
/// in slices of at most that). Giving up works as a deadline does: a request already handed
/// to the server stays with it, the server still answers it, and the next call waits for that
/// answer before it uses the slot. A token is for one call; make a new one for the next.
public final class CallCancellation: Sendable {
    private let flag = Atomic<Bool>(false)

    /// A token not yet cancelled.
    public init() {}

    /// Gives up the call this token was passed to (or makes it fail at its first wait).
    public func cancel() { flag.store(true, ordering: .releasing) }

    /// Whether `cancel()` was called.
    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}
