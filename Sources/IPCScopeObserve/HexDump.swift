/// `hexdump -C` layout: 8-digit hex offset, 16 bytes split 8+8, an `|ascii|` gutter,
/// `*` for a run of lines equal to the one before (unless `verbose`), and a final
/// line with the total length.
package enum HexDump {
    /// Renders `bytes` exactly as `hexdump -C` would (or `hexdump -C -v` when `verbose`).
    /// Empty input renders as nothing, as `hexdump -C` prints nothing for an empty file.
    package static func format(_ bytes: some Collection<UInt8>, verbose: Bool = false, startOffset: Int = 0) -> String {
        let data = Array(bytes)
        guard !data.isEmpty else { return "" }
        var out = ""
        out.reserveCapacity(data.count * 5)
        var previous: ArraySlice<UInt8>?
        var starred = false
        var offset = 0
        while offset < data.count {
            let row = data[offset..<min(offset + 16, data.count)]
            if !verbose, row.count == 16, let p = previous, p.elementsEqual(row) {
                if !starred { out += "*\n"; starred = true }
            } else {
                starred = false
                out += line(startOffset + offset, row)
                out += "\n"
            }
            previous = row
            offset += 16
        }
        out += hex8(startOffset + data.count) + "\n"
        return out
    }

    /// One `hexdump -C` line for up to 16 bytes at `offset` (no newline).
    package static func line(_ offset: Int, _ bytes: some Collection<UInt8>) -> String {
        var s = hex8(offset) + "  "
        var ascii = ""
        var i = 0
        for b in bytes {
            s += hex2(b) + " "
            if i == 7 { s += " " }
            ascii.unicodeScalars.append(b >= 0x20 && b < 0x7f ? Unicode.Scalar(b) : ".")
            i += 1
        }
        if i < 16 {
            for j in i..<16 {
                s += "   "
                if j == 7 { s += " " }
            }
        }
        return s + " |" + ascii + "|"
    }

    static let digits = Array("0123456789abcdef".utf8)

    /// Two lower-case hex digits.
    package static func hex2(_ b: UInt8) -> String {
        String(decoding: [digits[Int(b >> 4)], digits[Int(b & 15)]], as: UTF8.self)
    }

    /// Eight lower-case hex digits.
    package static func hex8(_ v: Int) -> String {
        let s = String(v, radix: 16)
        return s.count >= 8 ? s : String(repeating: "0", count: 8 - s.count) + s
    }
}

extension HexDump {
    /// Bytes as text, with `.` for anything that is not printable ASCII.
    package static func printable(_ bytes: some Sequence<UInt8>) -> String {
        var s = ""
        for b in bytes { s.unicodeScalars.append(b >= 0x20 && b < 0x7f ? Unicode.Scalar(b) : ".") }
        return s
    }
}
