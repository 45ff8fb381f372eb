/// Breakpoints of the in-process server (server mode): pause a call before it is answered
/// when any term matches.
///
/// Terms, separated by spaces: `fn=3` (function), `/text/` (payload contains the text, with
/// `\n`-style escapes), `hex=4865` (payload contains the bytes).
public struct Breakpoints: Sendable, Equatable {
    public enum Term: Sendable, Equatable {
        case function(UInt32)
        case contains([UInt8])
    }
    public let text: String
    public let terms: [Term]
    /// Terms that could not be read, to show.
    public let problems: [String]

    public init(_ text: String) {
        self.text = text
        var terms: [Term] = [], problems: [String] = []
        for w in text.split(separator: " ").map(String.init) {
            if w.hasPrefix("fn="), let f = UInt32(w.dropFirst(3)) {
                terms.append(.function(f))
            } else if w.hasPrefix("hex="), let b = try? parseHex(String(w.dropFirst(4))), !b.isEmpty {
                terms.append(.contains(b))
            } else if w.count >= 3, w.hasPrefix("/"), w.hasSuffix("/"), let b = try? unescape(String(w.dropFirst().dropLast())) {
                terms.append(.contains(b))
            } else {
                problems.append(w)
            }
        }
        self.terms = terms
        self.problems = problems
    }

    /// The first term that matches the call, described; nil when none does.
    public func match(function: UInt32, payload: [UInt8]) -> String? {
        for t in terms {
            switch t {
            case .function(let f) where f == function:
                return "breakpoint fn=\(f)"
            case .contains(let b) where !b.isEmpty && payload.count >= b.count:
                for i in 0...(payload.count - b.count) where payload[i..<(i + b.count)].elementsEqual(b) {
                    return "breakpoint on payload " + HexDump.printable(b)
                }
            default:
                continue
            }
        }
        return nil
    }
}
