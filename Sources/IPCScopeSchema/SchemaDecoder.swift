/// One decoded field: where it sits in the payload and what it holds.
package struct DecodedField: Sendable {
    /// `id`, `where.x`, `points[1].y`, `samples` (an array of numbers is one field).
    package var path: String
    /// Offset of its first byte in the payload.
    package var offset: Int
    /// Bytes it spans (for flexible bytes: prefix and data).
    package var size: Int
    package var type: FieldType
    package var value: FieldValue
}

/// A decoded struct, array or field, in the schema's order (for nested JSON).
package indirect enum DecodedNode: Sendable {
    case field(DecodedField)
    case structure([(String, DecodedNode)])
    case array([DecodedNode])
}

/// A payload read through a layout, as far as it decodes.
package struct DecodedPayload: Sendable {
    /// The top-level fields, nested as in the schema.
    package var root: [(String, DecodedNode)] = []
    /// Every decoded field, flat, in payload order.
    package var fields: [DecodedField] = []
    /// What did not fit (payload too short, too long, an enum value without a name, ...).
    package var warnings: [String] = []
    /// Offset of the first byte the layout does not explain (the payload's size when all do).
    package var restOffset = 0
    /// The bytes from `restOffset` on, shown as bytes.
    package var rest: [UInt8] = []

    /// The field spanning byte `offset`, if any.
    package func field(at offset: Int) -> DecodedField? {
        fields.first { offset >= $0.offset && offset < $0.offset + $0.size }
    }

    /// The field with this path.
    package func field(_ path: String) -> DecodedField? { fields.first { $0.path == path } }
}

extension Layout {
    /// Reads `payload` through this layout: every field that fits, then the rest as bytes, with
    /// a warning for each problem. Never traps, whatever the bytes.
    package func decode(_ payload: [UInt8]) -> DecodedPayload {
        var d = Decoder(payload: payload)
        var out = DecodedPayload()
        out.root = d.structure(self, base: 0, path: "")
        out.fields = d.fields
        out.warnings = d.warnings
        if d.dropped > 0 { out.warnings.append("\(d.dropped) more warnings like these") }
        if d.stopped {
            out.restOffset = min(d.end, payload.count)
        } else {
            let described = flexible ? d.end : size
            out.restOffset = min(max(described, d.end), payload.count)
            if payload.count > described {
                out.warnings.append("\(payload.count - described) bytes after the \(described) the schema describes: shown as bytes")
            }
        }
        out.rest = Array(payload[out.restOffset...])
        return out
    }

    /// How many fields this layout flattens to (arrays of structs counted per element), saturating.
    package var flatCount: Int {
        fields.reduce(0) { $0.addingReportingOverflow(Self.count($1.type)).partialValue }
    }

    static func count(_ t: FieldType) -> Int {
        switch t {
        case .structure(let l): l.flatCount
        case .array(let e, let n) where !e.isScalar: min(n.multipliedReportingOverflow(by: count(e)).partialValue, Int.max / 2)
        default: 1
        }
    }
}

/// The decoding walk: appends fields until the payload runs out.
struct Decoder {
    let payload: [UInt8]
    var fields: [DecodedField] = []
    /// At most `maxWarnings`, then one line counting the rest (an array of a million unnamed
    /// enum values must not become a million lines).
    var warnings: [String] = [] {
        didSet {
            guard warnings.count > Self.maxWarnings else { return }
            dropped += warnings.count - Self.maxWarnings
            warnings.removeLast(warnings.count - Self.maxWarnings)
        }
    }
    var dropped = 0
    static let maxWarnings = 32
    var stopped = false
    /// End of the last decoded field.
    var end = 0

    mutating func structure(_ l: Layout, base: Int, path: String) -> [(String, DecodedNode)] {
        var out: [(String, DecodedNode)] = []
        for f in l.fields {
            if stopped { break }
            let p = path.isEmpty ? f.name : path + "." + f.name
            if let n = node(f.type, at: base + f.offset, path: p) { out.append((f.name, n)) }
        }
        return out
    }

    mutating func node(_ t: FieldType, at offset: Int, path: String) -> DecodedNode? {
        switch t {
        case .structure(let l):
            let children = structure(l, base: offset, path: path)
            return children.isEmpty ? nil : .structure(children)
        case .array(let e, let n) where !e.isScalar:
            var items: [DecodedNode] = []
            for i in 0..<n {
                if stopped { break }
                guard let item = node(e, at: offset + i * e.size, path: "\(path)[\(i)]") else { break }
                items.append(item)
            }
            return items.isEmpty ? nil : .array(items)
        default:
            return leaf(t, at: offset, path: path).map { .field($0) }
        }
    }

    mutating func leaf(_ t: FieldType, at offset: Int, path: String) -> DecodedField? {
        let size = t.size
        guard offset <= payload.count - size else {
            stop("the payload is \(payload.count) bytes: '\(path)' (\(t.name), bytes \(offset)..<\(offset + size)) and what follows are missing", at: offset)
            return nil
        }
        var span = size
        let value: FieldValue
        switch t {
        case .bytes(let length, let capacity):
            let n = integer(offset, length)
            let start = offset + length.size
            let room = capacity ?? (payload.count - start)
            var take = Int(clamping: n)
            if take > room {
                warnings.append("'\(path)' says \(n) bytes, but only \(room) \(capacity == nil ? "follow in the payload" : "are reserved"): showing \(room)")
                take = room
            }
            value = .bytes(Array(payload[start..<(start + take)]))
            if capacity == nil { span = length.size + take }
        default:
            value = scalar(t, at: offset, path: path)
        }
        let f = DecodedField(path: path, offset: offset, size: span, type: t, value: value)
        fields.append(f)
        end = max(end, offset + span)
        return f
    }

    mutating func scalar(_ t: FieldType, at offset: Int, path: String) -> FieldValue {
        switch t {
        case .integer(let it):
            return .integer(integer(offset, it))
        case .float(let bits, let endian):
            let raw = UInt64(truncatingIfNeeded: integer(offset, IntegerType(bits: bits, signed: false, endian: endian)))
            return .float(bits == 32 ? Double(Float(bitPattern: UInt32(truncatingIfNeeded: raw))) : Double(bitPattern: raw))
        case .bool:
            let b = payload[offset]
            if b > 1 { warnings.append("'\(path)' is \(b), not a bool (0 or 1): shown as true") }
            return .bool(b)
        case .chars(let n):
            let bytes = payload[offset..<(offset + n)]
            let text = bytes.firstIndex(of: 0).map { bytes[..<$0] } ?? bytes
            return .string(String(decoding: text, as: UTF8.self))
        case .enumeration(let it, let cases):
            let v = integer(offset, it)
            let name = cases.first { $0.value == v }?.name
            if name == nil { warnings.append("'\(path)' is \(v), a value with no name in its enum") }
            return .enumeration(v, name)
        case .flags(let it, let bits):
            let v = UInt64(truncatingIfNeeded: integer(offset, IntegerType(bits: it.bits, signed: false, endian: it.endian)))
            var known: UInt64 = 0
            for b in bits { known |= 1 << UInt64(b.bit) }
            if v & ~known != 0 { warnings.append("'\(path)' has bits 0x\(String(v & ~known, radix: 16)) set that have no name") }
            return .flags(v, bits.filter { v >> UInt64($0.bit) & 1 == 1 }.map(\.name))
        case .array(let e, let n):
            return .array((0..<n).map { scalar(e, at: offset + $0 * e.size, path: "\(path)[\($0)]") })
        default:
            return .bytes([])
        }
    }

    func integer(_ offset: Int, _ t: IntegerType) -> Int128 {
        var raw: UInt64 = 0
        for i in 0..<t.size {
            let b = UInt64(payload[offset + (t.endian == .little ? t.size - 1 - i : i)])
            raw = raw << 8 | b
        }
        guard t.signed, t.bits < 64 || raw >> 63 == 1 else { return Int128(raw) }
        if t.bits == 64 { return Int128(Int64(bitPattern: raw)) }
        let sign = UInt64(1) << UInt64(t.bits - 1)
        return raw & sign != 0 ? Int128(raw) - (Int128(1) << t.bits) : Int128(raw)
    }

    mutating func stop(_ message: String, at offset: Int) {
        warnings.append(message)
        stopped = true
    }
}
