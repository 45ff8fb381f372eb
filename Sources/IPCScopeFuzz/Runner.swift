// The child side: runs cases in order, writing each input to a shared file before running it,
// so that when a case traps the supervisor still has the input and the faulting frames.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScopeFuzz
import IPCScopeKit
import IPCScopeRandom
import IPCScopePOSIX

/// The shared case file: the case being run, its input, the count of finished cases, and what
/// the crash handler found. Both processes map it; the child writes, the supervisor reads.
struct CaseSlot {
    static let inputLimit = 4 << 20
    static let framesLimit = 24
    // header fields (UInt64 each)
    static let index = 0, length = 8, done = 16, signal = 24, frameCount = 32, frames = 64
    static let inputOffset = frames + 8 * framesLimit
    static var size: Int { inputOffset + inputLimit }

    let base: UnsafeMutableRawPointer

    /// Maps `path` (created and sized if needed).
    init?(path: String, create: Bool) {
        let fd = open(path, (create ? O_CREAT | O_TRUNC : 0) | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if create { guard ftruncate(fd, off_t(CaseSlot.size)) == 0 else { return nil } }
        guard let p = mmap(nil, CaseSlot.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else { return nil }
        base = p
    }

    func get(_ field: Int) -> UInt64 { base.load(fromByteOffset: field, as: UInt64.self) }
    func set(_ field: Int, _ v: UInt64) { base.storeBytes(of: v, toByteOffset: field, as: UInt64.self) }

    /// The input of the case being run.
    var input: [UInt8] {
        let n = min(Int(get(CaseSlot.length)), CaseSlot.inputLimit)
        return Array(UnsafeRawBufferPointer(start: base + CaseSlot.inputOffset, count: n))
    }

    func store(_ input: [UInt8], index: UInt64) {
        let n = min(input.count, CaseSlot.inputLimit)
        input.withUnsafeBytes { (base + CaseSlot.inputOffset).copyMemory(from: $0.baseAddress!, byteCount: n) }
        set(CaseSlot.length, UInt64(n))
        set(CaseSlot.index, index)
    }

    /// The return addresses the crash handler saved, as offsets into their modules.
    var frames: [UInt64] {
        (0..<min(Int(get(CaseSlot.frameCount)), CaseSlot.framesLimit)).map { get(CaseSlot.frames + 8 * $0) }
    }
}

/// On a fatal signal the C handler saves the signal and the executable's frames into the slot,
/// then dies by the same signal.
private func installCrashHandler(_ slot: CaseSlot) {
    let b = slot.base
    CIPCScopeFuzz_install_crash_handler(
        (b + CaseSlot.signal).assumingMemoryBound(to: UInt64.self),
        (b + CaseSlot.frameCount).assumingMemoryBound(to: UInt64.self),
        (b + CaseSlot.frames).assumingMemoryBound(to: UInt64.self), Int32(CaseSlot.framesLimit))
}

/// Runs cases `from..<to` of `target`, recording each in the slot at `slotPath`.
func runCases(target: FuzzTarget, seed: UInt64, from: UInt64, to: UInt64, slotPath: String) -> Int32 {
    guard let slot = CaseSlot(path: slotPath, create: false) else { return 3 }
    installCrashHandler(slot)
    let ctx = FuzzContext()
    defer { ctx.cleanup() }
    var i = from
    while i < to {
        var rng = SplitMix64(seed: seed, target: target.name, index: i)
        let input = target.generate(&rng, ctx)
        slot.store(input, index: i)
        target.run(input, ctx)
        i += 1
        slot.set(CaseSlot.done, i)
    }
    return 0
}

/// Runs stored inputs in this process (a trap kills it: the caller sees the signal).
func replay(target: FuzzTarget, files: [String]) -> Int32 {
    let ctx = FuzzContext()
    defer { ctx.cleanup() }
    for f in files {
        guard let input = readFileContents(f) else {
            printErrorLine("cannot read '\(f)'")
            return 2
        }
        target.run(input, ctx)
    }
    return 0
}


