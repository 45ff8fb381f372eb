/// A regular expression from a script, matched in time linear in the payload.
///
/// The pattern is compiled to a small program (a Thompson NFA) and run by a Pike VM: every
/// position of the input is visited once with at most one thread per instruction, so patterns
/// such as `^(a+)+$` that make backtracking engines take exponential time cost no more than
/// any other. The supported syntax (documented in docs/scripts.md):
///
/// - literals; `.` (any character but a newline); `\.`-style escapes of punctuation;
/// - `\d \D \w \W \s \S`, `\n \r \t \f \v \0`, `\xHH`, `\u{H…}`;
/// - classes `[abc]`, `[^a-z0-9_]` (with the escapes above inside);
/// - anchors `^` (start of the payload) and `$` (end, or before a final newline);
/// - groups `( … )` and `(?: … )`, alternation `|`;
/// - quantifiers `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}` (lazy forms such as `*?` mean the same
///   for a yes/no match);
/// - `(?i)` at the very start: ASCII letters match either case.
///
/// Refused with a message: backreferences, lookaround, possessive quantifiers, other `(?…)`
/// groups, POSIX classes, and patterns that compile to more than `maxProgramSize` instructions.
package struct ScriptRegex: Sendable {
    /// The pattern as written.
    package let pattern: String
    let program: [RegexInstruction]
    let machine: RegexMachine
    let anchored: Bool

    /// The largest compiled program accepted (repeats are expanded: `a{500}` is 500 instructions).
    package static let maxProgramSize = 5_000
    /// The largest `n` or `m` in `{n,m}`.
    package static let maxRepeat = 1_000
    /// The longest pattern accepted, in characters.
    package static let maxPatternLength = 4_096
    /// VM steps after which `search` gives up: a payload of a few hundred KiB against a pattern
    /// of a thousand instructions. Well under a second in a release build; a few seconds at
    /// worst in a debug build.
    package static let defaultStepBudget = 10_000_000

    /// The result of a search.
    package enum Outcome: Sendable, Equatable {
        case match
        case noMatch
        /// The step budget ran out before an answer (a huge payload times a large pattern).
        case gaveUp(steps: Int)
    }

    /// Compiles `pattern`.
    /// - Throws: `ScriptRegexError` saying what is wrong and at which character.
    package init(_ pattern: String) throws(ScriptRegexError) {
        self.pattern = pattern
        var parser = RegexParser(Array(pattern.unicodeScalars.map(\.value)))
        let tree = try parser.parseAll()
        var compiler = RegexCompiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        program = compiler.program
        machine = RegexMachine(program)
        if case .begin = program.first { anchored = true } else { anchored = false }
    }

    /// Whether the pattern matches anywhere in `text` (anchor it with `^`/`$` for a whole match).
    /// A search that runs out of steps counts as no match; use `search` to tell the two apart.
    package func matches(_ text: String) -> Bool { search(text) == .match }

    /// Searches `text` (as Unicode scalars), giving up after `stepBudget` VM steps.
    package func search(_ text: String, stepBudget: Int = ScriptRegex.defaultStepBudget) -> Outcome {
        search(scalars: Array(text.unicodeScalars.map(\.value)), stepBudget: stepBudget)
    }

    /// Searches a text already split into Unicode scalar values.
    func search(scalars input: [UInt32], stepBudget: Int) -> Outcome {
        machine.run(input, anchored: anchored, stepBudget: stepBudget)
    }
}

/// The program laid out flat for the VM: one opcode and two operands per instruction, the
/// character sets as one array of range bounds, so the inner loop does no reference counting.
struct RegexMachine: Sendable {
    static let opSet: UInt8 = 0, opSplit: UInt8 = 1, opJump: UInt8 = 2, opBegin: UInt8 = 3, opEnd: UInt8 = 4, opMatch: UInt8 = 5
    var ops: [UInt8] = []
    /// For a set: start index in `bounds`; split: first target; jump: target.
    var a: [Int] = []
    /// For a set: end index in `bounds` (exclusive); split: second target.
    var b: [Int] = []
    /// Pairs of lower, upper bounds of every set, one after another.
    var bounds: [UInt32] = []

    init(_ program: [RegexInstruction]) {
        for inst in program {
            switch inst {
            case .set(let s):
                ops.append(Self.opSet); a.append(bounds.count)
                for r in s.ranges { bounds.append(r.lowerBound); bounds.append(r.upperBound) }
                b.append(bounds.count)
            case .split(let x, let y): ops.append(Self.opSplit); a.append(x); b.append(y)
            case .jump(let x): ops.append(Self.opJump); a.append(x); b.append(0)
            case .begin: ops.append(Self.opBegin); a.append(0); b.append(0)
            case .end: ops.append(Self.opEnd); a.append(0); b.append(0)
            case .match: ops.append(Self.opMatch); a.append(0); b.append(0)
            }
        }
    }

    func run(_ input: [UInt32], anchored: Bool, stepBudget: Int) -> ScriptRegex.Outcome {
        let count = ops.count
        var current = [Int](repeating: 0, count: count), next = [Int](repeating: 0, count: count)
        var mark = [Int](repeating: -1, count: count)
        var stack = [Int](repeating: 0, count: count * 2 + 2)
        return ops.withUnsafeBufferPointer { ops in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    bounds.withUnsafeBufferPointer { bounds in
                        input.withUnsafeBufferPointer { input in
                            current.withUnsafeMutableBufferPointer { current in
                                next.withUnsafeMutableBufferPointer { next in
                                    mark.withUnsafeMutableBufferPointer { mark in
                                        stack.withUnsafeMutableBufferPointer { stack in
                                            Self.run(ops: ops, a: a, b: b, bounds: bounds, input: input, anchored: anchored,
                                                     stepBudget: stepBudget, current: current, next: next, mark: mark, stack: stack)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The Pike VM: threads for one position in `current`, at most one per instruction
    /// (`mark` holds the position an instruction was last added at).
    private static func run(ops: UnsafeBufferPointer<UInt8>, a: UnsafeBufferPointer<Int>, b: UnsafeBufferPointer<Int>,
                            bounds: UnsafeBufferPointer<UInt32>, input: UnsafeBufferPointer<UInt32>, anchored: Bool,
                            stepBudget: Int, current: UnsafeMutableBufferPointer<Int>, next: UnsafeMutableBufferPointer<Int>,
                            mark: UnsafeMutableBufferPointer<Int>, stack: UnsafeMutableBufferPointer<Int>) -> ScriptRegex.Outcome {
        let n = input.count
        var cur = current, nxt = next
        var curCount = 0, nxtCount = 0
        var steps = 0

        /// Adds the thread at `start` and all reachable without reading; true on reaching `match`.
        func add(_ start: Int, at pos: Int, to list: UnsafeMutableBufferPointer<Int>, _ listCount: inout Int) -> Bool {
            var top = 0
            stack[top] = start; top += 1
            while top > 0 {
                top -= 1
                let pc = stack[top]
                if mark[pc] == pos { continue }
                mark[pc] = pos
                steps &+= 1
                switch ops[pc] {
                case opJump: stack[top] = a[pc]; top += 1
                case opSplit: stack[top] = b[pc]; stack[top + 1] = a[pc]; top += 2
                case opBegin: if pos == 0 { stack[top] = pc + 1; top += 1 }
                case opEnd: if pos == n || (pos == n - 1 && input[pos] == 10) { stack[top] = pc + 1; top += 1 }
                case opMatch: return true
                default: list[listCount] = pc; listCount += 1
                }
            }
            return false
        }

        var pos = 0
        while true {
            if pos == 0 || !anchored, add(0, at: pos, to: cur, &curCount) { return .match }
            if steps > stepBudget { return .gaveUp(steps: steps) }
            if pos == n || (curCount == 0 && anchored) { return .noMatch }
            let c = input[pos]
            nxtCount = 0
            for k in 0..<curCount {
                let pc = cur[k]
                steps &+= 1
                // Binary search over the set's ranges.
                var lo = a[pc] / 2, hi = b[pc] / 2
                let end = hi
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if bounds[2 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
                }
                if lo < end, bounds[2 * lo] <= c, add(pc + 1, at: pos + 1, to: nxt, &nxtCount) { return .match }
            }
            swap(&cur, &nxt)
            curCount = nxtCount
            pos += 1
        }
    }
}

/// A pattern that cannot be compiled: what is wrong, and where (0-based character offset).
package struct ScriptRegexError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong, in words.
    package var message: String
    /// 0-based offset in the pattern's characters (Unicode scalars).
    package var offset: Int

    package init(_ message: String, at offset: Int) {
        self.message = message
        self.offset = offset
    }

    package var description: String { "\(message) (at character \(offset + 1))" }
}

// MARK: - program

/// Ranges of Unicode scalar values, sorted and disjoint.
struct ScalarSet: Sendable, Equatable {
    var ranges: [ClosedRange<UInt32>]

    static let maxScalar: UInt32 = 0x10FFFF
    static let any = ScalarSet(ranges: [0...maxScalar])
    static let digit = ScalarSet(ranges: [0x30...0x39])
    static let word = ScalarSet(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = ScalarSet(ranges: [0x09...0x0D, 0x20...0x20])

    init(ranges: [ClosedRange<UInt32>]) {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for r in sorted {
            if let last = merged.last, r.lowerBound <= last.upperBound || r.lowerBound == last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        self.ranges = merged
    }

    static func single(_ c: UInt32) -> ScalarSet { ScalarSet(ranges: [c...c]) }

    /// Every scalar not in this set.
    var complement: ScalarSet {
        var out: [ClosedRange<UInt32>] = []
        var from: UInt32 = 0
        var open = true
        for r in ranges {
            if r.lowerBound > from { out.append(from...(r.lowerBound - 1)) }
            if r.upperBound >= Self.maxScalar { open = false; break }
            from = r.upperBound + 1
        }
        if open && from <= Self.maxScalar { out.append(from...Self.maxScalar) }
        return ScalarSet(ranges: out)
    }

    /// This set plus the other case of every ASCII letter in it.
    var caseFolded: ScalarSet {
        var extra = ranges
        for r in ranges {
            for (lo, hi, shift) in [(UInt32(0x61), UInt32(0x7A), -32), (UInt32(0x41), UInt32(0x5A), 32)] {
                let a = max(r.lowerBound, lo), b = min(r.upperBound, hi)
                if a <= b { extra.append(UInt32(Int(a) + shift)...UInt32(Int(b) + shift)) }
            }
        }
        return ScalarSet(ranges: extra)
    }

    func contains(_ c: UInt32) -> Bool {
        var lo = 0, hi = ranges.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ranges[mid].upperBound < c { lo = mid + 1 } else { hi = mid }
        }
        return lo < ranges.count && ranges[lo].contains(c)
    }
}

/// One instruction of the compiled program.
enum RegexInstruction: Sendable, Equatable {
    /// Read one character in the set.
    case set(ScalarSet)
    /// Continue at both targets.
    case split(Int, Int)
    case jump(Int)
    /// Assertions: start of input, end of input (or before a final newline).
    case begin, end
    case match
}

/// The parsed pattern.
indirect enum RegexNode: Sendable {
    case set(ScalarSet)
    case begin, end
    case concat([RegexNode])
    case alternation([RegexNode])
    /// `max` nil: unbounded.
    case repetition(RegexNode, min: Int, max: Int?)
}

struct RegexCompiler {
    var program: [RegexInstruction] = []

    private mutating func append(_ i: RegexInstruction) throws(ScriptRegexError) -> Int {
        guard program.count < ScriptRegex.maxProgramSize else {
            throw ScriptRegexError("the pattern is too large: it compiles to more than \(ScriptRegex.maxProgramSize) steps "
                                   + "(repeats count once per copy); use smaller {n,m} counts", at: 0)
        }
        program.append(i)
        return program.count - 1
    }

    mutating func emit(_ node: RegexNode) throws(ScriptRegexError) {
        switch node {
        case .set(let s): _ = try append(.set(s))
        case .begin: _ = try append(.begin)
        case .end: _ = try append(.end)
        case .concat(let parts): for p in parts { try emit(p) }
        case .alternation(let options):
            var jumps: [Int] = []
            for (k, option) in options.enumerated() {
                if k == options.count - 1 { try emit(option); break }
                let split = try append(.split(0, 0))
                try emit(option)
                jumps.append(try append(.jump(0)))
                program[split] = .split(split + 1, program.count)
            }
            for j in jumps { program[j] = .jump(program.count) }
        case .repetition(let body, let min, let max):
            for _ in 0..<min { try emit(body) }
            if let max {
                var skips: [Int] = []
                for _ in min..<max {
                    let split = try append(.split(0, 0))
                    try emit(body)
                    program[split] = .split(split + 1, 0)
                    skips.append(split)
                }
                for s in skips { program[s] = .split(s + 1, program.count) }
            } else {
                let split = try append(.split(0, 0))
                try emit(body)
                _ = try append(.jump(split))
                program[split] = .split(split + 1, program.count)
            }
        }
    }
}
