// The agent protocol's framing and messages (docs/agent-protocol.md), decoded totally: any bytes
// give a message or an `AgentProtocolError`, never a trap, and no length is trusted before it is
// checked against the limits.

/// The constants of the agent protocol, version 1.
package enum AgentProtocol {
    /// "MBVA" as bytes on the wire (little-endian u32).
    package static let magic: UInt32 = 0x4156_424D
    /// The highest version this ipcscope speaks (2: HELLO_OK carries the agent host's
    /// REALTIME − MONOTONIC offset).
    package static let version: UInt16 = 2
    /// The lowest version this ipcscope speaks.
    package static let minVersion: UInt16 = 1
    package static let headerSize = 16
    /// No frame's payload may be longer: checked before a byte of it is kept.
    package static let maxPayload = 16 * 1024 * 1024
    /// The bytes a delta replaces at a time.
    package static let lineSize = 64
    package static let maxString = 4096
    package static let maxListEntries = 4096
    package static let maxPids = 32
    package static let maxTorn = 65536
}

/// A message type.
package enum AgentMessage: UInt16, Sendable {
    case hello = 0x01, list = 0x02, snapshot = 0x03, call = 0x04, bye = 0x05
    case helloOK = 0x81, listOK = 0x82, snapshotFull = 0x83, snapshotDelta = 0x93, callOK = 0x84, byeOK = 0x85
    case error = 0xFF
}

/// What went wrong with the stream or a frame on it. Every case says what to do.
package enum AgentProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    case badMagic(UInt32)
    case wrongVersion(UInt16)
    case tooLong(UInt32)
    case truncated(have: Int, want: Int)
    case silence(seconds: Double)
    /// The agent's output ended; how its transport ended, when it did (`status`: its exit status).
    case closed(exit: String?, status: Int32? = nil)
    case malformed(String)
    case unexpected(UInt16)
    /// The agent's own ERROR frame.
    case agent(code: UInt32, message: String)
    /// The transport command could not be started.
    case cannotStart(String)

    package var description: String {
        switch self {
        case .badMagic(let m):
            let hex = String(m, radix: 16)
            return "the agent's output is not the agent protocol (magic 0x\(hex), not 0x4156424d): check that the command runs mbvipc-agent and prints nothing else (no shell banner, no motd)"
        case .wrongVersion(let v):
            return "the agent answered in protocol version \(v); this ipcscope speaks \(AgentProtocol.minVersion) to \(AgentProtocol.version): install an agent and an ipcscope of the same release"
        case .tooLong(let n):
            return "the agent sent a frame of \(n) bytes, over the protocol's limit of \(AgentProtocol.maxPayload): not an agent of this protocol, or a corrupted stream"
        case .truncated(let have, let want):
            return "the agent's output ended inside a frame (\(have) of \(want) bytes)"
        case .silence(let s):
            return "the agent sent nothing for \(Self.seconds(s)): the transport may be waiting for a password or a host-key answer (use BatchMode/keys), or the agent hangs"
        case .closed(let exit, _):
            return "the agent's output closed" + (exit.map { " (\($0))" } ?? "") + ": check that the command starts mbvipc-agent (is it installed and on PATH there?)"
        case .malformed(let what):
            return "the agent sent a malformed \(what)"
        case .unexpected(let t):
            return "the agent sent an unexpected message type 0x\(String(t, radix: 16))"
        case .agent(_, let message):
            return message
        case .cannotStart(let why):
            return why
        }
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
    }
}

/// One frame: its type (raw, so that unknown types can be reported) and payload.
package struct AgentFrame: Equatable, Sendable {
    package var version: UInt16
    package var type: UInt16
    package var payload: [UInt8]

    package init(_ type: AgentMessage, _ payload: [UInt8] = [], version: UInt16 = AgentProtocol.version) {
        self.version = version
        self.type = type.rawValue
        self.payload = payload
    }

    package init(rawType: UInt16, payload: [UInt8], version: UInt16) {
        self.version = version
        self.type = rawType
        self.payload = payload
    }

    /// The frame as bytes on the wire.
    package var encoded: [UInt8] {
        var w = PayloadWriter()
        w.u32(AgentProtocol.magic)
        w.u16(version)
        w.u16(type)
        w.u32(UInt32(payload.count))
        w.u32(0)
        return w.bytes + payload
    }
}

/// Splits a byte stream into frames. Feed it what arrives; `next()` gives a whole frame, nil when
/// more bytes are needed, or an error (after which the stream cannot be trusted).
package struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    package init() {}

    /// Bytes buffered but not yet returned as a frame.
    package var pending: Int { buffer.count - start }

    package mutating func append(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }

    package mutating func next() throws(AgentProtocolError) -> AgentFrame? {
        guard pending >= AgentProtocol.headerSize else { return nil }
        let magic = le32(buffer, start)
        guard magic == AgentProtocol.magic else { throw .badMagic(magic) }
        let version = UInt16(buffer[start + 4]) | UInt16(buffer[start + 5]) << 8
        guard (AgentProtocol.minVersion...AgentProtocol.version).contains(version) else { throw .wrongVersion(version) }
        let type = UInt16(buffer[start + 6]) | UInt16(buffer[start + 7]) << 8
        let length = le32(buffer, start + 8)
        guard Int(length) <= AgentProtocol.maxPayload else { throw .tooLong(length) }
        let total = AgentProtocol.headerSize + Int(length)
        guard pending >= total else { return nil }
        let body = Array(buffer[(start + AgentProtocol.headerSize)..<(start + total)])
        start += total
        if start > 65536 && start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        return AgentFrame(rawType: type, payload: body, version: version)
    }

    /// What the stream ending now means: nil at a frame boundary, else the truncation.
    package var endError: AgentProtocolError? {
        guard pending > 0 else { return nil }
        if pending < AgentProtocol.headerSize { return .truncated(have: pending, want: AgentProtocol.headerSize) }
        let want = AgentProtocol.headerSize + Int(le32(buffer, start + 8))
        return .truncated(have: pending, want: want)
    }
}

private func le32(_ b: [UInt8], _ o: Int) -> UInt32 {
    UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
}

// MARK: - payloads

/// Appends little-endian fields.
package struct PayloadWriter: Sendable {
    package var bytes: [UInt8] = []
    package init() {}
    package mutating func u8(_ v: UInt8) { bytes.append(v) }
    package mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    package mutating func u32(_ v: UInt32) { for k in 0..<4 { bytes.append(UInt8((v >> (8 * k)) & 0xFF)) } }
    package mutating func u64(_ v: UInt64) { for k in 0..<8 { bytes.append(UInt8((v >> (8 * k)) & 0xFF)) } }
    /// A u16 length and the bytes (cut at the protocol's string limit).
    package mutating func string(_ s: [UInt8]) {
        let n = min(s.count, AgentProtocol.maxString)
        u16(UInt16(n))
        bytes += s[0..<n]
    }
}

/// Reads little-endian fields, failing (never trapping) past the end.
package struct PayloadReader: Sendable {
    private let bytes: [UInt8]
    private var pos = 0
    private let what: String

    package init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    package var remaining: Int { bytes.count - pos }

    package mutating func take(_ n: Int) throws(AgentProtocolError) -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw .malformed("\(what) (it ends early)") }
        defer { pos += n }
        return bytes[pos..<(pos + n)]
    }
    package mutating func u8() throws(AgentProtocolError) -> UInt8 { try take(1).first! }
    package mutating func u16() throws(AgentProtocolError) -> UInt16 {
        let b = try take(2)
        return UInt16(b[b.startIndex]) | UInt16(b[b.startIndex + 1]) << 8
    }
    package mutating func u32() throws(AgentProtocolError) -> UInt32 {
        let b = try take(4)
        var v: UInt32 = 0
        for k in 0..<4 { v |= UInt32(b[b.startIndex + k]) << (8 * k) }
        return v
    }
    package mutating func u64() throws(AgentProtocolError) -> UInt64 {
        let b = try take(8)
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(b[b.startIndex + k]) << (8 * k) }
        return v
    }
    package mutating func string() throws(AgentProtocolError) -> [UInt8] {
        let n = Int(try u16())
        guard n <= AgentProtocol.maxString else { throw .malformed("\(what) (a string of \(n) bytes)") }
        return Array(try take(n))
    }
    /// A count, refused over `limit` before anything is allocated for it.
    package mutating func count(limit: Int, of thing: String) throws(AgentProtocolError) -> Int {
        let n = try u32()
        guard Int(n) <= limit else { throw .malformed("\(what) (\(n) \(thing), more than the limit of \(limit))") }
        return Int(n)
    }
    package func end() throws(AgentProtocolError) {
        guard remaining == 0 else { throw .malformed("\(what) (\(remaining) bytes too many)") }
    }
}

// MARK: - messages

/// HELLO_OK: who answers.
package struct AgentHello: Equatable, Sendable {
    package var version: UInt16
    package var callsAllowed: Bool
    package var host: String
    package var os: String
    package var build: String
    package var clockTicksPerSecond: UInt32
    package var uid: UInt32
    /// CLOCK_REALTIME − CLOCK_MONOTONIC on the agent's host, in ns (version 2; nil from a version 1 agent).
    package var realtimeOffsetNS: UInt64?

    package init(decoding payload: [UInt8]) throws(AgentProtocolError) {
        var r = PayloadReader(payload, what: "HELLO_OK")
        version = try r.u16()
        callsAllowed = try r.u32() & 1 != 0
        host = String(decoding: try r.string(), as: UTF8.self)
        os = String(decoding: try r.string(), as: UTF8.self)
        build = String(decoding: try r.string(), as: UTF8.self)
        clockTicksPerSecond = try r.u32()
        uid = try r.u32()
        guard (AgentProtocol.minVersion...AgentProtocol.version).contains(version) else { throw .wrongVersion(version) }
        if version >= 2 { realtimeOffsetNS = try r.u64() }
    }
}

/// One LIST_OK entry: an `ipcscope.*` name in the agent's /dev/shm and what `lstat` said.
package struct AgentListEntry: Equatable, Sendable {
    package var rawName: [UInt8]
    package var kind: UInt8
    package var size: UInt64
    package var uid: UInt32
    package var mode: UInt32
    package var ageNS: UInt64

    /// The file kind in the words `FileKind` uses.
    package var kindName: String {
        switch kind {
        case 0: "regular file"
        case 1: "directory"
        case 2: "FIFO"
        case 3: "socket"
        case 4: "symbolic link"
        case 5: "character device"
        case 6: "block device"
        default: "unknown kind"
        }
    }

    package static func decodeList(_ payload: [UInt8]) throws(AgentProtocolError) -> [AgentListEntry] {
        var r = PayloadReader(payload, what: "LIST_OK")
        let n = try r.count(limit: AgentProtocol.maxListEntries, of: "entries")
        var out: [AgentListEntry] = []
        for _ in 0..<n {
            out.append(AgentListEntry(rawName: try r.string(), kind: try r.u8(), size: try r.u64(), uid: try r.u32(),
                                      mode: try r.u32(), ageNS: try r.u64()))
        }
        try r.end()
        return out
    }
}

/// What the agent's host says of one pid the section names.
package struct AgentPidFact: Equatable, Sendable {
    package enum State: UInt8, Sendable { case gone = 0, lives = 1, zombie = 2, unknown = 3 }
    package var pid: Int32
    package var roles: UInt32
    package var state: State
    package var startTime: UInt64
    package var command: [UInt8]
    package var commandLine: [UInt8]
}

/// SNAPSHOT_FULL or SNAPSHOT_DELTA, decoded but not yet applied to the previous bytes.
package struct AgentSnapshotReply: Equatable, Sendable {
    package var delta: Bool
    package var takenNS: UInt64
    package var objectSize: UInt64
    package var uid: UInt32
    package var mode: UInt32
    package var flags: UInt32
    package var bootMinusMonotonicNS: UInt64
    package var tornRecords: [UInt32]
    package var pids: [AgentPidFact]
    package var total: Int
    /// FULL: the bytes. DELTA: (line index, bytes) for each changed line.
    package var bytes: [UInt8]
    package var lines: [(Int, ArraySlice<UInt8>)]

    package static func == (a: Self, b: Self) -> Bool {
        a.delta == b.delta && a.takenNS == b.takenNS && a.bytes == b.bytes && a.total == b.total
            && a.lines.map(\.0) == b.lines.map(\.0) && a.lines.map { Array($0.1) } == b.lines.map { Array($0.1) }
    }

    package var alive: Bool { flags & 1 != 0 }
    package var slotsSettled: Bool { flags & 2 != 0 }
    package var mutexQuiet: Bool { flags & 4 != 0 }
    /// Version 2, deltas only: the pid facts are the previous snapshot's (none were sent).
    package var pidsSame: Bool { flags & 8 != 0 }

    package init(decoding payload: [UInt8], delta: Bool) throws(AgentProtocolError) {
        let what = delta ? "SNAPSHOT_DELTA" : "SNAPSHOT_FULL"
        var r = PayloadReader(payload, what: what)
        self.delta = delta
        takenNS = try r.u64()
        objectSize = try r.u64()
        uid = try r.u32()
        mode = try r.u32()
        flags = try r.u32()
        bootMinusMonotonicNS = try r.u64()
        let torn = try r.count(limit: AgentProtocol.maxTorn, of: "torn records")
        var tornRecords: [UInt32] = []
        for _ in 0..<torn { tornRecords.append(try r.u32()) }
        self.tornRecords = tornRecords
        let npids = try r.count(limit: AgentProtocol.maxPids, of: "pids")
        var pids: [AgentPidFact] = []
        for _ in 0..<npids {
            let pid = Int32(bitPattern: try r.u32()), roles = try r.u32()
            let raw = try r.u8()
            guard let state = AgentPidFact.State(rawValue: raw) else { throw .malformed("\(what) (pid state \(raw))") }
            pids.append(AgentPidFact(pid: pid, roles: roles, state: state, startTime: try r.u64(),
                                     command: try r.string(), commandLine: try r.string()))
        }
        self.pids = pids
        total = try r.count(limit: AgentProtocol.maxPayload, of: "section bytes")
        bytes = []
        lines = []
        if delta {
            let maxLines = (total + AgentProtocol.lineSize - 1) / AgentProtocol.lineSize
            let n = try r.count(limit: maxLines, of: "changed lines")
            for _ in 0..<n {
                let index = Int(try r.u32())
                guard index < maxLines else { throw .malformed("\(what) (line \(index) past the section's \(total) bytes)") }
                let length = min(AgentProtocol.lineSize, total - index * AgentProtocol.lineSize)
                lines.append((index, try r.take(length)))
            }
        } else {
            bytes = Array(try r.take(total))
        }
        try r.end()
    }
}

extension AgentSnapshotReply {
    /// The section's bytes this reply stands for: a FULL's own, or a DELTA's lines written over `base`
    /// (the previous snapshot's bytes of the same service), which must be there and of the same size.
    package func applied(to base: [UInt8]?) throws(AgentProtocolError) -> [UInt8] {
        guard delta else { return bytes }
        guard var out = base, out.count == total else {
            throw .malformed("SNAPSHOT_DELTA (no full snapshot of the same size before it)")
        }
        for (index, line) in lines {
            let at = index * AgentProtocol.lineSize
            guard at >= 0, at + line.count <= out.count else { throw .malformed("SNAPSHOT_DELTA (line \(index) past the end)") }
            out.replaceSubrange(at..<(at + line.count), with: line)
        }
        return out
    }
}

/// CALL_OK.
package struct AgentCallReply: Equatable, Sendable {
    package var status: Int32
    package var response: [UInt8]

    package init(decoding payload: [UInt8]) throws(AgentProtocolError) {
        var r = PayloadReader(payload, what: "CALL_OK")
        status = Int32(bitPattern: try r.u32())
        let n = try r.count(limit: 65535, of: "response bytes")
        response = Array(try r.take(n))
        try r.end()
    }
}

/// An ERROR frame's code and message.
package func decodeAgentError(_ payload: [UInt8]) -> AgentProtocolError {
    var r = PayloadReader(payload, what: "ERROR")
    do {
        let code = try r.u32()
        let message = String(decoding: try r.string(), as: UTF8.self)
        return .agent(code: code, message: escapeForTerminal(message))
    } catch {
        return error
    }
}

/// The ERROR codes (docs/agent-protocol.md).
package enum AgentErrorCode {
    package static let badFrame: UInt32 = 1, version: UInt32 = 2, unknownType: UInt32 = 3, badPayload: UInt32 = 4
    package static let noSection: UInt32 = 5, unreadable: UInt32 = 6, notRegular: UInt32 = 7, badName: UInt32 = 8
    package static let callsRefused: UInt32 = 9, callFailed: UInt32 = 10, io: UInt32 = 11, helloFirst: UInt32 = 12
    package static let timeout: UInt32 = 13
}
