// The project's one seedable random generator.

/// SplitMix64 (Steele, Lea and Flood): a tiny, fast generator whose whole state is one seed, so a
/// fuzz case, a torture run's sequence of acts or a demo client's traffic can be replayed from it.
/// Not for secrets.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    package init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A value in `0..<n` (0 when `n` is not positive; a value is drawn either way, so the
    /// sequence after it does not depend on `n`).
    package mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    /// True with probability 1/`n`.
    package mutating func oneIn(_ n: Int) -> Bool { below(n) == 0 }

    /// One element of a non-empty `array`.
    package mutating func pick<T>(_ array: [T]) -> T { array[below(array.count)] }
}
