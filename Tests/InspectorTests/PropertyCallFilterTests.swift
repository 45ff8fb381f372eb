// Properties of the filter and breakpoint terms (`fn=3 lat>1.5ms /a\x00/ hex=4865 word`): every
// term written as the syntax says reads back as that term, and a filter holds exactly when each
// of its terms holds.
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector
import PropertyBased
import Testing
import TestSupport

/// One of `items`, shrinking towards the first.
func oneOf<T: Sendable>(_ items: [T]) -> Generator<T, Shrink.Integer<Int>> {
    Gen<Int>.value(in: 0...(items.count - 1)).map { items[$0] }
}

/// A term and one way a person could type it.
struct TypedTerm: Sendable, CustomStringConvertible {
    var term: CallTerm
    var typed: String
    var description: String { typed }
}

/// Every spelling of each field the syntax accepts, in any letter case.
private let fieldNames: [CallField: [String]] = [
    .function: ["fn", "f", "function"], .status: ["status", "st"], .pid: ["pid", "client"],
    .size: ["size", "req"], .latency: ["lat", "latency"],
]

/// A comparison term: `value` is brought into the field's range, then written in decimal, hex,
/// with a `+`, or (latency) with a unit it divides exactly, decimals included.
private func compareTerm(_ field: CallField, _ op: CallComparison, _ value: Int64, _ style: UInt32) -> TypedTerm {
    let r = field.range
    let span = UInt64(bitPattern: r.upperBound &- r.lowerBound)
    let v = span == UInt64.max ? value : r.lowerBound &+ Int64(bitPattern: UInt64(bitPattern: value) % (span + 1))
    let names = fieldNames[field]!
    var name = names[Int(style % UInt32(names.count))]
    if style & 0x10 != 0 { name = name.uppercased() }
    var number: String
    switch (style >> 5) % 4 {
    case 0: number = String(v)
    case 1: number = v < 0 ? "-0x" + String(v.magnitude, radix: 16) : "0x" + String(v, radix: 16, uppercase: style & 0x80 != 0)
    case 2: number = v < 0 ? String(v) : "+" + String(v)
    default: number = String(v)
    }
    if field == .latency {
        // A unit, when it divides the value: `1500ns` as `1.5us` too.
        let units: [(String, Int64)] = [("ns", 1), ("us", 1000), ("µs", 1000), ("ms", 1_000_000), ("s", 1_000_000_000)]
        let (unit, scale) = units[Int((style >> 8) % 5)]
        if (style >> 11) % 3 != 0 {
            let whole = v / scale, frac = v % scale
            var digits = ""
            if frac != 0 {
                let width = String(scale).count - 1
                let f = String(frac)
                digits = "." + String(repeating: "0", count: width - f.count) + f
                while digits.hasSuffix("0") { digits.removeLast() }
            }
            number = String(whole) + digits + unit
        } else {
            number = String(v)
        }
    }
    return TypedTerm(term: .compare(field, op, v), typed: name + op.rawValue + number)
}

/// `/text/` with escapes for bytes that are not printable ASCII (and for space, tab and `\`,
/// which the syntax reserves), or `hex=` with the bytes.
private func containsTerm(_ bytes: [UInt8], _ style: UInt32) -> TypedTerm {
    if style % 2 == 0 {
        var text = ""
        for b in bytes {
            switch b {
            case 0x5c: text += "\\\\"
            case 0x0a: text += "\\n"
            case 0x21...0x7e: text.unicodeScalars.append(Unicode.Scalar(b))
            default: text += "\\x" + HexDump.hex2(b)
            }
        }
        return TypedTerm(term: .contains(bytes), typed: "/" + text + "/")
    }
    let hex = style & 2 != 0 ? bytes.map { "0x" + HexDump.hex2($0) }.joined(separator: ",") : bytes.map(HexDump.hex2).joined()
    return TypedTerm(term: .contains(bytes), typed: (style & 4 != 0 ? "HEX=" : "hex=") + hex)
}

let typedTermGen = zip(Gen<Int>.value(in: 0...9), Gen<Int64>.value(in: .min ... .max), Gen<UInt32>.value(in: 0...UInt32.max),
                       Gen<UInt8>.value(in: 0...255).array(of: 1...12),
                       oneOf(Array("abcxyzHELO019_.-")).string(of: 1...8))
    .map { kind, value, style, bytes, word -> TypedTerm in
        switch kind {
        case 0...5:
            let field = CallField.allCases[Int(style % 5)]
            let op = CallComparison.allCases[Int((style >> 3) % 6)]
            return compareTerm(field, op, value, style >> 6)
        case 6, 7: return containsTerm(bytes, style)
        case 8:  // text typed as is between slashes, UTF-8 included
            let text = String(word.map { $0 == "x" ? "é" : $0 == "z" ? "€" : $0 })
            return TypedTerm(term: .contains(Array(text.utf8)), typed: "/" + text + "/")
        default: return TypedTerm(term: .word(word), typed: word)
        }
    }

let traceRecordGen = zip(Gen<UInt32>.value(in: 0...UInt32.max), Gen<Int32>.value(in: .min ... .max), Gen<UInt32>.value(in: 0...40),
                         Gen<Int32>.value(in: 0...Int32.max), Gen<UInt64>.value(in: 0...5_000_000_000),
                         oneOf([0x00, 0x41, 0x42, 0x5c, 0x0a, 0xff]).array(of: 16))
    .map { fn, status, size, pid, latency, head in
        TraceRecord(seq: 1, function: fn, status: status, requestSize: size, responseSize: 0, clientPID: pid, flags: 0,
                    sentNS: 1_000, doneNS: 1_000 + latency, requestHead: head)
    }

@Suite("Properties: filter and breakpoint terms")
struct PropertyCallFilterTests {
    @Test("a term typed as the syntax says reads back as that term")
    func termRoundTrip() async {
        await propertyCheck(count: 400, input: typedTermGen) { t in
            let got = try parseCallTerm(t.typed)
            #expect(got == t.term, "typed: \(t.typed)")
        }
    }

    @Test("latencies past 2^53 ns read exactly (found by termRoundTrip: they were read through a Double)",
          arguments: [("latency<=4398046511104.063us", 4_398_046_511_104_063), ("lat<=9223372036.854775428s", 9_223_372_036_854_775_428),
                      ("lat>9223372036854775807ns", Int64.max), ("lat>1.5ns", 2), ("lat>0.0000014ms", 1), ("lat>2.0000000005s", 2_000_000_001)])
    func exactLatency(_ typed: String, _ ns: Int64) throws {
        guard case .compare(.latency, _, let v) = try parseCallTerm(typed) else { Issue.record("\(typed) is not a latency term"); return }
        #expect(v == ns)
    }

    @Test("a filter of several terms holds exactly when each of its terms holds")
    func filterIsConjunction() async throws {
        await propertyCheck(count: 200, input: typedTermGen.array(of: 1...5), traceRecordGen) { terms, record in
            let filter = try HistoryFilter(parsing: terms.map(\.typed).joined(separator: " "))
            #expect(filter.terms == terms.map(\.term))
            let each = try terms.map { try HistoryFilter(parsing: $0.typed).matches(record) }
            #expect(filter.matches(record) == !each.contains(false))
        }
    }

    @Test("a comparison holds exactly when the record's field compares so")
    func comparisonMeansWhatItSays() async throws {
        await propertyCheck(count: 300, input: typedTermGen, traceRecordGen) { t, record in
            guard case .compare(let field, let op, let v) = t.term else { return }
            let x: Int64 = switch field {
            case .function: Int64(record.function)
            case .status: Int64(record.status)
            case .pid: Int64(record.clientPID)
            case .size: Int64(record.requestSize)
            case .latency: Int64(record.doneNS - record.sentNS)
            }
            let holds = switch op {
            case .eq: x == v
            case .ne: x != v
            case .gt: x > v
            case .ge: x >= v
            case .lt: x < v
            case .le: x <= v
            }
            let filter = try HistoryFilter(parsing: t.typed)
            #expect(filter.matches(record) == holds, "\(t.typed) on \(x)")
        }
    }
}
