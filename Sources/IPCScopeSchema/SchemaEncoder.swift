/// A field's value as given by a user: `--field where.x=1.5`, or a script's `fields:` entry.
package struct FieldInput: Sendable, Equatable {
    /// `id`, `where.x`, `points[1].y`, `samples[2]`.
    package var path: String
    /// The value as text (`3`, `2.5`, `pump`, `ready|busy`, `de ad`, `1,2,3`).
    package var text: String
    /// Where it was given, for messages (`--field id=3`, `script.yaml:4:7`).
    package var origin: String

    package init(path: String, text: String, origin: String = "") {
        self.path = path
        self.text = text
        self.origin = origin
    }

    /// Parses `--field NAME=VALUE`.
    /// - Throws: `FieldError` when there is no `=` or no name.
    package static func parse(_ argument: String) throws(FieldError) -> FieldInput {
        guard let eq = argument.firstIndex(of: "="), eq != argument.startIndex else {
            throw FieldError("--field '\(argument)': expected NAME=VALUE, like --field id=3")
        }
        return FieldInput(path: String(argument[..<eq]).trimmingSpaces, text: String(argument[argument.index(after: eq)...]),
                          origin: "--field \(argument)")
    }
}

/// A field a payload can be built into: its path, absolute offset and type.
package struct LeafField: Sendable {
    package var path: String
    package var offset: Int
    package var type: FieldType

    package init(path: String, offset: Int, type: FieldType) {
        self.path = path
        self.offset = offset
        self.type = type
    }
}

extension Layout {
    /// Every settable field, flat (arrays of structs expanded per element).
    package var leaves: [LeafField] {
        var out: [LeafField] = []
        Self.collect(self, base: 0, path: "", into: &out)
        return out
    }

    static func collect(_ l: Layout, base: Int, path: String, into out: inout [LeafField]) {
        for f in l.fields {
            let p = path.isEmpty ? f.name : path + "." + f.name
            collect(f.type, at: base + f.offset, path: p, into: &out)
        }
    }

    static func collect(_ t: FieldType, at offset: Int, path: String, into out: inout [LeafField]) {
        guard out.count <= Schema.maxLeaves else { return }
        switch t {
        case .structure(let l): collect(l, base: offset, path: path, into: &out)
        case .array(let e, let n) where !e.isScalar:
            for i in 0..<n { collect(e, at: offset + i * e.size, path: "\(path)[\(i)]", into: &out) }
        default: out.append(LeafField(path: path, offset: offset, type: t))
        }
    }

    /// The field `path` names: a leaf, or one element of an array of numbers (`samples[2]`).
    package func leaf(_ path: String) -> LeafField? {
        let all = leaves
        if let l = all.first(where: { $0.path == path }) { return l }
        guard path.hasSuffix("]"), let open = path.lastIndex(of: "["),
              let i = Int(path[path.index(after: open)..<path.index(before: path.endIndex)]),
              let parent = all.first(where: { $0.path == path[..<open] }),
              case .array(let e, let n) = parent.type, i >= 0, i < n else { return nil }
        return LeafField(path: path, offset: parent.offset + i * e.size, type: e)
    }

    /// Builds a payload: every given field written, the others zero (C's `= {0}`).
    /// - Throws: `FieldError` saying which input, which field, and what it accepts.
    package func encode(_ inputs: [FieldInput], what: String) throws(FieldError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var seen = Set<String>()
        var tail: [UInt8] = []
        for input in inputs {
            let prefix = input.origin.isEmpty ? "" : input.origin + ": "
            guard let leaf = leaf(input.path) else {
                let names = leaves.map(\.path)
                let shown = names.prefix(20).joined(separator: ", ") + (names.count > 20 ? ", ..." : "")
                throw FieldError(prefix + "\(what) has no field '\(input.path)': its fields are \(shown)")
            }
            guard seen.insert(leaf.path).inserted else { throw FieldError(prefix + "'\(leaf.path)' is given twice") }
            let value: FieldValue
            do { value = try leaf.type.value(from: input.text, path: leaf.path) } catch { throw FieldError(prefix + error.message) }
            if case .bytes(let length, nil) = leaf.type, case .bytes(let b) = value {
                Self.write(Int128(b.count), length, at: leaf.offset, into: &out)
                tail = b
                continue
            }
            Self.write(value, leaf.type, at: leaf.offset, into: &out)
        }
        return out + tail
    }

    static func write(_ v: FieldValue, _ t: FieldType, at offset: Int, into out: inout [UInt8]) {
        switch (t, v) {
        case (.integer(let it), .integer(let n)), (.enumeration(let it, _), .enumeration(let n, _)):
            write(n, it, at: offset, into: &out)
        case (.flags(let it, _), .flags(let n, _)):
            write(Int128(n), it, at: offset, into: &out)
        case (.float(let bits, let endian), .float(let d)):
            let raw = bits == 32 ? UInt64(Float(d).bitPattern) : d.bitPattern
            write(Int128(raw), IntegerType(bits: bits, signed: false, endian: endian), at: offset, into: &out)
        case (.bool, .bool(let b)):
            out[offset] = b
        case (.chars(let n), .string(let s)):
            for (i, b) in s.utf8.prefix(n).enumerated() { out[offset + i] = b }
        case (.bytes(let length, _), .bytes(let b)):
            write(Int128(b.count), length, at: offset, into: &out)
            for (i, x) in b.enumerated() { out[offset + length.size + i] = x }
        case (.array(let e, _), .array(let items)):
            for (i, item) in items.enumerated() { write(item, e, at: offset + i * e.size, into: &out) }
        default:
            break
        }
    }

    static func write(_ v: Int128, _ t: IntegerType, at offset: Int, into out: inout [UInt8]) {
        let raw = UInt64(truncatingIfNeeded: v)
        for i in 0..<t.size {
            let b = UInt8(truncatingIfNeeded: raw >> UInt64(8 * i))
            out[offset + (t.endian == .little ? i : t.size - 1 - i)] = b
        }
    }
}

extension Layout {
    /// Whether `payload`, read through this layout, holds every expected value (a script's
    /// `fields:` match). A field the payload is too short for does not match.
    /// - Throws: `FieldError` when an expected field does not exist or its value does not parse.
    package func matches(_ payload: [UInt8], _ expected: [FieldInput], what: String) throws(FieldError) -> Bool {
        let decoded = decode(payload)
        for e in expected {
            guard let leaf = leaf(e.path) else { throw FieldError("\(what) has no field '\(e.path)'") }
            let want = try leaf.type.value(from: e.text, path: leaf.path)
            guard let got = decodedValue(decoded, leaf) else { return false }
            if !want.same(as: got) { return false }
        }
        return true
    }

    /// Checks the expected inputs against the layout without a payload (for a script at load time).
    package func check(_ expected: [FieldInput], what: String) throws(FieldError) {
        for e in expected {
            guard let leaf = leaf(e.path) else {
                throw FieldError("\(what) has no field '\(e.path)': its fields are \(leaves.prefix(20).map(\.path).joined(separator: ", "))")
            }
            _ = try leaf.type.value(from: e.text, path: leaf.path)
        }
    }

    private func decodedValue(_ d: DecodedPayload, _ leaf: LeafField) -> FieldValue? {
        if let f = d.field(leaf.path) { return f.value }
        guard let open = leaf.path.lastIndex(of: "["), let parent = d.field(String(leaf.path[..<open])),
              case .array(let items) = parent.value,
              let i = Int(leaf.path[leaf.path.index(after: open)..<leaf.path.index(before: leaf.path.endIndex)]),
              i >= 0, i < items.count else { return nil }
        return items[i]
    }
}
