// Properties of the payload syntaxes a person pastes or types: every dump the tools print reads
// back as the bytes dumped, every escaped text as the bytes escaped. Inputs are generated and,
// on a failure, shrunk by PropertyBased; the seed it prints replays the case (`.fixedSeed`).
import IPCScopeObserve
import PropertyBased
import Testing
import TestSupport

/// One of `items`, shrinking towards the first.
func oneOf<T: Sendable>(_ items: [T]) -> Generator<T, Shrink.Integer<Int>> {
    Gen<Int>.value(in: 0...(items.count - 1)).map { items[$0] }
}

// MARK: - generators

/// Payloads: random bytes; mostly-zero bytes; or one random 16-byte line repeated, then random
/// bytes, so that whole lines repeat (the `*` lines of `hexdump -C` and `xxd -a`).
let payloadGen = zip(Gen<UInt8>.value(in: 0...255).array(of: 0...300), Gen<Int>.value(in: 0...2), Gen<Int>.value(in: 1...6))
    .map { bytes, mode, repeats -> [UInt8] in
        switch mode {
        case 0: return bytes
        case 1: return bytes.map { $0 < 220 ? 0 : $0 }
        default:
            let line = Array(bytes.prefix(16)) + [UInt8](repeating: 0x2a, count: 16 - min(16, bytes.count))
            return (0..<repeats).flatMap { _ in line } + bytes.dropFirst(16)
        }
    }

// MARK: - reference printers (what xxd prints; HexDump is the project's own hexdump -C)

/// `xxd` (or `xxd -a` when `autoskip`: a run of all-zero lines after the first becomes one `*`,
/// the last line is always printed).
func xxdText(_ bytes: [UInt8], autoskip: Bool) -> String {
    var out = ""
    var offset = 0
    var skipping = false
    while offset < bytes.count {
        let row = Array(bytes[offset..<min(offset + 16, bytes.count)])
        let isLast = offset + 16 >= bytes.count
        let zero = row.count == 16 && row.allSatisfy { $0 == 0 }
        if autoskip, zero, !isLast, offset >= 16, bytes[(offset - 16)..<offset].allSatisfy({ $0 == 0 }) {
            if !skipping { out += "*\n"; skipping = true }
            offset += 16
            continue
        }
        skipping = false
        var hex = ""
        for (i, b) in row.enumerated() {
            hex += HexDump.hex2(b)
            if i % 2 == 1, i < row.count - 1 { hex += " " }
        }
        hex += String(repeating: " ", count: 39 - hex.count)
        out += HexDump.hex8(offset) + ": " + hex + "  " + HexDump.printable(row) + "\n"
        offset += 16
    }
    return out
}

/// Plain hex in the forms `--hex` takes: `48 65`, `4865 6c6c`, `0x48, 0x65` (xxd -i),
/// `48656c6c` in 30-byte lines (xxd -p), with single separators.
func plainHexText(_ bytes: [UInt8], form: Int) -> String {
    switch form % 4 {
    case 0: return bytes.map(HexDump.hex2).joined(separator: " ")
    case 1: return stride(from: 0, to: bytes.count, by: 2).map { i in bytes[i..<min(i + 2, bytes.count)].map(HexDump.hex2).joined() }
        .joined(separator: "\t")
    case 2: return stride(from: 0, to: bytes.count, by: 12).map { i in
        "  " + bytes[i..<min(i + 12, bytes.count)].map { "0x" + HexDump.hex2($0) }.joined(separator: ", ") }.joined(separator: ",\n") + "\n"
    default: return stride(from: 0, to: bytes.count, by: 30).map { i in bytes[i..<min(i + 30, bytes.count)].map(HexDump.hex2).joined() }
        .joined(separator: "\n") + "\n"
    }
}

/// One piece of a text with escapes: what is typed, and the bytes it stands for.
struct EscapedPiece: Sendable, CustomStringConvertible {
    var typed: String
    var bytes: [UInt8]
    var description: String { typed }

    /// `kind` picks the piece, `value` its byte or character.
    static func make(kind: Int, value: UInt32) -> EscapedPiece {
        let b = UInt8(truncatingIfNeeded: value)
        switch kind % 6 {
        case 0:  // any byte as \xHH, in either case
            let hex = HexDump.hex2(b)
            return EscapedPiece(typed: "\\x" + (value & 0x100 != 0 ? hex.uppercased() : hex), bytes: [b])
        case 1:  // the named escapes
            let named: [(String, UInt8)] = [("\\n", 10), ("\\t", 9), ("\\r", 13), ("\\0", 0), ("\\\\", 0x5c)]
            let (t, v) = named[Int(value % 5)]
            return EscapedPiece(typed: t, bytes: [v])
        case 2:  // a backslash before anything else stays a backslash
            let others = Array("aqz\"'/ {7").map(String.init)
            let c = others[Int(value % UInt32(others.count))]
            return EscapedPiece(typed: "\\" + c, bytes: [0x5c] + Array(c.utf8))
        case 3, 4:  // a character as typed: ASCII, Latin, CJK, emoji, a combining mark
            let ranges: [ClosedRange<UInt32>] = [0x20...0x5b, 0x5d...0x7e, 0xa0...0x24f, 0x300...0x36f, 0x4e00...0x4eff, 0x1f600...0x1f64f]
            let r = ranges[Int(value % UInt32(ranges.count))]
            let scalar = Unicode.Scalar(r.lowerBound + (value >> 8) % UInt32(r.count))!
            let s = String(Character(scalar))
            return EscapedPiece(typed: s, bytes: Array(s.utf8))
        default:  // a control byte typed raw
            let s = String(Character(Unicode.Scalar(b % 0x20)))
            return EscapedPiece(typed: s, bytes: Array(s.utf8))
        }
    }
}

let escapedPiecesGen = zip(Gen<Int>.value(in: 0...5), Gen<UInt32>.value(in: 0...UInt32.max))
    .map { EscapedPiece.make(kind: $0, value: $1) }
    .array(of: 0...40)

// MARK: - properties

@Suite("Properties: hex dumps and escapes")
struct PropertyPayloadTests {
    @Test("hexdump -C output (default, -v, any start offset) pastes back as the bytes dumped")
    func hexdumpRoundTrip() async {
        await propertyCheck(count: 200, input: payloadGen, Gen.bool, Gen<Int>.value(in: 0...0xFFFF_FFFF)) { bytes, verbose, start in
            let text = HexDump.format(bytes, verbose: verbose, startOffset: start % 3 == 0 ? 0 : start)
            let got = try parseHex(text)
            #expect(got == bytes, "\(text)")
        }
    }

    @Test("xxd and xxd -a output pastes back as the bytes dumped")
    func xxdRoundTrip() async {
        await propertyCheck(count: 200, input: payloadGen, Gen.bool) { bytes, autoskip in
            let text = xxdText(bytes, autoskip: autoskip)
            let got = try parseHex(text)
            #expect(got == bytes, "\(text)")
        }
    }

    @Test("plain hex (spaced, grouped, xxd -i, xxd -p) reads back as the bytes written")
    func plainHexRoundTrip() async {
        await propertyCheck(count: 200, input: Gen<UInt8>.value(in: 0...255).array(of: 0...100), Gen<Int>.value(in: 0...3)) { bytes, form in
            let text = plainHexText(bytes, form: form)
            let got = try parseHex(text)
            #expect(got == bytes, "\(text)")
        }
    }

    @Test("a dump is refused, never misread, once one of its hex digits is changed")
    func editedDumpIsRefused() async {
        await propertyCheck(count: 150, input: Gen<UInt8>.value(in: 0...255).array(of: 1...64), Gen<Int>.value(in: 0...Int.max)) { bytes, pick in
            // hexdump -C -v: every line shown, so one digit changed is one byte changed.
            let lines = HexDump.format(bytes, verbose: true).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let row = pick % (lines.count - 2), column = 10 + (pick / 7) % min(16, bytes.count - row * 16) * 3
            var line = Array(lines[row])
            let column2 = column + (column >= 34 ? 1 : 0)  // the extra space after byte 8
            line[column2] = line[column2] == "0" ? "1" : "0"
            var edited = lines
            edited[row] = String(line)
            // The text column no longer matches the bytes, unless both bytes print as '.'.
            if let changed = try? parseHex(edited.joined(separator: "\n")) {
                #expect(changed != bytes)
                #expect(HexDump.printable(changed) == HexDump.printable(bytes), "only a change the text column cannot show passes")
            }
        }
    }

    @Test("text with \\n \\t \\r \\0 \\\\ \\xHH escapes unescapes to the bytes meant; other backslashes stay")
    func unescapeRoundTrip() async {
        await propertyCheck(count: 300, input: escapedPiecesGen, Gen.bool) { pieces, trailingBackslash in
            let typed = pieces.map(\.typed).joined() + (trailingBackslash ? "\\" : "")
            let expected = pieces.flatMap(\.bytes) + (trailingBackslash ? [0x5c] : [])
            let got = try unescape(typed)
            #expect(got == expected, "\(typed.debugDescription)")
        }
    }

    @Test("\\x without two hex digits is refused with where it is")
    func badHexEscapeIsRefused() async {
        await propertyCheck(count: 100, input: escapedPiecesGen, oneOf(Array("gz /\\\"")).string(of: 0...1)) { pieces, after in
            let prefix = pieces.map(\.typed).joined()
            let typed = prefix + "\\x" + after
            #expect(throws: PayloadSyntaxError.self) { try unescape(typed) }
        }
    }
}
