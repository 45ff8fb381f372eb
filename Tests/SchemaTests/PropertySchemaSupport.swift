// Random schemas for the schema properties: a struct of random fields drawn from a list of
// choices (so PropertyBased shrinks a failing schema by shrinking that list), written out as
// YAML, and laid out here by the C rules on their own, to compare with the parser's layout.
@testable import IPCScopeSchema
import TestSupport

/// A field type as generated, with what the schema text says about it.
indirect enum GenType {
    case integer(bits: Int, signed: Bool, big: Bool?)
    case float(bits: Int, big: Bool?)
    case bool
    case chars(Int)
    case bytes(lengthBits: Int, capacity: Int?, big: Bool?)
    case enumeration(bits: Int, signed: Bool, cases: [(Int128, String)], big: Bool?)
    case flags(bits: Int, names: [(Int, String)], big: Bool?)
    case array(GenType, Int)
    case structure(GenStruct)
}

struct GenField {
    var name: String
    var type: GenType
    /// `- padding: N` before the field.
    var padding = 0
    /// `offset:` bytes past where the field would start.
    var offsetGap: Int?
}

struct GenStruct {
    var fields: [GenField]
    /// `packed:` given on this struct (nil: the schema's).
    var packed: Bool?
    /// `size:` bytes past the natural size.
    var extraSize: Int?
}

/// A whole schema: top-level byte order and packing, and one request layout.
struct GenSchema: CustomStringConvertible {
    var big: Bool
    var packed: Bool
    var request: GenStruct

    var description: String { rendered.yaml }

    init(_ choices: [UInt32]) {
        var c = Choices(choices)
        big = c.pick(2) == 1
        packed = c.pick(3) == 1
        request = Self.structure(&c, depth: 0, top: true)
    }

    static func structure(_ c: inout Choices, depth: Int, top: Bool) -> GenStruct {
        let count = 1 + c.pick(depth == 0 ? 6 : 3)
        var fields: [GenField] = []
        for i in 0..<count {
            let flexible = top && i == count - 1 && c.pick(4) == 3
            var f = GenField(name: "f\(i)", type: flexible ? .bytes(lengthBits: [8, 16, 32, 64][c.pick(4)], capacity: nil, big: nil)
                                                      : type(&c, depth: depth))
            if c.pick(6) == 5 { f.padding = 1 + c.pick(5) }
            if c.pick(8) == 7 { f.offsetGap = c.pick(9) }
            fields.append(f)
        }
        let packed: Bool? = [nil, nil, true, false][c.pick(4)]
        let extra: Int? = fields.contains { if case .bytes(_, nil, _) = $0.type { true } else { false } } || c.pick(6) != 5 ? nil : c.pick(12)
        return GenStruct(fields: fields, packed: packed, extraSize: extra)
    }

    static func type(_ c: inout Choices, depth: Int) -> GenType {
        let bits = [8, 16, 32, 64][c.pick(4)]
        let big: Bool? = [nil, nil, true, false][c.pick(4)]
        switch c.pick(depth < 3 ? 11 : 8) {
        case 0, 1: return .integer(bits: bits, signed: c.pick(2) == 1, big: big)
        case 2: return .float(bits: c.pick(2) == 0 ? 32 : 64, big: big)
        case 3: return .bool
        case 4: return .chars(1 + c.pick(12))
        case 5: return .bytes(lengthBits: [8, 16, 32][c.pick(3)], capacity: 1 + c.pick(10), big: big)
        case 6:
            let signed = c.pick(2) == 1
            let n = 1 + c.pick(4)
            let range = IntegerType(bits: bits, signed: signed, endian: .little).range
            var cases: [(Int128, String)] = []
            for k in 0..<n {
                let v = Int128(truncatingIfNeeded: Int64(bitPattern: UInt64(c.raw()) << 32 | UInt64(c.raw()))) % (range.upperBound - range.lowerBound + 1)
                let value = range.lowerBound + (v < 0 ? -v : v)
                if !cases.contains(where: { $0.0 == value }) { cases.append((value, "e\(k)")) }
            }
            return .enumeration(bits: bits, signed: signed, cases: cases, big: big)
        case 7:
            var names: [(Int, String)] = []
            for k in 0..<(1 + c.pick(5)) {
                let bit = c.pick(bits)
                if !names.contains(where: { $0.0 == bit }) { names.append((bit, "b\(k)")) }
            }
            return .flags(bits: bits, names: names, big: big)
        case 8:
            // Arrays of numbers (one leaf) or of structs (a leaf per element's field).
            var element = type(&c, depth: depth + 1)
            switch element {
            case .chars, .bytes, .array: element = .integer(bits: bits, signed: true, big: big)
            default: break
            }
            return .array(element, 1 + c.pick(4))
        default: return .structure(structure(&c, depth: depth + 1, top: false))
        }
    }

    // MARK: - the YAML and the layout C gives it

    /// The schema's text, and the request's leaves laid out by the C rules (on their own, not
    /// by the parser): natural alignment unless packed, `offset:` and `padding:` honoured,
    /// `sizeof` rounded up to the largest member alignment or set by `size:`.
    var rendered: (yaml: String, layout: RefLayout) {
        var leaves: [RefLeaf] = []
        let (text, l) = Self.render(request, packed: packed, endian: big ? .big : .little, base: 0, path: "", leaves: &leaves)
        let yaml = "endian: \(big ? "big" : "little")\npacked: \(packed)\nfunctions:\n  1:\n    name: probe\n    request: " + text + "\n"
        return (yaml, RefLayout(size: l.size, flexible: l.flexible, leaves: leaves))
    }

    static func render(_ s: GenStruct, packed inherited: Bool, endian: Endian, base: Int, path: String,
                       leaves: inout [RefLeaf]) -> (String, (size: Int, alignment: Int, flexible: Bool)) {
        let packed = s.packed ?? inherited
        var items: [String] = []
        var end = 0, alignment = 1, flexible = false
        for f in s.fields {
            if f.padding > 0 { items.append("{padding: \(f.padding)}"); end += f.padding }
            let p = path.isEmpty ? f.name : path + "." + f.name
            let t = fieldType(f.type, endian: endian, packed: inherited)
            let align = packed ? 1 : t.alignment
            var offset = (end + align - 1) / align * align
            if let gap = f.offsetGap { offset += gap }
            var text: String
            if case .structure(let inner) = f.type {
                var sub: [RefLeaf] = []
                let (body, _) = render(inner, packed: inherited, endian: endian, base: base + offset, path: p, leaves: &sub)
                leaves += sub
                text = body.hasPrefix("{") ? body : "{fields: \(body)}"
            } else if case .array(.structure(let inner), let n) = f.type {
                var sub: [RefLeaf] = []
                var body = ""
                let elementSize = t.size / n
                for i in 0..<n {
                    body = render(inner, packed: inherited, endian: endian, base: base + offset + i * elementSize, path: p + "[\(i)]", leaves: &sub).0
                }
                leaves += sub
                text = body.hasPrefix("{") ? String(body.dropLast()) + ", count: \(n)}" : "{fields: \(body), count: \(n)}"
            } else {
                leaves.append(RefLeaf(path: p, offset: base + offset, type: t))
                if case .array(let e, let n) = f.type { text = scalarYAML(e, count: n) } else { text = scalarYAML(f.type, count: nil) }
            }
            if f.offsetGap != nil { text = String(text.dropLast()) + ", offset: \(offset)}" }
            items.append("{\(f.name): \(text)}")
            alignment = max(alignment, align)
            end = offset + t.size
            if case .bytes(_, nil, _) = f.type { flexible = true }
        }
        var size = flexible ? end : (end + alignment - 1) / alignment * alignment
        let list = "[" + items.joined(separator: ", ") + "]"
        guard s.packed != nil || s.extraSize != nil else { return (list, (size, alignment, flexible)) }
        var keys = ["fields: " + list]
        if let p = s.packed { keys.append("packed: \(p)") }
        if let extra = s.extraSize { size = end + extra; keys.append("size: \(size)") }
        return ("{" + keys.joined(separator: ", ") + "}", (size, alignment, flexible))
    }

    /// A field that is not a struct, as a mapping (`count:` makes it an array).
    static func scalarYAML(_ t: GenType, count: Int?) -> String {
        var keys: [String] = []
        var big: Bool?
        switch t {
        case .integer(let bits, let signed, let b): keys.append("type: \(signed ? "i" : "u")\(bits)"); big = b
        case .float(let bits, let b): keys.append("type: f\(bits)"); big = b
        case .bool: keys.append("type: bool")
        case .chars(let n): keys.append("type: 'char[\(n)]'")
        case .bytes(let lengthBits, let capacity, let b):
            keys += ["type: bytes", "length: u\(lengthBits)"] + (capacity.map { ["capacity: \($0)"] } ?? [])
            big = b
        case .enumeration(let bits, let signed, let cases, let b):
            keys += ["type: \(signed ? "i" : "u")\(bits)", "enum: {" + cases.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"]
            big = b
        case .flags(let bits, let names, let b):
            keys += ["type: u\(bits)", "flags: {" + names.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"]
            big = b
        case .array, .structure:
            preconditionFailure("arrays hold numbers or structs; structs are rendered by render()")
        }
        if let big { keys.append("endian: \(big ? "big" : "little")") }
        if let count { keys.append("count: \(count)") }
        return "{" + keys.joined(separator: ", ") + "}"
    }

    /// The type the field should have, by the schema's rules (an `endian:` on the field wins).
    static func fieldType(_ t: GenType, endian: Endian, packed: Bool) -> FieldType {
        func order(_ big: Bool?) -> Endian { big.map { $0 ? .big : .little } ?? endian }
        switch t {
        case .integer(let bits, let signed, let big): return .integer(IntegerType(bits: bits, signed: signed, endian: order(big)))
        case .float(let bits, let big): return .float(bits: bits, endian: order(big))
        case .bool: return .bool
        case .chars(let n): return .chars(n)
        case .bytes(let lengthBits, let capacity, let big):
            return .bytes(length: IntegerType(bits: lengthBits, signed: false, endian: order(big)), capacity: capacity)
        case .enumeration(let bits, let signed, let cases, let big):
            return .enumeration(IntegerType(bits: bits, signed: signed, endian: order(big)), cases.map { EnumCase(value: $0.0, name: $0.1) })
        case .flags(let bits, let names, let big):
            return .flags(IntegerType(bits: bits, signed: false, endian: order(big)), names.sorted { $0.0 < $1.0 }.map { FlagBit(bit: $0.0, name: $0.1) })
        case .array(let e, let n): return .array(fieldType(e, endian: endian, packed: packed), count: n)
        case .structure(let s):
            var leaves: [RefLeaf] = []
            let (_, l) = render(s, packed: packed, endian: endian, base: 0, path: "", leaves: &leaves)
            return .structure(Layout(size: l.size, alignment: l.alignment))
        }
    }
}

/// A leaf of the reference layout: where it is and what it holds.
struct RefLeaf {
    var path: String
    var offset: Int
    var type: FieldType
}

struct RefLayout {
    var size: Int
    var flexible: Bool
    var leaves: [RefLeaf]
}
