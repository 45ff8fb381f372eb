import IPCScopePOSIX
/// Parses the pattern syntax `ScriptRegex` supports into a `RegexNode` tree, refusing
/// everything else with what is not supported and where.
struct RegexParser {
    let p: [UInt32]
    var i = 0
    var depth = 0
    var caseInsensitive = false

    /// Groups nested deeper than this are refused (keeps the recursion bounded).
    static let maxDepth = 100

    init(_ pattern: [UInt32]) { p = pattern }

    mutating func parseAll() throws(ScriptRegexError) -> RegexNode {
        guard p.count <= ScriptRegex.maxPatternLength else {
            throw ScriptRegexError("the pattern is \(p.count) characters long; at most \(ScriptRegex.maxPatternLength) are accepted", at: 0)
        }
        if starts(with: "(?i)") { caseInsensitive = true; i = 4 }
        let tree = try alternation()
        if i < p.count {
            throw ScriptRegexError(p[i] == 0x29 ? "unbalanced ')': no '(' opens it" : "unexpected '\(char(p[i]))'", at: i)
        }
        return tree
    }

    // MARK: - grammar

    private mutating func alternation() throws(ScriptRegexError) -> RegexNode {
        var options = [try concatenation()]
        while peek == 0x7C {  // |
            i += 1
            options.append(try concatenation())
        }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    private mutating func concatenation() throws(ScriptRegexError) -> RegexNode {
        var parts: [RegexNode] = []
        while let c = peek, c != 0x7C, c != 0x29 {
            parts.append(try repetition())
        }
        return parts.count == 1 ? parts[0] : .concat(parts)
    }

    private mutating func repetition() throws(ScriptRegexError) -> RegexNode {
        var node = try atom()
        while let c = peek {
            let at = i
            var bounds: (Int, Int?)
            switch c {
            case 0x2A: bounds = (0, nil); i += 1          // *
            case 0x2B: bounds = (1, nil); i += 1          // +
            case 0x3F: bounds = (0, 1); i += 1            // ?
            case 0x7B:                                    // {
                guard let b = try counted() else { return node }  // a literal '{'
                bounds = b
            default: return node
            }
            if case .begin = node { throw ScriptRegexError("a quantifier cannot follow '^'", at: at) }
            if case .end = node { throw ScriptRegexError("a quantifier cannot follow '$'", at: at) }
            if peek == 0x3F { i += 1 }                                  // lazy: same yes/no answer
            else if peek == 0x2B { throw ScriptRegexError("possessive quantifiers ('*+', '++', …) are not supported", at: i) }
            node = .repetition(node, min: bounds.0, max: bounds.1)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and nothing consumed) when the brace does not start one.
    private mutating func counted() throws(ScriptRegexError) -> (Int, Int?)? {
        let start = i
        var j = i + 1
        func number(_ j: inout Int) -> Int? {
            var v = 0, digits = 0
            while j < p.count, (0x30...0x39).contains(p[j]) {
                if v <= ScriptRegex.maxRepeat * 10 { v = v * 10 + Int(p[j] - 0x30) }
                j += 1; digits += 1
            }
            return digits > 0 ? v : nil
        }
        guard let lo = number(&j) else { return nil }
        var hi: Int? = lo
        if j < p.count, p[j] == 0x2C {  // ,
            j += 1
            hi = number(&j)
        }
        guard j < p.count, p[j] == 0x7D else { return nil }
        i = j + 1
        if lo > ScriptRegex.maxRepeat || (hi ?? 0) > ScriptRegex.maxRepeat {
            throw ScriptRegexError("a repeat count is over \(ScriptRegex.maxRepeat)", at: start)
        }
        if let hi, hi < lo { throw ScriptRegexError("{\(lo),\(hi)}: the maximum is below the minimum", at: start) }
        return (lo, hi)
    }

    private mutating func atom() throws(ScriptRegexError) -> RegexNode {
        guard let c = peek else { throw ScriptRegexError("the pattern ends too early", at: i) }
        let at = i
        switch c {
        case 0x28:  // (
            i += 1
            if peek == 0x3F {  // ?
                if starts(with: "?:") { i += 2 } else {
                    let what = starts(with: "?=") || starts(with: "?!") || starts(with: "?<=") || starts(with: "?<!")
                        ? "lookaround groups like (?=…) are" : "'(?' groups other than (?:…) and a leading (?i) are"
                    throw ScriptRegexError("\(what) not supported", at: at)
                }
            }
            depth += 1
            guard depth <= Self.maxDepth else { throw ScriptRegexError("groups are nested deeper than \(Self.maxDepth)", at: at) }
            let inner = try alternation()
            depth -= 1
            guard peek == 0x29 else { throw ScriptRegexError("missing ')' to close the group opened here", at: at) }
            i += 1
            return inner
        case 0x5B: return .set(try bracket())  // [
        case 0x2E: i += 1; return .set(ScalarSet.single(10).complement)  // .
        case 0x5E: i += 1; return .begin  // ^
        case 0x24: i += 1; return .end    // $
        case 0x5C:  // backslash
            return .set(fold(try escape(inClass: false)))
        case 0x2A, 0x2B, 0x3F:
            throw ScriptRegexError("'\(char(c))' has nothing to repeat", at: at)
        default:
            i += 1
            return .set(fold(.single(c)))
        }
    }

    /// `[…]`, starting at the `[`.
    private mutating func bracket() throws(ScriptRegexError) -> ScalarSet {
        let open = i
        i += 1
        var negated = false
        if peek == 0x5E { negated = true; i += 1 }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let c = peek else { throw ScriptRegexError("missing ']' to close the class opened here", at: open) }
            if c == 0x5D && !first { i += 1; break }
            first = false
            if c == 0x5B && i + 1 < p.count && p[i + 1] == 0x3A {
                throw ScriptRegexError("POSIX classes like [:alpha:] are not supported; use ranges like a-zA-Z", at: i)
            }
            let lowAt = i
            let low: ScalarSet
            if c == 0x5C { low = try escape(inClass: true) } else { i += 1; low = .single(c) }
            // A range a-z: a single character, '-', a single character (not ']').
            if peek == 0x2D, i + 1 < p.count, p[i + 1] != 0x5D {
                guard low.ranges.count == 1, low.ranges[0].lowerBound == low.ranges[0].upperBound else {
                    throw ScriptRegexError("a class like \\d cannot start a range", at: lowAt)
                }
                i += 1
                let highAt = i
                let high: ScalarSet
                if p[i] == 0x5C { high = try escape(inClass: true) } else { high = .single(p[i]); i += 1 }
                guard high.ranges.count == 1, high.ranges[0].lowerBound == high.ranges[0].upperBound else {
                    throw ScriptRegexError("a class like \\d cannot end a range", at: highAt)
                }
                let a = low.ranges[0].lowerBound, b = high.ranges[0].lowerBound
                guard a <= b else { throw ScriptRegexError("range out of order: the first character is after the last", at: lowAt) }
                ranges.append(a...b)
            } else {
                ranges += low.ranges
            }
        }
        let set = fold(ScalarSet(ranges: ranges))
        return negated ? set.complement : set
    }

    /// A backslash escape, starting at the backslash.
    private mutating func escape(inClass: Bool) throws(ScriptRegexError) -> ScalarSet {
        let at = i
        i += 1
        guard let c = peek else { throw ScriptRegexError("the pattern ends with a lone backslash", at: at) }
        i += 1
        switch c {
        case 0x64: return .digit                   // d
        case 0x44: return ScalarSet.digit.complement
        case 0x77: return .word                    // w
        case 0x57: return ScalarSet.word.complement
        case 0x73: return .space                   // s
        case 0x53: return ScalarSet.space.complement
        case 0x6E: return .single(10)              // n
        case 0x72: return .single(13)              // r
        case 0x74: return .single(9)               // t
        case 0x66: return .single(12)              // f
        case 0x76: return .single(11)              // v
        case 0x30: return .single(0)               // 0
        case 0x78:                                 // xHH
            guard i + 1 < p.count, let h = hex(p[i]), let l = hex(p[i + 1]) else {
                throw ScriptRegexError("\\x needs two hex digits, like \\x41", at: at)
            }
            i += 2
            return .single(h << 4 | l)
        case 0x75:                                 // u{H…}
            guard peek == 0x7B else { throw ScriptRegexError("\\u needs braces, like \\u{e9}", at: at) }
            i += 1
            var v: UInt32 = 0, digits = 0
            while let d = peek.flatMap(hex) {
                guard digits < 6 else { break }
                v = v << 4 | d; i += 1; digits += 1
            }
            guard digits > 0, peek == 0x7D, v <= ScalarSet.maxScalar else {
                throw ScriptRegexError("\\u{…} needs 1 to 6 hex digits naming a Unicode scalar", at: at)
            }
            i += 1
            return .single(v)
        case 0x31...0x39:
            throw ScriptRegexError("backreferences like \\1 are not supported", at: at)
        case 0x62, 0x42, 0x41, 0x7A, 0x5A, 0x47:
            throw ScriptRegexError("the assertion \\\(char(c)) is not supported; use ^ and $", at: at)
        default:
            if (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) {
                throw ScriptRegexError("unknown escape \\\(char(c))", at: at)
            }
            return .single(c)  // \. \* \\ \[ \- and other punctuation stand for themselves
        }
    }

    // MARK: - helpers

    private var peek: UInt32? { i < p.count ? p[i] : nil }

    private func starts(with s: String) -> Bool {
        let u = Array(s.unicodeScalars.map(\.value))
        return i + u.count <= p.count && Array(p[i..<(i + u.count)]) == u
    }

    private func fold(_ s: ScalarSet) -> ScalarSet { caseInsensitive ? s.caseFolded : s }

    private func char(_ c: UInt32) -> String { Unicode.Scalar(c).map { String(Character($0)) } ?? "?" }

    private func hex(_ c: UInt32) -> UInt32? {
        c < 0x80 ? hexDigit(UInt8(c)).map(UInt32.init) : nil
    }
}
