/// Breakpoints of the in-process server (server mode): pause a call before it is answered
/// when ANY term matches (the history filter takes the same terms but needs ALL of them).
///
/// Terms, separated by spaces: `fn=3` (function; also `fn!=3`, `fn>3`, …), `size>100`,
/// `/text/` (payload contains the text, with `\n`-style escapes), `hex=4865` (payload contains
/// the bytes), or a plain word (payload contains it). See `parseCallTerm`. Status, pid and
/// latency are refused: they are not known when a breakpoint is checked.
import IPCScopeObserve
package struct Breakpoints: Sendable, Equatable {
    package enum Term: Sendable, Equatable {
        case function(UInt32)
        case contains([UInt8])
        /// Any other term of the shared syntax (`fn!=3`, `size>100`, a plain word).
        case other(CallTerm)
    }
    package let text: String
    package let terms: [Term]
    /// Terms that could not be read, to show.
    package let problems: [String]

    /// What to show where breakpoints are typed.
    package static let syntaxHint = "any one stops a call: fn=3 size>100 /text/ hex=4865 word"

    /// Parses `text`, refusing it when any term cannot be read or cannot apply to a call
    /// that is not answered yet.
    /// - Throws: `CallFilterError` naming the first bad term.
    package init(parsing text: String) throws(CallFilterError) {
        let b = Breakpoints(text)
        if let first = b.errors.first { throw first }
        self = b
    }

    /// Parses `text` leniently: terms that cannot be read are left out and listed in `problems`.
    package init(_ text: String) {
        self.text = text
        var terms: [Term] = [], errors: [CallFilterError] = []
        let words = String(text.prefix(CallFilterLimits.maxTextLength)).split(separator: " ").prefix(CallFilterLimits.maxTerms)
        for word in words.map(String.init) {
            do throws(CallFilterError) {
                let term = try parseCallTerm(word)
                switch term {
                case .compare(.function, .eq, let f): terms.append(.function(UInt32(truncatingIfNeeded: f)))
                case .contains(let b): terms.append(.contains(b))
                case .compare(let field, _, _) where field == .status || field == .pid || field == .latency:
                    throw CallFilterError(term: word, "a breakpoint stops a call before it is answered, when its "
                                          + "\(field.rawValue) is not known: use fn, size, /text/, hex= or a word")
                default: terms.append(.other(term))
                }
            } catch {
                errors.append(error)
            }
        }
        self.terms = terms
        self.errors = errors
        self.problems = errors.map(\.description)
    }

    private let errors: [CallFilterError]

    /// The first term that matches the call, described; nil when none does.
    package func match(function: UInt32, payload: [UInt8]) -> String? {
        for t in terms {
            switch t {
            case .function(let f) where f == function:
                return "breakpoint fn=\(f)"
            case .contains(let b) where !b.isEmpty && payloadContains(payload, b):
                return "breakpoint on payload " + HexDump.printable(b)
            case .other(let term):
                switch term {
                case .compare(let field, let op, let v):
                    let x: Int64? = field == .function ? Int64(function) : field == .size ? Int64(payload.count) : nil
                    if let x, op.holds(x, v) { return "breakpoint \(field.rawValue)\(op.rawValue)\(v)" }
                case .word(let w) where wordMatches(payload, w):
                    return "breakpoint on payload " + w
                default:
                    continue
                }
            default:
                continue
            }
        }
        return nil
    }
}
