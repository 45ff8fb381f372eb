/// A payload typed by a person could not be read; the message says where and how to fix it.
public struct PayloadSyntaxError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Parses `--hex` input: plain hex digits with optional spaces, `0x` prefixes, or pasted
/// `xxd` / `hexdump -C` text (offsets and the ASCII gutter are ignored).
public func parseHex(_ text: String) throws -> [UInt8] {
    var out: [UInt8] = []
    let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
    // hexdump -C text: lines that start with an 8-digit offset and two spaces.
    let hexdumpC = lines.contains { l in
        l.count > 10 && l.prefix(8).allSatisfy(\.isHexDigit) && l.dropFirst(8).hasPrefix("  ")
    }
    for rawLine in lines {
        var line = Substring(rawLine)
        if line.trimmingPrefix(while: { $0 == " " }) == "*" { continue }
        if let bar = line.firstIndex(of: "|") { line = line[..<bar] }  // hexdump -C gutter
        var tokens = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        // xxd: "00000000: 4865 6c6c  Hell" / hexdump -C: "00000000  48 65 ..."
        if let first = tokens.first, first.hasSuffix(":") {
            tokens.removeFirst()
            // xxd's ASCII column follows two spaces; keep only 4-digit groups.
            if let idx = line.firstIndex(of: ":") {
                let rest = line[line.index(after: idx)...]
                let groups = Array(rest.dropFirst())  // the space after the colon
                var end = groups.count
                for k in 0..<max(0, groups.count - 1) where groups[k] == " " && groups[k + 1] == " " { end = k; break }
                tokens = String(groups[0..<end]).split(separator: " ").map(String.init)
            }
        } else if hexdumpC, let first = tokens.first, first.count == 8, first.allSatisfy(\.isHexDigit) {
            tokens.removeFirst()  // the offset column (a line with only an offset is the total)
        }
        for var t in tokens {
            if t.hasPrefix("0x") || t.hasPrefix("0X") { t.removeFirst(2) }
            t.removeAll { $0 == "," }
            guard t.count % 2 == 0, t.allSatisfy(\.isHexDigit) else {
                throw PayloadSyntaxError("'\(t)' is not hex: give pairs of hex digits like '48 65 6c', or paste xxd / hexdump -C output")
            }
            var i = t.startIndex
            while i < t.endIndex {
                let j = t.index(i, offsetBy: 2)
                out.append(UInt8(t[i..<j], radix: 16)!)
                i = j
            }
        }
    }
    return out
}

/// Decodes `\n`, `\t`, `\r`, `\0`, `\\`, `\xHH` escapes in text given on the command line.
public func unescape(_ text: String) throws -> [UInt8] {
    var out: [UInt8] = []
    let b = Array(text.utf8)
    var i = 0
    while i < b.count {
        if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
            let c = b[i + 1]
            switch c {
            case UInt8(ascii: "n"): out.append(10); i += 2
            case UInt8(ascii: "t"): out.append(9); i += 2
            case UInt8(ascii: "r"): out.append(13); i += 2
            case UInt8(ascii: "0"): out.append(0); i += 2
            case UInt8(ascii: "\\"): out.append(0x5c); i += 2
            case UInt8(ascii: "x"):
                guard i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) else {
                    throw PayloadSyntaxError("bad escape in text at byte \(i + 1): \\x needs two hex digits, like \\x00")
                }
                out.append(v); i += 4
            default:
                out.append(b[i]); i += 1
            }
        } else {
            out.append(b[i]); i += 1
        }
    }
    return out
}
