/// How `ipcscope replay` judges one answer against the recorded one.
import IPCScopeObserve
package enum ReplayCheck {
    /// Why a call cannot be sent again, or nil when it can.
    package static func unsendable(_ call: RecordedCall) -> String? {
        if call.flags.contains(.rejected) { return "the server rejected it (request size over capacity)" }
        if !call.requestComplete {
            return "only \(call.request.count) of its \(call.requestSize) request bytes were recorded"
        }
        return nil
    }

    /// The first difference between the recorded answer and `status` + `response`, as one
    /// line (with a hex diff of the first differing bytes), or nil when they match. A partial
    /// recording compares the status, the size and the bytes it holds.
    package static func difference(_ call: RecordedCall, status: Int32, response: [UInt8]) -> String? {
        if status != call.status { return "status \(status), recorded \(call.status)" }
        if response.count != Int(call.responseSize) {
            let at = firstDifference(call.response, response) ?? min(call.response.count, response.count)
            return "\(response.count) response bytes, recorded \(call.responseSize)" + (call.response.isEmpty && call.responseSize > 0 ? "" : "; " + hexDiff(call.response, response, at: at))
        }
        let known = call.response.prefix(response.count)
        if let at = firstDifference(Array(known), Array(response.prefix(known.count))) {
            return "response bytes differ; " + hexDiff(call.response, response, at: at)
        }
        return nil
    }

    /// The index of the first byte where `a` and `b` differ (over their common length).
    package static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
        for i in 0..<min(a.count, b.count) where a[i] != b[i] { return i }
        return nil
    }

    /// `at 0x0004: recorded 6c 6c 6f 0a, got 4c 4c 4f 0a` (up to 8 bytes from the first difference).
    package static func hexDiff(_ recorded: [UInt8], _ got: [UInt8], at: Int) -> String {
        func window(_ b: [UInt8]) -> String {
            guard at < b.count else { return "(end)" }
            return b[at..<min(b.count, at + 8)].map { HexDump.hex2($0) }.joined(separator: " ")
        }
        return "at 0x\(String(at, radix: 16, uppercase: false)): recorded \(window(recorded)), got \(window(got))"
    }
}

// MARK: - the JSON Lines of `ipcscope watch --json`

extension Recording {
    /// Reads the JSON Lines `ipcscope watch --json` writes: one `{"event":"call",...}` object a
    /// call (other events are skipped). Calls `watch` saw whole carry `request_hex` /
    /// `response_hex`, the full payloads; of the others it keeps only the first 16 request bytes
    /// (`request_head_hex`) and no response bytes: such calls are partial unless the request
    /// fits in 16 bytes, and their answers are compared by status and size.
    /// - Throws: `RecordingError` naming the line that is not a JSON object of this shape.
    package static func fromJSONLines(_ text: String) throws(RecordingError) -> Recording {
        var recording = Recording()
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            if trimmed.isEmpty { continue }
            let fields: [String: FlatJSON.Value]
            do throws(RecordingError) { fields = try FlatJSON.parse(Substring(trimmed)) } catch {
                throw RecordingError("line \(n + 1): \(error.message)")
            }
            if case .string(let e)? = fields["event"], e != "call" {
                if e == "missed", let m = fields["count"]?.uint { recording.missed += m }
                continue
            }
            func number(_ key: String) throws(RecordingError) -> UInt64 {
                guard let v = fields[key]?.uint else { throw RecordingError("line \(n + 1): no unsigned number \"\(key)\"") }
                return v
            }
            func hex(_ key: String) throws(RecordingError) -> [UInt8]? {
                guard case .string(let s)? = fields[key] else { return nil }
                guard let b = FlatJSON.hexBytes(s) else { throw RecordingError("line \(n + 1): \"\(key)\" is not hex") }
                return b
            }
            guard let function = UInt32(exactly: try number("function")),
                  case .number(let statusText)? = fields["status"], let status = Int32(statusText),
                  let requestSize = UInt32(exactly: try number("request_size")),
                  let responseSize = UInt32(exactly: try number("response_size")) else {
                throw RecordingError("line \(n + 1): function, status or a size is out of range")
            }
            var request = try hex("request_hex")
            if request == nil { request = try hex("request_head_hex") }
            let response = try hex("response_hex") ?? []
            var flags: RecordedCall.Flags = []
            if case .bool(true)? = fields["rejected"] { flags.insert(.rejected) }
            if case .bool(true)? = fields["after_recovery"] { flags.insert(.afterRecovery) }
            if request?.count != Int(requestSize) || response.count != Int(responseSize) { flags.insert(.partial) }
            var pid: Int32 = 0
            if case .number(let t)? = fields["client_pid"] { pid = Int32(t) ?? 0 }
            recording.calls.append(RecordedCall(
                seq: try number("seq"), function: function, status: status, requestSize: requestSize,
                responseSize: responseSize, clientPID: pid, clientTID: 0, epoch: 0, flags: flags,
                sentNS: fields["sent_ns"]?.uint ?? 0, doneNS: fields["done_ns"]?.uint ?? 0,
                request: request ?? [], response: response))
        }
        return recording
    }
}

/// A reader for the top level of one JSON object (strings, numbers, booleans, null; a nested object
/// or array, such as the decoded fields `watch --json --schema` adds, is checked and passed over),
/// enough for the JSON Lines `ipcscope` writes. Never traps on any input.
enum FlatJSON {
    enum Value: Equatable {
        case string(String), number(String), bool(Bool), null, nested
        var uint: UInt64? { if case .number(let t) = self { UInt64(t) } else { nil } }
    }

    static func parse(_ text: Substring) throws(RecordingError) -> [String: Value] {
        var s = Array(text.unicodeScalars)[...]
        var out: [String: Value] = [:]
        func skipSpace() { while let c = s.first, c == " " || c == "\t" || c == "\r" { s.removeFirst() } }
        func expect(_ c: Unicode.Scalar) throws(RecordingError) {
            skipSpace()
            guard s.first == c else { throw RecordingError("expected '\(c)' in a JSON object") }
            s.removeFirst()
        }
        func string() throws(RecordingError) -> String {
            try expect("\"")
            var r = String.UnicodeScalarView()
            while let c = s.popFirst() {
                if c == "\"" { return String(r) }
                if c != "\\" { r.append(c); continue }
                guard let e = s.popFirst() else { break }
                switch e {
                case "n": r.append("\n")
                case "t": r.append("\t")
                case "r": r.append("\r")
                case "b": r.append("\u{8}")
                case "f": r.append("\u{c}")
                case "u":
                    let digits = String(String.UnicodeScalarView(s.prefix(4)))
                    guard digits.count == 4, let v = UInt32(digits, radix: 16), let u = Unicode.Scalar(v) else {
                        throw RecordingError("a bad \\u escape in a JSON string")
                    }
                    s.removeFirst(4)
                    r.append(u)
                default: r.append(e)
                }
            }
            throw RecordingError("a JSON string is not closed")
        }
        /// Passes over one object or array, its brackets balanced and its strings closed (at most 64 deep).
        func skipNested() throws(RecordingError) {
            var open: [Unicode.Scalar] = []
            repeat {
                guard let c = s.first else { throw RecordingError("a nested JSON value is not closed") }
                switch c {
                case "\"": _ = try string(); continue
                case "{", "[":
                    guard open.count < 64 else { throw RecordingError("JSON nested more than 64 deep") }
                    open.append(c == "{" ? "}" : "]")
                case "}", "]":
                    guard open.popLast() == c else { throw RecordingError("a nested JSON value's brackets do not match") }
                default: break
                }
                s.removeFirst()
            } while !open.isEmpty
        }
        try expect("{")
        skipSpace()
        if s.first == "}" { s.removeFirst(); return out }
        while true {
            let key = try string()
            try expect(":")
            skipSpace()
            switch s.first {
            case "\"": out[key] = .string(try string())
            case "{", "[": try skipNested(); out[key] = .nested
            case "t" where s.starts(with: "true".unicodeScalars): s.removeFirst(4); out[key] = .bool(true)
            case "f" where s.starts(with: "false".unicodeScalars): s.removeFirst(5); out[key] = .bool(false)
            case "n" where s.starts(with: "null".unicodeScalars): s.removeFirst(4); out[key] = .null
            default:
                let num = s.prefix { "-+.eE0123456789".unicodeScalars.contains($0) }
                guard !num.isEmpty else { throw RecordingError("\"\(key)\" holds no JSON value") }
                s.removeFirst(num.count)
                out[key] = .number(String(String.UnicodeScalarView(num)))
            }
            skipSpace()
            guard let c = s.popFirst() else { throw RecordingError("the JSON object is not closed") }
            if c == "}" { break }
            guard c == "," else { throw RecordingError("expected ',' or '}' in a JSON object") }
        }
        skipSpace()
        guard s.isEmpty else { throw RecordingError("text after the JSON object") }
        return out
    }

    /// Lower- or upper-case hex without separators, or nil.
    static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let hi = nibble(u[i]), let lo = nibble(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}
