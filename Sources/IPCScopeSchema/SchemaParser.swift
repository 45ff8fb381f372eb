import Yams

/// Turns YAML (through Yams' node API, which keeps line/column marks) into a `Schema`, laying
/// out every struct as C does, and refusing anything unexpected with the node's position.
struct SchemaParser: YAMLSourceParser {
    typealias Failure = SchemaError
    let source: String
    var endian = Endian.little
    var packed = false
    /// Named types, in the order defined (a type may use only those defined before it).
    var types: [String: FieldType] = [:]

    init(source: String) { self.source = source }

    static let topKeys = ["service", "endian", "packed", "types", "functions", "status"]
    static let functionKeys = ["name", "request", "response", "status"]
    static let specKeys = ["type", "enum", "flags", "fields", "packed", "size", "count", "length", "capacity", "endian", "offset"]

    // MARK: - entry

    mutating func parse(_ yaml: String) throws(SchemaError) -> Schema {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let e as YamlError {
            throw yamlError(e)
        } catch {
            throw SchemaError(file: source, "cannot parse the YAML: \(error)")
        }
        guard let root, case .mapping(let map) = root else {
            throw SchemaError(file: source, line: root?.mark?.line ?? 1, column: root?.mark?.column ?? 1,
                              "expected a mapping with a 'functions:' key, found \(root.map(kind) ?? "an empty document")")
        }
        try checkKeys(map, Self.topKeys, "the schema")
        if let e = map[key: "endian"] { endian = try self.endian(e) }
        if let p = map[key: "packed"] { packed = try bool(p, "packed") }
        var shared: [Int32: String] = [:]
        if let s = map[key: "status"] { shared = try statuses(s) }
        if let t = map[key: "types"] {
            guard case .mapping(let tm) = t else { throw error(t, "expected 'types:' to be a mapping of type names to definitions, found \(kind(t))") }
            for (k, v) in tm {
                let name = try identifier(k, "a type name")
                guard types[name] == nil, Self.base(name) == nil else {
                    throw error(k, "the type name '\(name)' is already taken (built-in or defined above)")
                }
                types[name] = try spec(v, depth: 1, allowOffset: false).type
            }
        }
        guard let fnode = map[key: "functions"] else { throw error(root, "expected a 'functions:' key mapping numbers to functions, like '3: set_value'") }
        guard case .mapping(let fm) = fnode, fm.count > 0 else {
            throw error(fnode, "expected 'functions:' to be a non-empty mapping of numbers to functions, found \(kind(fnode))")
        }
        var functions: [SchemaFunction] = []
        for (k, v) in fm {
            guard case .scalar(let s) = k, let n = parseInteger(s.string), let number = UInt32(exactly: n) else {
                throw error(k, "expected a function number from 0 to 4294967295, found \(kind(k))")
            }
            var f = SchemaFunction(number: number, name: String(number), request: nil, response: nil, statuses: shared)
            switch v {
            case .scalar:
                f.name = try identifier(v, "a function name")
            case .mapping(let m):
                try checkKeys(m, Self.functionKeys, "function \(number)")
                if let n = m[key: "name"] { f.name = try identifier(n, "a function name") }
                if let r = m[key: "request"] { f.request = try layout(r, "request") }
                if let r = m[key: "response"] { f.response = try layout(r, "response") }
                if let s = m[key: "status"] { f.statuses.merge(try statuses(s)) { $1 } }
            default:
                throw error(v, "expected function \(number) to be a name like 'set_value' or a mapping with name, request, response, found \(kind(v))")
            }
            if functions.contains(where: { $0.number == number }) { throw error(k, "function \(number) is defined twice") }
            if functions.contains(where: { $0.name == f.name }) { throw error(v, "the function name '\(f.name)' is used twice") }
            functions.append(f)
        }
        return Schema(functions: functions, source: source)
    }

    private mutating func layout(_ node: Node, _ what: String) throws(SchemaError) -> Layout {
        let s = try spec(node, depth: 1, allowOffset: false)
        guard case .structure(let l) = s.type else {
            throw error(node, "expected '\(what):' to be a struct (a list of fields like '- id: u32'), found \(s.type.name)")
        }
        if l.flatCount > Schema.maxLeaves {
            throw error(node, "the \(what) has \(l.flatCount) fields once arrays of structs are counted, more than the \(Schema.maxLeaves) allowed")
        }
        return l
    }

    // MARK: - type specs

    struct Spec {
        var type: FieldType
        var offset: Int?
    }

    /// A type: a string (`u32`, `char[16]`, `Point[2]`), a list of fields (a struct), or a
    /// mapping (`{type: u8, enum: {...}}`, `{fields: [...], packed: true}`, ...).
    private mutating func spec(_ node: Node, depth: Int, allowOffset: Bool) throws(SchemaError) -> Spec {
        guard depth <= Schema.maxDepth else { throw error(node, "structs and arrays nest deeper than \(Schema.maxDepth) levels") }
        switch node {
        case .scalar(let s):
            return Spec(type: try typeName(s.string, node, endian: endian))
        case .sequence:
            return Spec(type: .structure(try structure(node, packed: packed, size: nil, depth: depth)))
        case .mapping(let m):
            try checkKeys(m, allowOffset ? Self.specKeys : Self.specKeys.filter { $0 != "offset" }, "a type")
            var order = endian
            if let e = m[key: "endian"] { order = try self.endian(e) }
            var type: FieldType
            if let f = m[key: "fields"] {
                if let t = m[key: "type"] { throw error(t, "give either 'type:' or 'fields:', not both") }
                // The fields take the schema's byte order; an 'endian:' here would be ignored.
                if let e = m[key: "endian"] {
                    throw error(e, "'endian:' goes with a number, not a struct: give it on each field, or at the top of the schema")
                }
                let p = try m[key: "packed"].map { (n) throws(SchemaError) in try bool(n, "packed") } ?? packed
                let size = try m[key: "size"].map { (n) throws(SchemaError) in try count(n, "size", min: 0) }
                type = .structure(try structure(f, packed: p, size: size, depth: depth))
            } else if let t = m[key: "type"] {
                guard case .scalar(let ts) = t else { throw error(t, "expected 'type:' to be a type name like u32, found \(kind(t))") }
                type = try typeName(ts.string, t, endian: order)
                for k in ["packed", "size"] where m[k] != nil { throw error(m[k]!, "'\(k):' goes with 'fields:' (a struct)") }
            } else {
                throw error(node, "expected 'type:' (like u32) or 'fields:' (a struct) in this mapping")
            }
            if let e = m[key: "enum"] {
                guard case .integer(let it) = type else { throw error(e, "'enum:' needs an integer 'type:', found \(type.name)") }
                type = .enumeration(it, try enumCases(e, it))
            }
            if let f = m[key: "flags"] {
                if m[key: "enum"] != nil { throw error(f, "give either 'enum:' or 'flags:', not both") }
                guard case .integer(let it) = type else { throw error(f, "'flags:' needs an integer 'type:', found \(type.name)") }
                type = .flags(it, try flagBits(f, it))
            }
            if m[key: "length"] != nil || m[key: "capacity"] != nil {
                guard case .bytes = type else { throw error(m[key: "length"] ?? m[key: "capacity"]!, "'length:' and 'capacity:' go with 'type: bytes'") }
                var prefix = IntegerType(bits: 32, signed: false, endian: order)
                if let l = m[key: "length"] {
                    guard case .scalar(let ls) = l, case .integer(let it)? = Self.base(ls.string), !it.signed else {
                        throw error(l, "expected 'length:' to be u8, u16, u32 or u64, found \(kind(l))")
                    }
                    prefix = IntegerType(bits: it.bits, signed: false, endian: order)
                }
                let cap = try m[key: "capacity"].map { (n) throws(SchemaError) in try count(n, "capacity", min: 1) }
                type = .bytes(length: prefix, capacity: cap)
            }
            if let c = m[key: "count"] {
                let n = try count(c, "count", min: 1)
                guard type.size.multipliedReportingOverflow(by: n).partialValue <= Schema.maxLayoutSize,
                      !type.size.multipliedReportingOverflow(by: n).overflow else {
                    throw error(c, "\(n) elements of \(type.size) bytes exceed the \(Schema.maxLayoutSize) bytes a layout may span")
                }
                if case .bytes(_, nil) = type { throw error(c, "flexible bytes (no 'capacity:') cannot be repeated") }
                type = .array(type, count: n)
            }
            let offset = try m[key: "offset"].map { (n) throws(SchemaError) in try count(n, "offset", min: 0) }
            return Spec(type: type, offset: offset)
        case .alias:
            throw error(node, "aliases are not supported in a schema")
        }
    }

    /// A list of fields, laid out with natural alignment (or packed).
    private mutating func structure(_ node: Node, packed: Bool, size declared: Int?, depth: Int) throws(SchemaError) -> Layout {
        guard case .sequence(let seq) = node else {
            throw error(node, "expected a list of fields like '- id: u32', found \(kind(node))")
        }
        guard seq.count <= Schema.maxLeaves else { throw error(node, "a struct has more than \(Schema.maxLeaves) fields") }
        var l = Layout()
        var end = 0
        for (i, entry) in seq.enumerated() {
            guard !l.flexible else { throw error(entry, "flexible bytes (no 'capacity:') must be the last field") }
            guard case .mapping(let m) = entry, m.count == 1, let (k, v) = m.first(where: { _ in true }) else {
                throw error(entry, "expected a field like '- id: u32' or '- padding: 4', found \(kind(entry))")
            }
            let name = try identifier(k, "a field name")
            if name == "padding", case .scalar(let s) = v, let n = parseInteger(s.string) {
                guard let pad = Int(exactly: n), pad >= 0, pad <= Schema.maxLayoutSize else {
                    throw error(v, "expected padding to be a number of bytes from 0 to \(Schema.maxLayoutSize), found '\(s.string)'")
                }
                end += pad
                guard end <= Schema.maxLayoutSize else { throw error(v, "the struct exceeds \(Schema.maxLayoutSize) bytes") }
                continue
            }
            guard !l.fields.contains(where: { $0.name == name }) else { throw error(k, "the field name '\(name)' is used twice in this struct") }
            let s = try spec(v, depth: depth + 1, allowOffset: true)
            let align = packed ? 1 : s.type.alignment
            var offset = (end + align - 1) / align * align
            if let o = s.offset {
                guard o >= end else {
                    throw error(v, "offset \(o) of '\(name)' overlaps the field before it, which ends at byte \(end)")
                }
                offset = o
            }
            l.alignment = max(l.alignment, align)
            l.fields.append(Field(name: name, type: s.type, offset: offset))
            end = offset + s.type.size
            guard end <= Schema.maxLayoutSize else { throw error(entry, "the struct exceeds \(Schema.maxLayoutSize) bytes at field \(i + 1) '\(name)'") }
            if case .bytes(_, nil) = s.type {
                guard depth == 1 else { throw error(v, "flexible bytes (no 'capacity:') may only end a request or response, not a nested struct") }
                l.flexible = true
            }
        }
        guard !l.fields.isEmpty else { throw error(node, "expected at least one field in a struct (C has no empty structs)") }
        l.depth = 1 + l.fields.map(\.type.depth).max()!
        guard l.depth <= Schema.maxDepth else { throw error(node, "structs and arrays nest \(l.depth) levels deep here, more than the \(Schema.maxDepth) allowed") }
        l.size = l.flexible ? end : (end + l.alignment - 1) / l.alignment * l.alignment
        if let declared {
            guard declared >= end else { throw error(node, "the fields end at byte \(end), past the declared 'size: \(declared)'") }
            l.size = declared
        }
        return l
    }

    // MARK: - type names

    /// `u32`, `uint32_t`, `double`, `bool`, `char[16]`, `bytes`, a type defined above, and any of
    /// those with C array dimensions (`f64[3]`, `char[4][16]`: four strings of 16).
    private func typeName(_ text: String, _ node: Node, endian: Endian) throws(SchemaError) -> FieldType {
        let t = text.filter { $0 != " " }
        var base = t
        var dims: [Int] = []
        if let open = t.firstIndex(of: "[") {
            base = String(t[..<open])
            var rest = t[open...]
            while !rest.isEmpty {
                guard rest.first == "[", let close = rest.firstIndex(of: "]") else {
                    throw error(node, "expected array dimensions like '[16]' in '\(text)'")
                }
                let digits = rest[rest.index(after: rest.startIndex)..<close]
                guard let v = parseInteger(String(digits)), let n = Int(exactly: v), n >= 1, n <= Schema.maxLayoutSize else {
                    throw error(node, "expected an array dimension from 1 to \(Schema.maxLayoutSize) in '\(text)', found '[\(digits)]'")
                }
                dims.append(n)
                rest = rest[rest.index(after: close)...]
            }
            guard dims.count <= Schema.maxDepth else { throw error(node, "more than \(Schema.maxDepth) array dimensions in '\(text)'") }
        }
        var type: FieldType
        if base == "char" {
            guard let n = dims.popLast() else { throw error(node, "a C string needs its size: 'char[16]'") }
            type = .chars(n)
        } else if let b = Self.base(base) {
            type = b
            if case .integer(var it) = b { it.endian = endian; type = .integer(it) }
            if case .float(let bits, _) = b { type = .float(bits: bits, endian: endian) }
            if case .bytes = b {
                guard dims.isEmpty else { throw error(node, "'bytes' takes no dimensions: give 'capacity:' instead") }
                type = .bytes(length: IntegerType(bits: 32, signed: false, endian: endian), capacity: nil)
            }
        } else if let named = types[base] {
            type = named
        } else {
            throw error(node, "unknown type '\(base)': expected u8..u64, i8..i64, f32, f64, bool, char[N], bytes, or a type defined above in 'types:'" + (types.isEmpty ? "" : " (\(types.keys.sorted().joined(separator: ", ")))"))
        }
        for n in dims.reversed() {
            let (total, overflow) = type.size.multipliedReportingOverflow(by: n)
            guard !overflow, total <= Schema.maxLayoutSize else {
                throw error(node, "'\(text)' spans more than the \(Schema.maxLayoutSize) bytes a layout may")
            }
            type = .array(type, count: n)
        }
        return type
    }

    /// The built-in types by name (little-endian; the caller applies the byte order).
    static func base(_ name: String) -> FieldType? {
        func int(_ bits: Int, _ signed: Bool) -> FieldType { .integer(IntegerType(bits: bits, signed: signed, endian: .little)) }
        switch name {
        case "u8", "uint8", "uint8_t", "uchar": return int(8, false)
        case "u16", "uint16", "uint16_t", "ushort": return int(16, false)
        case "u32", "uint32", "uint32_t", "uint": return int(32, false)
        case "u64", "uint64", "uint64_t", "ulong": return int(64, false)
        case "i8", "int8", "int8_t": return int(8, true)
        case "i16", "int16", "int16_t", "short": return int(16, true)
        case "i32", "int32", "int32_t", "int": return int(32, true)
        case "i64", "int64", "int64_t", "long": return int(64, true)
        case "f32", "float": return .float(bits: 32, endian: .little)
        case "f64", "double": return .float(bits: 64, endian: .little)
        case "bool", "_Bool": return .bool
        case "bytes": return .bytes(length: IntegerType(bits: 32, signed: false, endian: .little), capacity: nil)
        default: return nil
        }
    }
}
