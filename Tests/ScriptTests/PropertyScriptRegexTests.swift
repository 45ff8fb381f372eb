// The script regex against Swift's own Regex on generated patterns of the supported syntax: the
// same answer on every generated input. A disagreement shrinks to a short pattern and input.
// (It replaces a seeded loop of random patterns: each run draws new ones, and a failure shrinks.)
import IPCScopeScript
import PropertyBased
import Testing
import TestSupport

/// One of `items`, shrinking towards the first.
func oneOf<T: Sendable>(_ items: [T]) -> Generator<T, Shrink.Integer<Int>> {
    Gen<Int>.value(in: 0...(items.count - 1)).map { items[$0] }
}

/// A pattern built from a list of choices (past its end every choice is 0: the atom `a`).
struct GeneratedPattern: Sendable, CustomStringConvertible {
    var text: String
    var description: String { "/\(text)/" }

    static let atoms = ["a", "b", "c", ".", "[ab]", "[^a]", "[a-c]", "\\w", "\\d", "x", "\\.", "\\s", "[\\d.]"]
    static let quantifiers = ["", "", "?", "{2}", "{1,2}", "{0,2}", "*", "+", "{0,}", "*?", "+?"]
    /// The first of `quantifiers` that repeat without bound.
    static let unbounded = 6

    init(_ choices: [UInt32]) {
        var c = Choices(choices)
        text = (c.pick(2) == 1 ? "^" : "") + Self.sequence(&c, depth: 2).text + (c.pick(2) == 1 ? "$" : "")
    }

    /// Pieces one after another; `unbounded` when one of them repeats without bound. Swift's
    /// Regex backtracks, and a starred group of starred atoms can take it minutes, so a group
    /// repeats without bound only when nothing inside it does (the linear matcher's own bombs
    /// have their own test).
    static func sequence(_ c: inout Choices, depth: Int) -> (text: String, unbounded: Bool) {
        var out = "", unbounded = false
        for _ in 0...c.pick(3) {
            if depth > 0, c.pick(3) == 0 {
                var inner = sequence(&c, depth: depth - 1)
                if c.pick(2) == 1 {
                    let other = sequence(&c, depth: depth - 1)
                    inner = (inner.text + "|" + other.text, inner.unbounded || other.unbounded)
                }
                let q = c.pick(inner.unbounded ? Self.unbounded : quantifiers.count)
                out += (c.pick(2) == 1 ? "(?:" : "(") + inner.text + ")" + quantifiers[q]
                unbounded = unbounded || inner.unbounded || q >= Self.unbounded
            } else {
                let q = c.pick(quantifiers.count)
                out += atoms[c.pick(atoms.count)] + quantifiers[q]
                unbounded = unbounded || q >= Self.unbounded
            }
        }
        return (out, unbounded)
    }
}

@Suite("Properties: script regex")
struct PropertyScriptRegexTests {
    @Test("a generated pattern finds a match exactly when Swift's Regex does")
    func agreesWithSwiftRegex() async throws {
        let patterns = Gen<UInt32>.value(in: 0...UInt32.max).array(of: 0...40).map { GeneratedPattern($0) }
        let inputs = oneOf(Array("abcx.1 _")).string(of: 0...8).array(of: 1...8)
        await propertyCheck(count: 500, input: patterns, inputs) { pattern, inputs in
            let ours = try ScriptRegex(pattern.text)
            let reference = try Regex(pattern.text)
            for input in inputs {
                let expected = (try? reference.firstMatch(in: input)) != nil
                #expect(ours.matches(input) == expected, "\(pattern) on '\(input)'")
            }
        }
    }
}
