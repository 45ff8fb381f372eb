import Yams

// The schema parser's scalars and messages: every refusal carries the node's line and column.
extension SchemaParser {
    func enumCases(_ node: Node, _ t: IntegerType) throws(SchemaError) -> [EnumCase] {
        guard case .mapping(let m) = node, m.count > 0 else {
            throw error(node, "expected 'enum:' to map values to names, like {0: off, 1: on}, found \(kind(node))")
        }
        var cases: [EnumCase] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k, let value = parseInteger(ks.string) else {
                throw error(k, "expected an enum value (a number), found \(kind(k))")
            }
            guard t.range.contains(value) else { throw error(k, "enum value \(value) does not fit in \(t.name) (\(t.range.lowerBound)...\(t.range.upperBound))") }
            let name = try identifier(v, "an enum name")
            guard !cases.contains(where: { $0.name == name || $0.value == value }) else {
                throw error(k, "enum value \(value) or name '\(name)' is given twice")
            }
            cases.append(EnumCase(value: value, name: name))
        }
        return cases
    }

    func flagBits(_ node: Node, _ t: IntegerType) throws(SchemaError) -> [FlagBit] {
        guard case .mapping(let m) = node, m.count > 0 else {
            throw error(node, "expected 'flags:' to map bit numbers to names, like {0: ready, 3: error}, found \(kind(node))")
        }
        var bits: [FlagBit] = []
        for (k, v) in m {
            guard case .scalar(let ks) = k, let b = parseInteger(ks.string), let bit = Int(exactly: b), bit >= 0, bit < t.bits else {
                throw error(k, "expected a bit number from 0 to \(t.bits - 1) (bit 0 is the least significant of the \(t.name)), found \(kind(k))")
            }
            let name = try identifier(v, "a flag name")
            guard !bits.contains(where: { $0.name == name || $0.bit == bit }) else {
                throw error(k, "bit \(bit) or name '\(name)' is given twice")
            }
            bits.append(FlagBit(bit: bit, name: name))
        }
        return bits.sorted { $0.bit < $1.bit }
    }

    func statuses(_ node: Node) throws(SchemaError) -> [Int32: String] {
        guard case .mapping(let m) = node else {
            throw error(node, "expected 'status:' to map status codes to meanings, like {0: ok, -2: no such id}, found \(kind(node))")
        }
        var out: [Int32: String] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k, let c = parseInteger(ks.string), let code = Int32(exactly: c) else {
                throw error(k, "expected a status code (a 32-bit signed number), found \(kind(k))")
            }
            guard case .scalar(let vs) = v, !vs.string.isEmpty, vs.string.utf8.count <= 200 else {
                throw error(v, "expected what status \(code) means, as text of 1 to 200 bytes, found \(kind(v))")
            }
            out[code] = vs.string
        }
        return out
    }

    /// A name usable in `--field name=value`: letters, digits, `_`, not starting with a digit.
    func identifier(_ node: Node, _ what: String) throws(SchemaError) -> String {
        guard case .scalar(let s) = node else { throw error(node, "expected \(what), found \(kind(node))") }
        let n = s.string
        guard let first = n.unicodeScalars.first, n.utf8.count <= 64,
              first == "_" || (first.isASCII && first.properties.isAlphabetic),
              n.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }) else {
            throw error(node, "expected \(what) of letters, digits and '_' (not starting with a digit, at most 64), found '\(n)'")
        }
        return n
    }

    func bool(_ node: Node, _ key: String) throws(SchemaError) -> Bool {
        guard case .scalar(let s) = node else { throw error(node, "expected '\(key):' to be true or false, found \(kind(node))") }
        switch s.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, "expected '\(key):' to be true or false, found '\(s.string)'")
        }
    }

    func count(_ node: Node, _ key: String, min: Int) throws(SchemaError) -> Int {
        guard case .scalar(let s) = node, let v = parseInteger(s.string), let n = Int(exactly: v), n >= min, n <= Schema.maxLayoutSize else {
            throw error(node, "expected '\(key):' to be a number from \(min) to \(Schema.maxLayoutSize), found \(kind(node))")
        }
        return n
    }

    func endian(_ node: Node) throws(SchemaError) -> Endian {
        guard case .scalar(let s) = node, let e = Endian(rawValue: s.string) else {
            throw error(node, "expected 'endian:' to be little or big, found \(kind(node))")
        }
        return e
    }
}
