/// A payload typed by a person could not be read; the message says where and how to fix it.
import IPCScopePOSIX
package struct PayloadSyntaxError: Error, CustomStringConvertible, Sendable, Equatable {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// The largest payload `parseHex` and `unescape` produce (a `*` line of a dump cannot expand
/// past it either): far above any section's request capacity.
package let maxParsedPayloadBytes = 16 << 20

/// The longest text `parseHex` reads (a dump takes about 5 characters per byte).
package let maxHexTextBytes = 128 << 20

/// Parses `--hex` input: plain hex digits with optional spaces, commas and `0x` prefixes
/// (also `xxd -p` and `xxd -i` output), or a pasted `hexdump -C` / `xxd` dump.
///
/// In a dump, offsets and the text column are checked, not ignored: every line must start
/// where the previous one ended, and a `*` line (`hexdump -C`, `xxd -a`: "the line above
/// repeats") is expanded up to the next offset, as those tools mean it. A dump whose offsets
/// do not add up, or whose `hexdump -C` text column disagrees with its bytes, is refused, so
/// the bytes sent are always the bytes shown. `hexdump` and `od` without `-C` (2-byte words,
/// byte order swapped) are refused with what to paste instead.
/// - Parameter limit: the most bytes accepted (default `maxParsedPayloadBytes`).
/// - Throws: `PayloadSyntaxError`, one line, naming the line and what to do.
package func parseHex(_ text: String, limit: Int = maxParsedPayloadBytes) throws(PayloadSyntaxError) -> [UInt8] {
    guard text.utf8.count <= maxHexTextBytes else {
        throw PayloadSyntaxError("the hex input is \(text.utf8.count) bytes long, over the limit of \(maxHexTextBytes): give a smaller payload")
    }
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
        .map { $0.trimmingPrefix(while: { $0 == " " || $0 == "\t" }) }
    guard let first = lines.first(where: { !$0.allSatisfy(\.isWhitespace) }) else { return [] }
    switch DumpKind(first) {
    case .plain: return try parsePlainHex(lines, limit: limit)
    case .wordDump:
        throw PayloadSyntaxError("this looks like the default output of hexdump or od (2-byte words, byte order swapped): "
                                 + "paste the output of 'hexdump -C' or 'xxd' instead")
    case .hexdumpC, .xxd:
        var dump = DumpParser(limit: limit)
        for (i, line) in lines.enumerated() { try dump.line(line, number: i + 1) }
        return try dump.finish()
    }
}

/// Which syntax a paste is in, from its first non-blank line.
enum DumpKind {
    case plain, hexdumpC, xxd, wordDump

    init(_ line: Substring) {
        let tokens = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let head = tokens.first else { self = .plain; return }
        if head.count >= 2, head.hasSuffix(":"), head.dropLast().allSatisfy(\.isHexDigit) { self = .xxd; return }
        let offset = head.count >= 8 && head.allSatisfy(\.isHexDigit)
        if offset, line.dropFirst(head.count).hasPrefix("  "), tokens.count > 1, tokens[1].count == 2 || tokens[1].hasPrefix("|") {
            self = .hexdumpC
            return
        }
        if head.count == 7, head.allSatisfy(\.isHexDigit), tokens.count > 1,
           tokens.dropFirst().allSatisfy({ ($0.count == 4 || $0.count == 6) && $0.allSatisfy(\.isHexDigit) }) {
            self = .wordDump
            return
        }
        self = .plain
    }
}

/// Plain hex: pairs of digits, separated or not by spaces, tabs and commas, with optional `0x`.
package func parsePlainHex(_ lines: [Substring], limit: Int) throws(PayloadSyntaxError) -> [UInt8] {
    var out: [UInt8] = []
    for (n, line) in lines.enumerated() {
        for token in line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }) {
            if token == "*" {
                throw PayloadSyntaxError("line \(n + 1): '*' only means \"the line above repeats\" in a hexdump -C or xxd -a dump "
                                         + "with its offsets; paste the whole dump, or give the bytes")
            }
            var t = token
            if t.hasPrefix("0x") || t.hasPrefix("0X") { t = t.dropFirst(2) }
            let digits = Array(t.utf8)
            guard !digits.isEmpty, digits.count % 2 == 0, digits.allSatisfy({ hexDigit($0) != nil }) else {
                throw PayloadSyntaxError("line \(n + 1): '\(clip(token))' is not hex: give pairs of hex digits like '48 65 6c', "
                                         + "or paste xxd / hexdump -C output")
            }
            guard out.count + digits.count / 2 <= limit else {
                throw PayloadSyntaxError("the hex input holds more than \(limit) bytes: give a smaller payload")
            }
            for k in stride(from: 0, to: digits.count, by: 2) {
                out.append(hexDigit(digits[k])! << 4 | hexDigit(digits[k + 1])!)
            }
        }
    }
    return out
}

/// Reads a `hexdump -C` or `xxd` dump line by line, checking offsets and expanding `*`.
struct DumpParser {
    let limit: Int
    var out: [UInt8] = []
    /// The offset of the first line (a dump of `hexdump -s N` starts at N).
    var base: Int?
    /// The bytes of the last data line: what a `*` repeats.
    var lastLine: [UInt8] = []
    /// The line number of a `*` waiting for the next offset.
    var pendingStar: Int?
    /// Whether an offset-only line (hexdump's total length) was seen.
    var ended = false

    init(limit: Int) { self.limit = limit }

    mutating func line(_ line: Substring, number: Int) throws(PayloadSyntaxError) {
        if line.allSatisfy(\.isWhitespace) { return }
        if line.filter({ !$0.isWhitespace }) == "*" {
            guard !lastLine.isEmpty else {
                throw PayloadSyntaxError("line \(number): '*' repeats the line above, but no line of bytes comes before it")
            }
            guard pendingStar == nil else { throw PayloadSyntaxError("line \(number): two '*' lines in a row") }
            pendingStar = number
            return
        }
        guard !ended else {
            throw PayloadSyntaxError("line \(number): bytes after the dump's last line (its total length): paste one dump")
        }
        var rest = line[...]
        let head = rest.prefix(while: { !$0.isWhitespace })
        let xxd = head.hasSuffix(":")
        let digits = xxd ? head.dropLast() : head
        guard !digits.isEmpty, digits.count <= 16, digits.allSatisfy(\.isHexDigit),
              let raw = UInt64(digits, radix: 16), let offset = Int(exactly: raw) else {
            throw PayloadSyntaxError("line \(number): expected an offset like 00000010 at the start of a dump line, found '\(clip(head))'")
        }
        rest = rest.dropFirst(head.count)
        let bytes = xxd ? try xxdBytes(rest, number) : try hexdumpBytes(rest, number)
        try reach(offset, number)
        if bytes.isEmpty {
            if xxd { throw PayloadSyntaxError("line \(number): an xxd line with an offset but no bytes") }
            ended = true  // hexdump's last line: the total length
            return
        }
        guard out.count + bytes.count <= limit else {
            throw PayloadSyntaxError("the dump holds more than \(limit) bytes: give a smaller payload")
        }
        out += bytes
        lastLine = bytes
    }

    /// Checks that `offset` is where the bytes so far end, after expanding a pending `*`.
    mutating func reach(_ offset: Int, _ number: Int) throws(PayloadSyntaxError) {
        if base == nil { base = offset }
        let here = (base ?? 0) + out.count
        if let star = pendingStar {
            pendingStar = nil
            let gap = offset - here
            guard gap >= 0, gap % lastLine.count == 0 else {
                throw PayloadSyntaxError("line \(number): offset \(hex(offset)) does not follow the '*' on line \(star) "
                                         + "(repeats of the \(lastLine.count)-byte line above end at \(hex(here)) plus a multiple "
                                         + "of \(lastLine.count)): paste the dump unedited")
            }
            guard gap <= limit - out.count else {
                throw PayloadSyntaxError("line \(number): the '*' on line \(star) expands to offset \(hex(offset)), over the limit "
                                         + "of \(limit) bytes")
            }
            for _ in 0..<(gap / lastLine.count) { out += lastLine }
            return
        }
        guard offset == here else {
            throw PayloadSyntaxError("line \(number): offset \(hex(offset)) but the lines above end at \(hex(here)): "
                                     + "a line is missing or was edited; paste the whole dump unedited")
        }
    }

    /// The hex of a `hexdump -C` line after the offset: 2-digit bytes, then `|text|`, checked.
    func hexdumpBytes(_ rest: Substring, _ number: Int) throws(PayloadSyntaxError) -> [UInt8] {
        var hexPart = rest, gutter: Substring?
        if let bar = rest.firstIndex(of: "|") {
            hexPart = rest[..<bar]
            let after = rest[rest.index(after: bar)...]
            guard let close = after.lastIndex(of: "|") else {
                throw PayloadSyntaxError("line \(number): the text column opened by '|' is not closed")
            }
            gutter = after[..<close]
        }
        var bytes: [UInt8] = []
        for token in hexPart.split(whereSeparator: \.isWhitespace) {
            let u = Array(token.utf8)
            guard u.count == 2, let h = hexDigit(u[0]), let l = hexDigit(u[1]) else {
                throw PayloadSyntaxError("line \(number): '\(clip(token))' is not a byte of a hexdump -C line (two hex digits)")
            }
            bytes.append(h << 4 | l)
        }
        if let gutter {
            let shown = String(decoding: bytes.map { (0x20...0x7e).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
            guard shown == gutter else {
                throw PayloadSyntaxError("line \(number): the bytes read as '\(clip(shown[...]))' but the text column shows "
                                         + "'\(clip(gutter))': the dump was edited; fix both or paste it unedited")
            }
        }
        return bytes
    }

    /// The hex of an `xxd` line after `offset:`: groups of digit pairs up to two spaces.
    func xxdBytes(_ rest: Substring, _ number: Int) throws(PayloadSyntaxError) -> [UInt8] {
        var groups = rest.dropFirst()  // the space after the colon
        if let gap = groups.firstRange(of: "  ") { groups = groups[..<gap.lowerBound] }
        var bytes: [UInt8] = []
        for token in groups.split(separator: " ") {
            let u = Array(token.utf8)
            guard u.count % 2 == 0, u.allSatisfy({ hexDigit($0) != nil }) else {
                throw PayloadSyntaxError("line \(number): '\(clip(token))' is not a group of hex digits of an xxd line")
            }
            for k in stride(from: 0, to: u.count, by: 2) { bytes.append(hexDigit(u[k])! << 4 | hexDigit(u[k + 1])!) }
        }
        return bytes
    }

    func finish() throws(PayloadSyntaxError) -> [UInt8] {
        if let star = pendingStar {
            throw PayloadSyntaxError("line \(star): the dump ends with '*' and no offset after it says how often the line "
                                     + "repeats: paste the whole dump, with its last line")
        }
        return out
    }

    private func hex(_ v: Int) -> String { "0x" + String(v, radix: 16) }
}

/// Decodes `\n`, `\t`, `\r`, `\0`, `\\`, `\xHH` escapes in text given on the command line.
/// Any other backslash stays as it is.
/// - Throws: `PayloadSyntaxError` for a `\x` without two hex digits, or text over `limit` bytes.
package func unescape(_ text: String, limit: Int = maxParsedPayloadBytes) throws(PayloadSyntaxError) -> [UInt8] {
    let b = Array(text.utf8)
    guard b.count <= limit else { throw PayloadSyntaxError("the text is \(b.count) bytes, over the limit of \(limit) bytes") }
    var out: [UInt8] = []
    out.reserveCapacity(b.count)
    var i = 0
    while i < b.count {
        if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
            switch b[i + 1] {
            case UInt8(ascii: "n"): out.append(10); i += 2
            case UInt8(ascii: "t"): out.append(9); i += 2
            case UInt8(ascii: "r"): out.append(13); i += 2
            case UInt8(ascii: "0"): out.append(0); i += 2
            case UInt8(ascii: "\\"): out.append(0x5c); i += 2
            case UInt8(ascii: "x"):
                guard i + 3 < b.count, let h = hexDigit(b[i + 2]), let l = hexDigit(b[i + 3]) else {
                    throw PayloadSyntaxError("bad escape in text at byte \(i + 1): \\x needs two hex digits, like \\x00")
                }
                out.append(h << 4 | l); i += 4
            default:
                out.append(b[i]); i += 1
            }
        } else {
            out.append(b[i]); i += 1
        }
    }
    return out
}

/// At most 40 characters of `s`, for a one-line message.
package func clip(_ s: Substring) -> String { s.count <= 40 ? String(s) : String(s.prefix(37)) + "..." }
