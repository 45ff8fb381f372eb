import IPCScopePOSIX
/// A JSON value with keys kept in the order given, rendered on one line (for `--json`
/// output and JSON Lines). No Foundation needed; strings are escaped per RFC 8259.
package enum JSON: Sendable, Equatable {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case bool(Bool)
    case null

    package static func == (a: JSON, b: JSON) -> Bool { a.rendered == b.rendered }

    /// An integer of any width.
    package static func number<T: BinaryInteger>(_ v: T) -> JSON {
        if v < 0 { return .int(Int64(v)) }
        return .uint(UInt64(v))
    }

    /// Bytes as lower-case hex without spaces ("70696e67").
    package static func hex(_ bytes: some Sequence<UInt8>) -> JSON {
        .string(bytes.map { HexDump.hex2($0) }.joined())
    }

    /// One line, no spaces, keys in the given order.
    package var rendered: String {
        var out = ""
        render(into: &out)
        return out
    }

    func render(into out: inout String) {
        switch self {
        case .object(let pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSON.escape(k, into: &out)
                out += ":"
                v.render(into: &out)
            }
            out += "}"
        case .array(let items):
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += "," }
                v.render(into: &out)
            }
            out += "]"
        case .string(let s): JSON.escape(s, into: &out)
        case .int(let v): out += String(v)
        case .uint(let v): out += String(v)
        case .double(let v): out += v.isFinite ? String(v) : "null"
        case .bool(let v): out += v ? "true" : "false"
        case .null: out += "null"
        }
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x7f {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// Prints one JSON value as one line on stdout.
package func printJSON(_ value: JSON) { printLine(value.rendered) }
