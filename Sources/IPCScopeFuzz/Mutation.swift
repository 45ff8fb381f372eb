// Deterministic randomness and the mutations the fuzzer applies to its seeds.
import IPCScopeRandom

extension SplitMix64 {
    /// The generator for case `index` of `target` in a run seeded with `seed`, so a case is
    /// reproducible from (seed, target, index).
    init(seed: UInt64, target: String, index: UInt64) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in target.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        self.init(seed: seed ^ h ^ (index &* 0x9e37_79b9_7f4a_7c15))
        _ = next()
    }
}

/// Values that sit on the edges of integer and floating-point conversions.
enum Interesting {
    static let u64: [UInt64] = [
        0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x1_0000,
        0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000,
        0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, 0xffff_ffff_ffff_fffe, 0xffff_ffff_ffff_ffff,
        UInt64(bitPattern: -64), UInt64(bitPattern: -512),
        // 2^63 / 2^32 + small: sizes and offsets just past what fits
        0x8000_0000_0000_0200, 0x1_0000_0200, 4096, 512, 64, 16, 8,
    ]
    static let u32: [UInt32] = [0, 1, 2, 3, 4, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0x7fff_ffff,
                                0x8000_0000, 0xffff_fffe, 0xffff_ffff, 512, 4096, 64, 63, 65]
    /// Number texts for parsers of durations, sizes and numbers.
    static let numbers: [String] = [
        "0", "-0", "1", "-1", "0.0", "1e10", "1e300", "-1e300", "1e-300", "1e308", "1.8e308", "-1e30",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "4294967295", "4294967296", "2147483647", "2147483648",
        "9223372037", "9223372036.854775807", "9223372036854775.807", "1e19", "1e9", "1e12", "1e18",
        "nan", "NaN", "-nan", "inf", "-inf", "infinity", "Infinity", "0x10", "0x1p63", "0x1p64", "1e", "e1", "+",
        "-", ".", "1.", ".5", "5e-324", "4.9e-324", "1_000", "١٢", "0b1", "00000000000000000000000000001",
    ]
    static let bytes: [UInt8] = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x0a, 0x0d, 0x1b, 0x5c, 0x22, 0x27, 0xc3, 0xe2, 0xf0, 0x25]
}

/// Byte-level mutations: flips, interesting values at aligned fields, truncation, splicing.
enum Mutate {
    /// Applies 1...`maxSteps` random mutations to `input`; `others` are spliced from.
    static func bytes(_ input: [UInt8], others: [[UInt8]], rng: inout SplitMix64, maxSteps: Int = 6,
                      hotRange: Range<Int>? = nil, limit: Int = 1 << 20) -> [UInt8] {
        var b = input
        for _ in 0...rng.below(maxSteps) { step(&b, others: others, rng: &rng, hotRange: hotRange) }
        if b.count > limit { b.removeLast(b.count - limit) }
        return b
    }

    /// A position to mutate: half the time inside `hot` (e.g. a section header), else anywhere.
    private static func position(_ count: Int, hot: Range<Int>?, rng: inout SplitMix64) -> Int {
        if let hot, rng.oneIn(2) {
            let h = hot.clamped(to: 0..<max(count, 0))
            if !h.isEmpty { return h.lowerBound + rng.below(h.count) }
        }
        return rng.below(count)
    }

    private static func step(_ b: inout [UInt8], others: [[UInt8]], rng: inout SplitMix64, hotRange: Range<Int>?) {
        let kind = rng.below(10)
        if b.isEmpty && kind < 7 { b.append(UInt8(truncatingIfNeeded: rng.next())); return }
        switch kind {
        case 0: // bit flip
            let i = position(b.count, hot: hotRange, rng: &rng)
            b[i] ^= 1 << UInt8(rng.below(8))
        case 1: // random byte
            b[position(b.count, hot: hotRange, rng: &rng)] = UInt8(truncatingIfNeeded: rng.next())
        case 2: // interesting byte
            b[position(b.count, hot: hotRange, rng: &rng)] = rng.pick(Interesting.bytes)
        case 3, 4: // interesting 64-bit value at an 8-aligned field
            let i = position(b.count, hot: hotRange, rng: &rng) & ~7
            put(&b, at: i, rng.pick(Interesting.u64), width: 8)
        case 5, 6: // interesting 32-bit value at a 4-aligned field
            let i = position(b.count, hot: hotRange, rng: &rng) & ~3
            put(&b, at: i, UInt64(rng.pick(Interesting.u32)), width: 4)
        case 7: // truncate
            if !b.isEmpty { b.removeLast(rng.below(b.count + 1) / (rng.oneIn(2) ? 1 : 16)) }
        case 8: // splice a chunk of another input (or this one) over a random place
            let src = others.isEmpty || rng.oneIn(3) ? b : rng.pick(others)
            guard !src.isEmpty else { return }
            let from = rng.below(src.count), n = 1 + rng.below(min(64, src.count - from))
            let at = b.isEmpty ? 0 : rng.below(b.count)
            if rng.oneIn(2) {
                b.insert(contentsOf: src[from..<(from + n)], at: at)
            } else {
                let end = min(b.count, at + n)
                b.replaceSubrange(at..<end, with: src[from..<(from + n)])
            }
        default: // delete or duplicate a chunk
            guard !b.isEmpty else { return }
            let at = rng.below(b.count), n = 1 + rng.below(min(32, b.count - at))
            if rng.oneIn(2) { b.removeSubrange(at..<(at + n)) } else { b.insert(contentsOf: b[at..<(at + n)], at: at) }
        }
    }

    /// Writes `value` little-endian at `at`, when it fits.
    static func put(_ b: inout [UInt8], at: Int, _ value: UInt64, width: Int) {
        guard at >= 0, at + width <= b.count else { return }
        for k in 0..<width { b[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
    }

    /// Text mutations: numbers swapped for edge values, special characters, then byte-level noise.
    static func text(_ s: String, others: [String], rng: inout SplitMix64, extra: [String] = []) -> [UInt8] {
        var t = s
        for _ in 0...rng.below(4) {
            switch rng.below(5) {
            case 0, 1: t = replaceNumber(t, rng: &rng)
            case 2:
                let specials = ["\\", "\"", "'", ":", "- ", "{", "}", "[", "]", "&a ", "*a", "\n", "\t", "#", "%", "|",
                                "\\x", "\\u{", "\\0", "\u{0}", "é", "\u{202e}", "  ", "!", "=", ">", "<", "/"] + extra
                let idx = t.isEmpty ? t.startIndex : t.index(t.startIndex, offsetBy: rng.below(t.count + 1))
                t.insert(contentsOf: rng.pick(specials), at: idx)
            case 3:
                if !others.isEmpty {
                    let o = rng.pick(others)
                    let cut = o.isEmpty ? o.startIndex : o.index(o.startIndex, offsetBy: rng.below(o.count))
                    let mine = t.isEmpty ? t.startIndex : t.index(t.startIndex, offsetBy: rng.below(t.count + 1))
                    t = String(t[..<mine]) + String(o[cut...])
                }
            default:
                return bytes(Array(t.utf8), others: others.map { Array($0.utf8) }, rng: &rng, maxSteps: 2, limit: 1 << 16)
            }
        }
        return Array(t.utf8)
    }

    /// Replaces one run of digits (with sign, point, exponent) by an edge value.
    static func replaceNumber(_ s: String, rng: inout SplitMix64) -> String {
        let chars = Array(s)
        let starts = chars.indices.filter { chars[$0].isNumber && ($0 == 0 || !chars[$0 - 1].isNumber) }
        guard !starts.isEmpty else { return s + rng.pick(Interesting.numbers) }
        let start = rng.pick(starts)
        var end = start
        while end < chars.count, chars[end].isNumber || chars[end] == "." || chars[end] == "e" { end += 1 }
        return String(chars[..<start]) + rng.pick(Interesting.numbers) + String(chars[end...])
    }
}
