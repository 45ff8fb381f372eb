#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopePOSIX

// MARK: - errors

/// A schema that cannot be used, or a value that does not fit it: where and what was expected.
///
/// `description` is one line, `file:line:column: message` (or `file: message` when no position
/// is known), ready for stderr.
package struct SchemaError: YAMLSourceError, Sendable, Equatable {
    /// The schema's path, or `<schema>` for text parsed in memory.
    package var file: String
    /// 1-based line of the offending node (0 when unknown).
    package var line: Int
    /// 1-based column of the offending node (0 when unknown).
    package var column: Int
    /// What was expected there, and what was found.
    package var message: String

    package init(file: String = "<schema>", line: Int = 0, column: Int = 0, _ message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
    }

    package var description: String {
        line > 0 ? "\(file):\(line):\(column): \(message)" : "\(file): \(message)"
    }
}

// MARK: - the model

/// Byte order of a number in a payload.
package enum Endian: String, Sendable {
    case little, big
}

/// An integer as it sits in memory: width, signedness, byte order.
package struct IntegerType: Sendable, Equatable {
    /// 8, 16, 32 or 64.
    package var bits: Int
    package var signed: Bool
    package var endian: Endian
    package init(bits: Int, signed: Bool, endian: Endian) {
        self.bits = bits
        self.signed = signed
        self.endian = endian
    }
    /// Width in bytes.
    package var size: Int { bits / 8 }
    /// The smallest and largest value, as `Int128` so both signednesses fit.
    package var range: ClosedRange<Int128> {
        signed ? -(Int128(1) << (bits - 1))...((Int128(1) << (bits - 1)) - 1) : 0...((Int128(1) << bits) - 1)
    }
    /// `u32`, `i8`, ...
    package var name: String { (signed ? "i" : "u") + String(bits) }
}

/// One named value of an enum.
package struct EnumCase: Sendable, Equatable {
    package var value: Int128
    package var name: String
}

/// One named bit of a flags field (bit 0 is the least significant).
package struct FlagBit: Sendable, Equatable {
    package var bit: Int
    package var name: String
}

/// The type of a field, with everything needed to lay it out and read it.
package indirect enum FieldType: Sendable {
    /// An integer of 8 to 64 bits.
    case integer(IntegerType)
    /// An IEEE 754 float of 32 or 64 bits.
    case float(bits: Int, endian: Endian)
    /// One byte, 0 or 1 (`bool` / `_Bool`).
    case bool
    /// `char[N]`: a C string of at most N-1 bytes plus its NUL (N bytes read when unterminated).
    case chars(Int)
    /// A length prefix, then that many bytes: in `capacity` reserved bytes, or, with no
    /// capacity, up to the end of the payload (a flexible array member: last field only).
    case bytes(length: IntegerType, capacity: Int?)
    /// An integer whose values have names.
    case enumeration(IntegerType, [EnumCase])
    /// An integer whose bits have names.
    case flags(IntegerType, [FlagBit])
    /// `count` elements of one type, one after another.
    case array(FieldType, count: Int)
    /// A nested struct.
    case structure(Layout)

    /// Bytes the field occupies (a flexible `bytes` counts its prefix only).
    package var size: Int {
        switch self {
        case .integer(let t), .enumeration(let t, _), .flags(let t, _): t.size
        case .float(let bits, _): bits / 8
        case .bool: 1
        case .chars(let n): n
        case .bytes(let length, let capacity): length.size + (capacity ?? 0)
        case .array(let t, let n): t.size * n
        case .structure(let l): l.size
        }
    }

    /// Natural alignment (as C gives it on Linux x86-64 and arm64).
    package var alignment: Int {
        switch self {
        case .integer(let t), .enumeration(let t, _), .flags(let t, _): t.size
        case .float(let bits, _): bits / 8
        case .bool, .chars: 1
        case .bytes(let length, _): length.size
        case .array(let t, _): t.alignment
        case .structure(let l): l.alignment
        }
    }

    /// How deep structs and arrays nest in this type (0 for a plain field).
    package var depth: Int {
        switch self {
        case .array(let e, _): e.depth + 1
        case .structure(let l): l.depth
        default: 0
        }
    }

    /// A short name for messages: `u32`, `char[16]`, `f64[4]`, `struct`.
    package var name: String {
        switch self {
        case .integer(let t): t.name
        case .float(let bits, _): "f\(bits)"
        case .bool: "bool"
        case .chars(let n): "char[\(n)]"
        case .bytes(let length, let capacity): "bytes (\(length.name) length" + (capacity.map { ", \($0) bytes reserved)" } ?? ")")
        case .enumeration(let t, _): "enum \(t.name)"
        case .flags(let t, _): "flags \(t.name)"
        case .array(let t, let n): "\(t.name)[\(n)]"
        case .structure: "struct"
        }
    }
}

/// A struct's fields with their offsets, as C lays them out (or packed).
package struct Layout: Sendable {
    /// The fields in memory order.
    package var fields: [Field]
    /// `sizeof`: the end of the last field, rounded up to `alignment` (or the declared size).
    package var size: Int
    /// The largest member alignment (1 when packed).
    package var alignment: Int
    /// Whether the last field is a flexible `bytes` (the payload runs on past `size`).
    package var flexible: Bool
    /// How deep structs and arrays nest in it (1: only plain fields).
    package var depth = 1

    package init(fields: [Field] = [], size: Int = 0, alignment: Int = 1, flexible: Bool = false) {
        self.fields = fields
        self.size = size
        self.alignment = alignment
        self.flexible = flexible
    }
}

/// One member of a struct.
package struct Field: Sendable {
    package var name: String
    package var type: FieldType
    /// Offset from the start of the enclosing struct.
    package var offset: Int
}

/// One function of a service: its number, name, layouts and status meanings.
package struct SchemaFunction: Sendable {
    package var number: UInt32
    package var name: String
    /// The request layout (nil: the schema does not describe it; shown as bytes).
    package var request: Layout?
    /// The response layout (nil: shown as bytes).
    package var response: Layout?
    /// What each status code means for this function (the schema's shared meanings included).
    package var statuses: [Int32: String]
}

/// A service's schema: its functions by number, with the layouts of their requests and responses.
package struct Schema: Sendable {
    /// The functions, ordered by number.
    package var functions: [SchemaFunction]
    /// Where the schema came from (for messages).
    package var source: String

    package init(functions: [SchemaFunction], source: String = "<schema>") {
        self.functions = functions.sorted { $0.number < $1.number }
        self.source = source
    }

    /// The function with this number.
    package func function(_ number: UInt32) -> SchemaFunction? {
        functions.first { $0.number == number }
    }

    /// The function named `nameOrNumber`, or with that number (`set_value`, `3`, `0x3`).
    package func function(named nameOrNumber: String) -> SchemaFunction? {
        if let f = functions.first(where: { $0.name == nameOrNumber }) { return f }
        if let n = parseInteger(nameOrNumber), let u = UInt32(exactly: n) { return function(u) }
        return nil
    }

    /// `set_value (3)` when named, else `3`.
    package func label(_ number: UInt32) -> String {
        function(number).map { "\($0.name) (\(number))" } ?? String(number)
    }

    /// The most a schema file may hold (bytes): a schema is input someone else may have written.
    package static let maxFileSize = 1 << 20
    /// The most a layout may span (bytes).
    package static let maxLayoutSize = 1 << 20
    /// The deepest nesting of structs and arrays.
    package static let maxDepth = 16
    /// The most fields a request or response may flatten to.
    package static let maxLeaves = 4096

    /// Reads and parses the schema at `path`.
    /// - Throws: `SchemaError` with line and column of the first problem.
    package static func load(path: String) throws(SchemaError) -> Schema {
        var st = stat()
        if stat(path, &st) == 0, st.st_size > maxFileSize {
            throw SchemaError(file: path, "the schema is \(st.st_size) bytes, more than the \(maxFileSize) a schema may have")
        }
        guard let text = readTextFile(path) else {
            throw SchemaError(file: path, "cannot read the schema (\(String(cString: strerror(errno)))): check the path")
        }
        return try parse(yaml: text, source: path)
    }

    /// Parses a schema from YAML text (`source` names it in messages).
    /// - Throws: `SchemaError` with line and column of the first problem.
    package static func parse(yaml: String, source: String = "<schema>") throws(SchemaError) -> Schema {
        guard yaml.utf8.count <= maxFileSize else {
            throw SchemaError(file: source, "the schema is \(yaml.utf8.count) bytes, more than the \(maxFileSize) a schema may have")
        }
        var parser = SchemaParser(source: source)
        return try parser.parse(yaml)
    }

    /// The conventional place of a service's schema: `$XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml`
    /// (`~/.config/...` when `XDG_CONFIG_HOME` is unset or empty).
    package static func conventionalPath(service: String) -> String? {
        var base: String
        if let x = getenv("XDG_CONFIG_HOME").map({ String(cString: $0) }), x.hasPrefix("/") {
            base = x
        } else if let h = getenv("HOME").map({ String(cString: $0) }), !h.isEmpty {
            base = h + "/.config"
        } else {
            return nil
        }
        if base.hasSuffix("/") { base.removeLast() }
        guard !service.contains("/") else { return nil }
        return base + "/ipcscope/schemas/" + service + ".yaml"
    }

    /// The schema for `service`: `explicit` when given (an error if it cannot be used), else the
    /// conventional file when it exists (an error if it exists but is bad), else nil.
    package static func find(service: String?, explicit: String?) throws(SchemaError) -> Schema? {
        if let explicit { return try load(path: explicit) }
        guard let service, let path = conventionalPath(service: service), access(path, F_OK) == 0 else { return nil }
        return try load(path: path)
    }
}

/// Decimal or `0x` hex (also `0b`, `0o`), with an optional sign and `_` separators.
func parseInteger(_ text: String) -> Int128? {
    var t = Substring(text.filter { $0 != "_" })
    var negative = false
    if t.hasPrefix("-") { negative = true; t = t.dropFirst() } else if t.hasPrefix("+") { t = t.dropFirst() }
    guard !t.isEmpty, !t.hasPrefix("-"), !t.hasPrefix("+") else { return nil }
    let v: UInt64?
    switch t.prefix(2).lowercased() {
    case "0x": v = UInt64(t.dropFirst(2), radix: 16)
    case "0b": v = UInt64(t.dropFirst(2), radix: 2)
    case "0o": v = UInt64(t.dropFirst(2), radix: 8)
    default: v = UInt64(t)
    }
    return v.map { negative ? -Int128($0) : Int128($0) }
}
