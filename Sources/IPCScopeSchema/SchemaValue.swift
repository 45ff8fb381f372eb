/// A decoded (or parsed) value of one field.
import IPCScopePOSIX
package indirect enum FieldValue: Sendable, Equatable {
    case integer(Int128)
    case float(Double)
    /// The byte as read (0 or 1 for a well-formed bool).
    case bool(UInt8)
    case string(String)
    case bytes([UInt8])
    /// The number, and its name when the enum has one.
    case enumeration(Int128, String?)
    /// The bits, and the names of those set that have one.
    case flags(UInt64, [String])
    case array([FieldValue])

    /// The value as shown beside a hex dump: `3`, `2.5`, `"pump"`, `auto (2)`, `ready|busy (0x3)`.
    package var text: String {
        switch self {
        case .integer(let v): String(v)
        case .float(let v): Self.format(v)
        case .bool(let b): b == 0 ? "false" : b == 1 ? "true" : "true (\(b))"
        case .string(let s): "\"" + Self.escape(s) + "\""
        case .bytes(let b): b.isEmpty ? "(empty)" : b.map { Self.hex2($0) }.joined(separator: " ")
        case .enumeration(let v, let name): name.map { "\($0) (\(v))" } ?? "\(v) (no name)"
        case .flags(let v, let names): (names.isEmpty ? "" : names.joined(separator: "|") + " ") + "(0x\(String(v, radix: 16)))"
        case .array(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
        }
    }

    /// Whether two values mean the same (an enum or flags compare by number).
    package func same(as other: FieldValue) -> Bool {
        switch (self, other) {
        case (.enumeration(let a, _), .enumeration(let b, _)): a == b
        case (.flags(let a, _), .flags(let b, _)): a == b
        case (.bool(let a), .bool(let b)): (a != 0) == (b != 0)
        case (.array(let a), .array(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.same(as: $1) }
        default: self == other
        }
    }

    /// Shortest text that reads back as the same Double.
    static func format(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) + ".0" }
        return "\(v)"
    }

    static func hex2(_ b: UInt8) -> String {
        let d = Array("0123456789abcdef")
        return String([d[Int(b >> 4)], d[Int(b & 15)]])
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out += u.value < 0x20 || u.value == 0x7f ? "\\x" + hex2(UInt8(u.value)) : String(u)
            }
        }
        return out
    }
}

/// A value that does not fit its field: one line saying which field, its type, and why.
package struct FieldError: Error, CustomStringConvertible, Sendable, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

// MARK: - parsing a value from text

extension FieldType {
    /// Whether a value of this type is shown and set as one thing (numbers, bool, enum, flags).
    var isScalar: Bool {
        switch self {
        case .integer, .float, .bool, .enumeration, .flags: true
        default: false
        }
    }

    /// Whether the field is one leaf (a scalar, a string, bytes, or an array of scalars).
    var isLeaf: Bool {
        if case .array(let e, _) = self { return e.isScalar }
        if case .structure = self { return false }
        return true
    }

    /// Parses `text` as a value of this type, checking type and range.
    /// - Throws: `FieldError` naming the field (`path`) and what is accepted.
    package func value(from text: String, path: String) throws(FieldError) -> FieldValue {
        let t = text.trimmingSpaces
        switch self {
        case .integer(let it):
            guard let v = parseInteger(t) else { throw FieldError("'\(path)' is \(it.name): expected a whole number like 3 or 0x1f, found '\(text)'") }
            guard it.range.contains(v) else { throw FieldError("'\(path)' is \(it.name): \(v) is out of range \(it.range.lowerBound)...\(it.range.upperBound)") }
            return .integer(v)
        case .float(let bits, _):
            guard let v = Double(t.lowercased() == "inf" ? "infinity" : t.lowercased() == "-inf" ? "-infinity" : t) else {
                throw FieldError("'\(path)' is f\(bits): expected a number like 2.5 or -1e3, found '\(text)'")
            }
            if bits == 32 {
                guard !v.isFinite || abs(v) <= Double(Float.greatestFiniteMagnitude) else {
                    throw FieldError("'\(path)' is f32: \(t) is beyond the largest f32 (about 3.4e38)")
                }
                return .float(Double(Float(v)))
            }
            return .float(v)
        case .bool:
            switch t.lowercased() {
            case "true", "yes", "on", "1": return .bool(1)
            case "false", "no", "off", "0": return .bool(0)
            default: throw FieldError("'\(path)' is bool: expected true or false, found '\(text)'")
            }
        case .chars(let n):
            let count = text.utf8.count
            guard count <= n - 1 else {
                throw FieldError("'\(path)' is char[\(n)]: '\(text)' is \(count) bytes, at most \(n - 1) fit with the terminating NUL")
            }
            guard !text.utf8.contains(0) else { throw FieldError("'\(path)' is char[\(n)]: a C string cannot hold a NUL byte") }
            return .string(text)
        case .bytes(let length, let capacity):
            var digits: [UInt8] = []
            var body = Substring(t)
            if body.hasPrefix("0x") || body.hasPrefix("0X") { body = body.dropFirst(2) }
            for c in body.utf8 where c != 0x20 && c != 0x3a && c != 0x2c {
                guard let d = hexDigit(c) else {
                    throw FieldError("'\(path)' is bytes: expected hex digits like 'de ad be ef', found '\(text)'")
                }
                digits.append(d)
            }
            guard digits.count % 2 == 0 else { throw FieldError("'\(path)' is bytes: expected an even number of hex digits, found \(digits.count)") }
            let bytes = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
            let limit = min(capacity ?? Schema.maxLayoutSize, Int(clamping: length.range.upperBound))
            guard bytes.count <= limit else { throw FieldError("'\(path)' holds at most \(limit) bytes, found \(bytes.count)") }
            return .bytes(bytes)
        case .enumeration(let it, let cases):
            if let c = cases.first(where: { $0.name == t }) { return .enumeration(c.value, c.name) }
            guard let v = parseInteger(t) else {
                throw FieldError("'\(path)' is an enum: expected one of \(cases.map(\.name).joined(separator: ", ")) or a number, found '\(text)'")
            }
            guard it.range.contains(v) else { throw FieldError("'\(path)' is an enum of \(it.name): \(v) is out of range \(it.range.lowerBound)...\(it.range.upperBound)") }
            return .enumeration(v, cases.first { $0.value == v }?.name)
        case .flags(let it, let bits):
            if let v = parseInteger(t) {
                guard v >= 0, v <= (Int128(1) << it.bits) - 1 else { throw FieldError("'\(path)' is flags of \(it.name): \(v) does not fit") }
                let u = UInt64(v)
                return .flags(u, bits.filter { u >> UInt64($0.bit) & 1 == 1 }.map(\.name))
            }
            var raw: UInt64 = 0
            var names: [String] = []
            for part in t.split(whereSeparator: { $0 == "|" || $0 == "+" || $0 == "," }) {
                let name = part.trimmingSpaces
                guard let b = bits.first(where: { $0.name == name }) else {
                    throw FieldError("'\(path)' is flags: unknown flag '\(name)', expected names from \(bits.map(\.name).joined(separator: ", ")) joined by '|', or a number")
                }
                raw |= 1 << UInt64(b.bit)
                names.append(b.name)
            }
            return .flags(raw, bits.filter { raw >> UInt64($0.bit) & 1 == 1 }.map(\.name))
        case .array(let e, let n):
            guard e.isScalar else { throw FieldError("'\(path)' is \(name): set its elements one by one, like \(path)[0]=...") }
            let parts = t.hasPrefix("[") && t.hasSuffix("]") ? Substring(t.dropFirst().dropLast()) : Substring(t)
            let items = parts.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
            guard items.count <= n else { throw FieldError("'\(path)' is \(name): \(items.count) values given, it holds \(n)") }
            var out: [FieldValue] = []
            for (i, item) in items.enumerated() { out.append(try e.value(from: item, path: "\(path)[\(i)]")) }
            return .array(out)
        case .structure:
            throw FieldError("'\(path)' is a struct: set its fields one by one, like \(path).NAME=...")
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
