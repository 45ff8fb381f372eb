/// The terms a person types to pick calls: after `/` (the history filter, where every term
/// must hold) and after `b` (breakpoints, where any term stops a call). One grammar for both:
///
/// - `fn=3`, `status!=0` (also `st`), `pid=123`, `size>100`, `lat>1ms`: a field, one of
///   `= != > >= < <=`, and a number in the field's range (latency takes `ns`, `us`, `µs`,
///   `ms`, `s` or bare nanoseconds, decimals allowed: `lat>1.5ms`);
/// - `/text/`: the payload contains the text, with `\n \t \r \0 \\ \xHH` escapes;
/// - `hex=4865`: the payload contains these bytes;
/// - any other word: the payload contains it as text (or, for a word of hex digits, as hex).
///
/// A term that names a field but gives no valid number (`fn=abc`, `lat>1e300s`, `size<-1`)
/// is refused with what the field takes, never read as something else.
import IPCScopeObserve
package enum CallTerm: Sendable, Equatable {
    /// A field compared with a number.
    case compare(CallField, CallComparison, Int64)
    /// The payload contains these bytes (`/text/` or `hex=`).
    case contains([UInt8])
    /// A bare word: the payload contains it as text, or its lowercase as hex digits.
    case word(String)
}

/// A field of a call that a term can compare.
package enum CallField: String, Sendable, Equatable, CaseIterable {
    case function = "fn", status, pid, size, latency = "lat"

    /// The range a value must lie in.
    package var range: ClosedRange<Int64> {
        switch self {
        case .function: 0...Int64(UInt32.max)
        case .status: Int64(Int32.min)...Int64(Int32.max)
        case .pid: 0...Int64(Int32.max)
        case .size: 0...Int64(UInt32.max)
        case .latency: 0...Int64.max
        }
    }

    /// What a value of this field looks like, for messages.
    var takes: String {
        switch self {
        case .function: "a function number from 0 to 4294967295"
        case .status: "a status from -2147483648 to 2147483647"
        case .pid: "a process id from 0 to 2147483647"
        case .size: "a size in bytes from 0 to 4294967295"
        case .latency: "a duration like 250us, 1.5ms or 2s, from 0 to 9223372036s"
        }
    }

    static func named(_ key: String) -> CallField? {
        switch key.lowercased() {
        case "fn", "f", "function": .function
        case "status", "st": .status
        case "pid", "client": .pid
        case "size", "req": .size
        case "lat", "latency": .latency
        default: nil
        }
    }
}

/// How a field is compared with the number.
package enum CallComparison: String, Sendable, Equatable, CaseIterable {
    case eq = "=", ne = "!=", gt = ">", ge = ">=", lt = "<", le = "<="

    /// Whether `x` compared with `v` holds.
    package func holds(_ x: Int64, _ v: Int64) -> Bool {
        switch self {
        case .eq: x == v
        case .ne: x != v
        case .gt: x > v
        case .ge: x >= v
        case .lt: x < v
        case .le: x <= v
        }
    }
}

/// A term that could not be read: which one and why, in one line.
package struct CallFilterError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The term as typed.
    package let term: String
    /// What is wrong and what to type instead.
    package let message: String

    package init(term: String, _ message: String) {
        self.term = term
        self.message = message
    }

    package var description: String { "'\(term.count <= 40 ? term : String(term.prefix(37)) + "...")': \(message)" }
}

/// Limits that keep parsing bounded whatever is typed or pasted.
package enum CallFilterLimits {
    /// The longest filter or breakpoint line accepted, in characters.
    package static let maxTextLength = 4096
    /// The most terms in one line.
    package static let maxTerms = 64
}

/// Splits `text` at spaces and parses each term.
/// - Throws: `CallFilterError` for the first term that cannot be read, or a line over the limits.
package func parseCallTerms(_ text: String) throws(CallFilterError) -> [CallTerm] {
    guard text.count <= CallFilterLimits.maxTextLength else {
        throw CallFilterError(term: String(text.prefix(20)), "the line is \(text.count) characters; at most \(CallFilterLimits.maxTextLength) are accepted")
    }
    let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
    guard words.count <= CallFilterLimits.maxTerms else {
        throw CallFilterError(term: String(words[CallFilterLimits.maxTerms]), "more than \(CallFilterLimits.maxTerms) terms")
    }
    var terms: [CallTerm] = []
    for w in words { terms.append(try parseCallTerm(String(w))) }
    return terms
}

/// Parses one term (no spaces).
/// - Throws: `CallFilterError` naming the term and what it should look like.
package func parseCallTerm(_ w: String) throws(CallFilterError) -> CallTerm {
    if w.count >= 2, w.hasPrefix("/") {
        guard w.count >= 3, w.hasSuffix("/") else {
            throw CallFilterError(term: w, "a text term is written between slashes, like /hello/ (escapes: \\n \\t \\xHH)")
        }
        do throws(PayloadSyntaxError) {
            return .contains(try unescape(String(w.dropFirst().dropLast())))
        } catch {
            throw CallFilterError(term: w, error.description)
        }
    }
    if w.lowercased().hasPrefix("hex=") {
        let digits = String(w.dropFirst(4))
        guard let bytes = try? parsePlainHex([digits[...]], limit: CallFilterLimits.maxTextLength), !bytes.isEmpty else {
            throw CallFilterError(term: w, "hex= takes pairs of hex digits, like hex=4865 or hex=0x48,0x65")
        }
        return .contains(bytes)
    }
    // field, operator, value: the field is letters only, so "<html>" or "a=b=c" stay words.
    let key = w.prefix(while: { $0.isASCII && $0.isLetter })
    let rest = w.dropFirst(key.count)
    guard !key.isEmpty, let op = CallComparison.allCases.sorted(by: { $0.rawValue.count > $1.rawValue.count })
        .first(where: { rest.hasPrefix($0.rawValue) }) else {
        return .word(w)
    }
    guard let field = CallField.named(String(key)) else {
        throw CallFilterError(term: w, "unknown field '\(key)': fields are fn, status, pid, size, lat; "
                              + "to look for this text in the payload write /\(w)/")
    }
    let value = String(rest.dropFirst(op.rawValue.count))
    let number = field == .latency ? parseDurationNS(value) : parseWholeNumber(value)
    guard let number, field.range.contains(number) else {
        throw CallFilterError(term: w, "\(field.rawValue) takes \(field.takes)")
    }
    return .compare(field, op, number)
}

/// A decimal integer with an optional sign, or `0x` hex; nil when it is not one or does not fit.
func parseWholeNumber(_ s: String) -> Int64? {
    var t = Substring(s)
    var negative = false
    if t.hasPrefix("-") { negative = true; t = t.dropFirst() } else if t.hasPrefix("+") { t = t.dropFirst() }
    var radix = 10
    if t.hasPrefix("0x") || t.hasPrefix("0X") { radix = 16; t = t.dropFirst(2) }
    guard !t.isEmpty, t.count <= 20, t.allSatisfy({ $0.isASCII && $0.isHexDigit }), let m = UInt64(t, radix: radix) else { return nil }
    if negative { return m <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- m) : nil }
    return Int64(exactly: m)
}

/// `250us`, `1.5ms`, `2s`, `500ns` or a bare number of nanoseconds; nil when it is not one,
/// is negative, or does not fit in an Int64 of nanoseconds (never a trap: `1e300s`, `nanms`,
/// `infus` are nil). Read in whole nanoseconds, not through a Double, so every value up to
/// `Int64.max` ns reads exactly; digits past a nanosecond round half up.
func parseDurationNS(_ s: String) -> Int64? {
    for (suffix, scale) in [("ns", Int64(1)), ("us", 1_000), ("µs", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)] where s.hasSuffix(suffix) {
        let number = s.dropLast(suffix.count)
        // Digits and one dot only: no "nan", "inf", exponents or signs.
        guard !number.isEmpty, number.count <= 40, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
              number.filter({ $0 == "." }).count <= 1, number != "." else { return nil }
        let parts = number.split(separator: ".", omittingEmptySubsequences: false)
        var ns: Int64 = 0
        if !parts[0].isEmpty {
            guard let whole = Int64(parts[0]) else { return nil }
            let (product, overflow) = whole.multipliedReportingOverflow(by: scale)
            guard !overflow else { return nil }
            ns = product
        }
        let fraction = parts.count > 1 ? parts[1] : ""
        let places = String(scale).count - 1  // nanosecond digits the unit has after its point
        let kept = fraction.prefix(places)
        var part = places == 0 ? 0 : Int64(kept + String(repeating: "0", count: places - kept.count)) ?? 0
        if let next = fraction.dropFirst(places).first, next >= "5" { part += 1 }
        let (sum, overflow) = ns.addingReportingOverflow(part)
        return overflow ? nil : sum
    }
    guard s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return parseWholeNumber(s)
}
