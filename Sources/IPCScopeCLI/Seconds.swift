import ArgumentParser

/// A number of seconds given on the command line (`--timeout`, `--duration`, `--seconds`):
/// finite, more than 0 and at most `Seconds.maximum`, so every later conversion to
/// nanoseconds (`Duration`, `UInt64`, a deadline added to the clock) fits without a trap.
///
/// Every seconds option parses through `Seconds.parse`, so `1e10`, `inf`, `nan`, `-1` and
/// `9223372037` are refused while the arguments are parsed, with a usage error (exit 64) that
/// names the range.
struct Seconds: Sendable, Equatable, Comparable, CustomStringConvertible, ExpressibleByArgument {
    /// The longest accepted: 7 days (604800 s).
    static let maximum: Double = 604_800
    /// The range in words, for help texts and errors.
    static let rangeText = "more than 0 and at most 604800 (7 days)"

    /// The value, finite and in (0, `maximum`].
    let value: Double

    /// Checks `value`; nil when it is out of range or not a number.
    init?(_ value: Double) {
        guard value.isFinite, value > 0, value <= Self.maximum else { return nil }
        self.value = value
    }

    init?(argument: String) {
        guard let v = Double(argument) else { return nil }
        self.init(v)
    }

    /// Parses an option's text; the error says the allowed range. Use as `transform:`.
    static func parse(_ text: String) throws -> Seconds {
        let trimmed = text.trimmingSpaces
        guard let v = Double(trimmed), let s = Seconds(v) else {
            throw ValidationError("'\(text)' is not a number of seconds \(rangeText)")
        }
        return s
    }

    /// Nanoseconds (at most 604800e9, far below `UInt64.max`).
    var nanoseconds: UInt64 { UInt64(value * 1e9) }
    /// As a `Duration`.
    var duration: Duration { .nanoseconds(Int64(nanoseconds)) }

    var description: String { value == value.rounded() ? String(Int(value)) : String(value) }
    var defaultValueDescription: String { description }

    static func < (a: Seconds, b: Seconds) -> Bool { a.value < b.value }
}

extension String {
    /// Without leading and trailing spaces.
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
