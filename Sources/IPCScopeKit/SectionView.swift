#if canImport(Glibc)
import Glibc
#endif
import CIPCScope

/// Typed, atomic access to the fields of a mapped section.
///
/// A view is just a base pointer; it owns nothing. Every field the format marks
/// **A** is read and written here atomically, in the ordering the format's amendment 1 names:
/// `load32`/`store32`/`add32`... are sequentially consistent (the waiter handshakes, rare paths),
/// `acquire`/`release` publish and observe state and slots, `relaxed` is for display fields.
@usableFromInline
struct SectionView {
    @usableFromInline let base: UnsafeMutableRawPointer

    @inlinable init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @inlinable func ptr(_ offset: Int) -> UnsafeMutableRawPointer { base + offset }

    @inlinable func load32(_ offset: Int) -> UInt32 { CIPCScope_load32(base + offset) }
    @inlinable func store32(_ offset: Int, _ value: UInt32) { CIPCScope_store32(base + offset, value) }
    @inlinable @discardableResult func add32(_ offset: Int, _ value: UInt32) -> UInt32 { CIPCScope_add32(base + offset, value) }
    @inlinable @discardableResult func sub32(_ offset: Int, _ value: UInt32) -> UInt32 { CIPCScope_sub32(base + offset, value) }
    @inlinable func load64(_ offset: Int) -> UInt64 { CIPCScope_load64(base + offset) }
    @inlinable func store64(_ offset: Int, _ value: UInt64) { CIPCScope_store64(base + offset, value) }
    @inlinable @discardableResult func add64(_ offset: Int, _ value: UInt64) -> UInt64 { CIPCScope_add64(base + offset, value) }
    /// Stores `desired` only if the word holds `expected` (seq_cst); whether it did.
    @inlinable func compareExchange32(_ offset: Int, expected: UInt32, desired: UInt32) -> Bool {
        CIPCScope_cas32(base + offset, expected, desired)
    }

    @inlinable func load32(acquire offset: Int) -> UInt32 { CIPCScope_load32_acquire(base + offset) }
    @inlinable func store32(release offset: Int, _ value: UInt32) { CIPCScope_store32_release(base + offset, value) }
    @inlinable func load64(acquire offset: Int) -> UInt64 { CIPCScope_load64_acquire(base + offset) }
    @inlinable func store64(release offset: Int, _ value: UInt64) { CIPCScope_store64_release(base + offset, value) }
    @inlinable func load32(relaxed offset: Int) -> UInt32 { CIPCScope_load32_relaxed(base + offset) }
    @inlinable func store32(relaxed offset: Int, _ value: UInt32) { CIPCScope_store32_relaxed(base + offset, value) }
    @inlinable func load64(relaxed offset: Int) -> UInt64 { CIPCScope_load64_relaxed(base + offset) }
    @inlinable func store64(relaxed offset: Int, _ value: UInt64) { CIPCScope_store64_relaxed(base + offset, value) }
    /// A counter with one writer at a time: relaxed load and store, no locked instruction.
    @inlinable @discardableResult func bump64(_ offset: Int, _ value: UInt64) -> UInt64 { CIPCScope_bump64_relaxed(base + offset, value) }

    /// Plain (non-atomic) little fields of the slots.
    @inlinable func plain<T: FixedWidthInteger>(_ offset: Int, as: T.Type = T.self) -> T {
        (base + offset).loadUnaligned(as: T.self)
    }
    @inlinable func setPlain<T: FixedWidthInteger>(_ offset: Int, _ value: T) {
        (base + offset).storeBytes(of: value, as: T.self)
    }

    // MARK: - named fields

    /// `state`, observed (acquire): the slot it announces is then visible.
    @inlinable var state: UInt32 { load32(acquire: Int(IPCSCOPE_OFF_STATE)) }
    /// `state`, seq_cst: the re-check after a waiter bumped its waiting word.
    @inlinable var stateHandshake: UInt32 { load32(Int(IPCSCOPE_OFF_STATE)) }
    /// Publishes `state` (release) with its display time (relaxed).
    @inlinable func setState(_ s: UInt32, now: UInt64) {
        store64(relaxed: Int(IPCSCOPE_OFF_STATE_SINCE_NS), now)
        store32(release: Int(IPCSCOPE_OFF_STATE), s)
    }
    /// Stores `state` seq_cst: the first half of a waiter handshake (a load of the other side's
    /// waiting word follows).
    @inlinable func setStateHandshake(_ s: UInt32, now: UInt64) {
        store64(relaxed: Int(IPCSCOPE_OFF_STATE_SINCE_NS), now)
        store32(Int(IPCSCOPE_OFF_STATE), s)
    }
    @inlinable var serverPID: Int32 { Int32(bitPattern: load32(Int(IPCSCOPE_OFF_SERVER_PID))) }
    @inlinable var serverEpoch: UInt32 { load32(Int(IPCSCOPE_OFF_SERVER_EPOCH)) }
    @inlinable var serverFlags: UInt32 { load32(Int(IPCSCOPE_OFF_SERVER_FLAGS)) }
    @inlinable var mutex: UnsafeMutableRawPointer { base + Int(IPCSCOPE_OFF_MUTEX) }
    @inlinable var requestEvent: UnsafeMutableRawPointer { base + Int(IPCSCOPE_OFF_REQUEST_EVENT) }
    @inlinable var responseEvent: UnsafeMutableRawPointer { base + Int(IPCSCOPE_OFF_RESPONSE_EVENT) }
}

/// Spins until `done()` or until `budgetNS` passes (never past `deadline`); returns whether
/// `done()` held. The first 3 µs spin on the CPU (an answer from a peer on another core comes
/// well within that); the rest of the budget yields between checks, so a peer that shares this
/// CPU runs at once instead of after the whole budget (measured: 157 µs round trips without
/// the yield when both sides landed on one CPU). No system call in the first 3 µs.
@inline(__always)
func spin(budgetNS: UInt64, deadline: UInt64 = .max, _ done: () -> Bool) -> Bool {
    if done() { return true }
    guard budgetNS > 0 else { return false }
    let start = monotonicNanoseconds()
    let until = min(deadline, start &+ budgetNS)
    let pureUntil = min(until, start &+ 3_000)
    var i = 0
    while true {
        if done() { return true }
        CIPCScope_cpu_relax()
        i &+= 1
        if i & 63 == 0 && monotonicNanoseconds() >= pureUntil { break }
    }
    while monotonicNanoseconds() < until {
        if done() { return true }
        sched_yield()
    }
    return done()
}

/// Nanoseconds of CLOCK_MONOTONIC, the clock every `_ns` field but `created_unix_ns` uses.
@inlinable public func monotonicNanoseconds() -> UInt64 { CIPCScope_monotonic_ns() }

/// Nanoseconds of CLOCK_REALTIME.
@inlinable public func realtimeNanoseconds() -> UInt64 { CIPCScope_realtime_ns() }

extension Duration {
    /// The duration in whole nanoseconds, clamped to 0 ... Int64.max.
    @inlinable var nanosecondsClamped: UInt64 {
        let (s, a) = components
        if s < 0 { return 0 }
        if s >= Int64.max / 1_000_000_000 { return UInt64(Int64.max) }
        return UInt64(s) * 1_000_000_000 + UInt64(a / 1_000_000_000)
    }
}
