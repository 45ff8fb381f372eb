// Properties of typed payloads: a random schema (numbers of every width, signedness and byte
// order, floats, bools, C strings, bytes, enums, flags, arrays, nested structs, packed or
// natural alignment, `offset:`, `padding:`, `size:`) is laid out as C would, a value for every
// field encodes to the bytes C would hold and decodes back, and any bytes decode, field by
// field, as far as they reach.
@testable import IPCScopeSchema
import PropertyBased
import Testing
import TestSupport

// MARK: - reference encoding and decoding, byte by byte

/// The integer at `offset`, read by the type's width, byte order and signedness.
func referenceInteger(_ b: [UInt8], _ offset: Int, _ t: IntegerType) -> Int128 {
    let bytes = b[offset..<(offset + t.size)]
    var raw: UInt64 = 0
    for x in (t.endian == .big ? Array(bytes) : bytes.reversed()) { raw = raw << 8 | UInt64(x) }
    if t.signed, raw >> UInt64(t.bits - 1) & 1 == 1 { return Int128(raw) - (Int128(1) << t.bits) }
    return Int128(raw)
}

/// What a leaf at `offset` holds in `b` (which is long enough for its fixed part).
func referenceValue(_ b: [UInt8], _ offset: Int, _ t: FieldType) -> FieldValue {
    switch t {
    case .integer(let it): return .integer(referenceInteger(b, offset, it))
    case .enumeration(let it, _): return .enumeration(referenceInteger(b, offset, it), nil)
    case .flags(let it, _): return .flags(UInt64(referenceInteger(b, offset, it)), [])
    case .float(let bits, let e):
        let raw = UInt64(referenceInteger(b, offset, IntegerType(bits: bits, signed: false, endian: e)))
        return .float(bits == 32 ? Double(Float(bitPattern: UInt32(raw))) : Double(bitPattern: raw))
    case .bool: return .bool(b[offset])
    case .chars(let n): return .string(String(decoding: b[offset..<(offset + n)].prefix { $0 != 0 }, as: UTF8.self))
    case .bytes(let length, let capacity):
        let n = referenceInteger(b, offset, length)
        let room = capacity ?? (b.count - offset - length.size)
        return .bytes(Array(b[(offset + length.size)...].prefix(Int(min(n, Int128(room))))))
    case .array(let e, let n): return .array((0..<n).map { referenceValue(b, offset + $0 * e.size, e) })
    case .structure: return .bytes([])
    }
}

/// The same value, NaNs included (bit patterns aside); enums and flags by number.
func agree(_ a: FieldValue, _ b: FieldValue) -> Bool {
    switch (a, b) {
    case (.float(let x), .float(let y)): (x.isNaN && y.isNaN) || x == y
    case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { agree($0, $1) }
    case (.bool(let x), .bool(let y)): x == y
    default: a.same(as: b)
    }
}

// MARK: - values as a person types them

/// A value for a leaf, as `--field` text and as the value it means.
func typedValue(_ t: FieldType, _ c: inout Choices) -> (text: String, value: FieldValue) {
    switch t {
    case .integer(let it):
        let v = it.range.lowerBound + Int128(UInt64(c.raw()) << 32 | UInt64(c.raw())) % (it.range.upperBound - it.range.lowerBound + 1)
        return (v >= 0 && c.pick(2) == 1 ? "0x" + String(v, radix: 16) : String(v), .integer(v))
    case .float(let bits, _):
        switch c.pick(8) {
        case 0: return ("inf", .float(.infinity))
        case 1: return ("-inf", .float(-.infinity))
        default:
            if bits == 32 {
                let f = Float(bitPattern: c.raw())
                return f.isFinite ? ("\(f)", .float(Double(f))) : ("-2.5", .float(-2.5))
            }
            let d = Double(bitPattern: UInt64(c.raw()) << 32 | UInt64(c.raw()))
            return d.isFinite ? ("\(d)", .float(d)) : ("1e300", .float(1e300))
        }
    case .bool:
        let (text, v) = [("true", 1), ("false", 0), ("1", 1), ("0", 0), ("yes", 1), ("off", 0)][c.pick(6)]
        return (text, .bool(UInt8(v)))
    case .chars(let n):
        var s = ""
        for _ in 0..<c.pick(n) {
            let ch = ["a", "Z", " ", "é", "€", "~", "7"][c.pick(7)]
            if s.utf8.count + ch.utf8.count <= n - 1 { s += ch }
        }
        return (s, .string(s))
    case .bytes(let length, let capacity):
        let most = min(capacity ?? 40, Int(clamping: length.range.upperBound))
        let bytes = (0..<c.pick(most + 1)).map { _ in UInt8(truncatingIfNeeded: c.raw()) }
        return (bytes.map { String($0 >> 4, radix: 16) + String($0 & 15, radix: 16) }.joined(separator: " "), .bytes(bytes))
    case .enumeration(let it, let cases):
        if c.pick(2) == 0, !cases.isEmpty {
            let k = cases[c.pick(cases.count)]
            return (k.name, .enumeration(k.value, k.name))
        }
        let (text, v) = typedValue(.integer(it), &c)
        guard case .integer(let n) = v else { return (text, v) }
        return (text, .enumeration(n, cases.first { $0.value == n }?.name))
    case .flags(let it, let bits):
        if c.pick(2) == 0, !bits.isEmpty {
            let chosen = bits.filter { _ in c.pick(2) == 1 }
            let raw = chosen.reduce(UInt64(0)) { $0 | 1 << UInt64($1.bit) }
            return (chosen.isEmpty ? "0" : chosen.map(\.name).joined(separator: "|"), .flags(raw, chosen.map(\.name)))
        }
        let raw = (UInt64(c.raw()) << 32 | UInt64(c.raw())) & (it.bits == 64 ? UInt64.max : (1 << UInt64(it.bits)) - 1)
        return (String(raw), .flags(raw, []))
    case .array(let e, let n):
        let items = (0..<n).map { _ in typedValue(e, &c) }
        return (items.map(\.text).joined(separator: ","), .array(items.map(\.value)))
    case .structure:
        return ("", .bytes([]))
    }
}

// MARK: - generators

let schemaGen = Gen<UInt32>.value(in: 0...UInt32.max).array(of: 0...120).map { GenSchema($0) }
let choicesGen = Gen<UInt32>.value(in: 0...UInt32.max).array(of: 0...80)

/// The request layout the parser makes of a generated schema.
func parsedRequest(_ schema: GenSchema) throws -> (Layout, RefLayout) {
    let (yaml, reference) = schema.rendered
    let parsed = try Schema.parse(yaml: yaml)
    return (try #require(parsed.function(1)?.request, "\(yaml)"), reference)
}

@Suite("Properties: schemas")
struct PropertySchemaTests {
    @Test("a generated schema parses, and its fields sit where C puts them")
    func layoutMatchesC() async {
        await propertyCheck(count: 150, input: schemaGen) { schema in
            let (layout, reference) = try parsedRequest(schema)
            #expect(layout.size == reference.size, "\(schema)")
            #expect(layout.flexible == reference.flexible)
            let got = layout.leaves.map { "\($0.path)@\($0.offset): \($0.type.name)" }
            let want = reference.leaves.map { "\($0.path)@\($0.offset): \($0.type.name)" }
            #expect(got == want, "\(schema)")
        }
    }

    @Test("every field set encodes to the bytes C would hold, and decodes to the value set")
    func encodeDecodeRoundTrip() async {
        await propertyCheck(count: 150, input: schemaGen, choicesGen) { schema, choices in
            let (layout, reference) = try parsedRequest(schema)
            var c = Choices(choices)
            let typed = reference.leaves.map { typedValue($0.type, &c) }
            let inputs = zip(reference.leaves, typed).map { FieldInput(path: $0.path, text: $1.text) }
            let payload = try layout.encode(inputs, what: "the request")
            var tail = 0
            if reference.flexible, case .bytes(let b)? = typed.last?.value { tail = b.count }
            #expect(payload.count == reference.size + tail, "\(schema)")
            let decoded = layout.decode(payload)
            for (leaf, t) in zip(reference.leaves, typed) {
                // The bytes, read by the reference, hold the value (byte order and width checked).
                #expect(agree(referenceValue(payload, leaf.offset, leaf.type), t.value), "\(leaf.path) = \(t.text) in \(payload)\n\(schema)")
                let got = try #require(decoded.field(leaf.path), "\(leaf.path) not decoded\n\(schema)")
                #expect(agree(got.value, t.value), "\(leaf.path) = \(t.text) decoded as \(got.value.text)\n\(schema)")
            }
            #expect(decoded.rest.isEmpty)
        }
    }

    @Test("any bytes decode field by field as far as they reach, each field as the bytes say")
    func decodeAnyBytes() async {
        await propertyCheck(count: 150, input: schemaGen, Gen<UInt8>.value(in: 0...255).array(of: 0...400), Gen<Int>.value(in: 0...1000)) { schema, noise, cut in
            let (layout, reference) = try parsedRequest(schema)
            let payload = Array(noise.prefix(cut % (reference.size + 24)))
            let decoded = layout.decode(payload)
            // The leaves that fit, in order, up to the first that does not.
            let fit = reference.leaves.prefix { leaf in
                if case .bytes(let length, nil) = leaf.type { return leaf.offset + length.size <= payload.count }
                return leaf.offset + leaf.type.size <= payload.count
            }
            #expect(decoded.fields.map(\.path) == fit.map(\.path), "\(payload.count) bytes\n\(schema)")
            for (leaf, field) in zip(fit, decoded.fields) {
                #expect(field.offset == leaf.offset)
                #expect(agree(field.value, referenceValue(payload, leaf.offset, leaf.type)),
                        "\(leaf.path) decoded as \(field.value.text)\n\(schema)")
            }
            #expect(decoded.rest == Array(payload[decoded.restOffset...]))
            if fit.count < reference.leaves.count {
                #expect(decoded.warnings.contains { $0.contains("'\(reference.leaves[fit.count].path)'") && $0.contains("missing") })
            } else if !reference.flexible {
                #expect(decoded.restOffset == min(reference.size, payload.count))
            }
        }
    }
}

@Suite("Schema byte order on structs")
struct SchemaStructEndianTests {
    @Test("'endian:' on a struct is refused, not silently ignored (its fields took the schema's order)")
    func endianOnStructIsRefused() {
        let yaml = "functions:\n  1:\n    name: probe\n    request: [{point: {fields: [{x: u32}], endian: big}}]\n"
        #expect(throws: SchemaError.self) { try Schema.parse(yaml: yaml) }
        do {
            _ = try Schema.parse(yaml: yaml)
        } catch {
            #expect(error.line == 4 && error.message.contains("'endian:' goes with a number"), "\(error)")
        }
        #expect(throws: Never.self) { try Schema.parse(yaml: yaml.replacing("fields: [{x: u32}], endian: big", with: "fields: [{x: {type: u32, endian: big}}]")) }
    }
}
