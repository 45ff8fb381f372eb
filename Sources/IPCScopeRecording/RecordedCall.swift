/// One call as `ipcscope record` kept it: the trace record's fields, the client's thread id
/// from the request slot, the server epoch, and as much of both payloads as could be copied.
import IPCScopeObserve
package struct RecordedCall: Equatable, Sendable {
    /// What is special about a recorded call (the `flags` field of the packet header).
    package struct Flags: OptionSet, Equatable, Sendable {
        package var rawValue: UInt16
        package init(rawValue: UInt16) { self.rawValue = rawValue }
        /// The payloads could not be copied in full before the next call overwrote the slots:
        /// `request` holds the trace ring's first bytes, `response` what was copied (maybe nothing).
        package static let partial = Flags(rawValue: 1 << 0)
        /// The server rejected the request (a size over capacity): trace flag bit 0.
        package static let rejected = Flags(rawValue: 1 << 1)
        /// The call followed a mutex recovery: trace flag bit 1.
        package static let afterRecovery = Flags(rawValue: 1 << 2)
    }

    package var seq: UInt64
    package var function: UInt32
    package var status: Int32
    /// The sizes the section gave (the payloads below may be shorter when `partial`).
    package var requestSize: UInt32
    package var responseSize: UInt32
    package var clientPID: Int32
    /// The calling thread, from the request slot; 0 when the slot was overwritten before it was read.
    package var clientTID: Int32
    /// `server_epoch` of the server that answered.
    package var epoch: UInt32
    package var flags: Flags
    /// CLOCK_MONOTONIC of the request (client) and of the answer (server).
    package var sentNS: UInt64
    package var doneNS: UInt64
    /// The request bytes copied (all `requestSize` of them unless `partial`).
    package var request: [UInt8]
    /// The response bytes copied (all `responseSize` of them unless `partial`).
    package var response: [UInt8]

    package init(seq: UInt64, function: UInt32, status: Int32, requestSize: UInt32, responseSize: UInt32,
                clientPID: Int32, clientTID: Int32, epoch: UInt32, flags: Flags, sentNS: UInt64, doneNS: UInt64,
                request: [UInt8], response: [UInt8]) {
        self.seq = seq
        self.function = function
        self.status = status
        self.requestSize = requestSize
        self.responseSize = responseSize
        self.clientPID = clientPID
        self.clientTID = clientTID
        self.epoch = epoch
        self.flags = flags
        self.sentNS = sentNS
        self.doneNS = doneNS
        self.request = request
        self.response = response
    }

    package var partial: Bool { flags.contains(.partial) }
    /// Whether every request byte is here (the call can be sent again).
    package var requestComplete: Bool { request.count == Int(requestSize) && !flags.contains(.rejected) }
    /// Whether every response byte is here (the answer can be compared byte for byte).
    package var responseComplete: Bool { response.count == Int(responseSize) }
}

// MARK: - the packet layout (link type LINKTYPE_USER0, 147)

/// The bytes of one pcapng packet: a 64-byte little-endian header and the payload.
///
/// ```
/// off size field
///  0   4   magic "IPCS"
///  4   1   version (1)
///  5   1   direction: 0 request (client to server), 1 response
///  6   2   flags: bit 0 partial, bit 1 rejected, bit 2 after a mutex recovery
///  8   8   seq
/// 16   4   function
/// 20   4   status (signed; the answer's, in both packets)
/// 24   4   request_size
/// 28   4   response_size
/// 32   4   client_pid (signed)
/// 36   4   client_tid (signed; 0 when unknown)
/// 40   4   server_epoch
/// 44   4   payload_length: bytes that follow (may be less than the size when partial)
/// 48   8   sent_ns (CLOCK_MONOTONIC of the server's host)
/// 56   8   done_ns
/// 64   ... payload
/// ```
package enum RecordPacket {
    /// The link type of every recorded interface: LINKTYPE_USER0.
    package static let linkType: UInt16 = 147
    package static let headerSize = 64
    package static let magic: [UInt8] = Array("IPCS".utf8)
    package static let version: UInt8 = 1

    /// Which half of a call a packet holds.
    package enum Direction: UInt8, Sendable {
        case request = 0, response = 1
    }

    /// The packet for one direction of `call`.
    package static func encode(_ call: RecordedCall, _ direction: Direction) -> [UInt8] {
        let payload = direction == .request ? call.request : call.response
        var b: [UInt8] = []
        b.reserveCapacity(headerSize + payload.count)
        b += magic
        b.append(version)
        b.append(direction.rawValue)
        b.appendLE(call.flags.rawValue)
        b.appendLE(call.seq)
        b.appendLE(call.function)
        b.appendLE(UInt32(bitPattern: call.status))
        b.appendLE(call.requestSize)
        b.appendLE(call.responseSize)
        b.appendLE(UInt32(bitPattern: call.clientPID))
        b.appendLE(UInt32(bitPattern: call.clientTID))
        b.appendLE(call.epoch)
        b.appendLE(UInt32(clamping: payload.count))
        b.appendLE(call.sentNS)
        b.appendLE(call.doneNS)
        b += payload
        return b
    }

    /// Decodes a packet: the call's fields with this direction's payload (the other one empty).
    /// - Throws: `RecordingError` when the packet is shorter than its header, has another magic
    ///   or version, or its payload length runs past its end.
    package static func decode(_ bytes: ArraySlice<UInt8>) throws(RecordingError) -> (RecordedCall, Direction) {
        var r = ByteReader(bytes, littleEndian: true)
        guard bytes.count >= headerSize else {
            throw RecordingError("a packet of \(bytes.count) bytes is shorter than the \(headerSize)-byte ipcscope header")
        }
        guard Array(try r.bytes(4)) == magic else { throw RecordingError("a packet does not start with \"IPCS\": not an ipcscope recording") }
        let version = try r.u8()
        guard version == Self.version else { throw RecordingError("a packet has record version \(version); this ipcscope reads version \(Self.version)") }
        guard let direction = Direction(rawValue: try r.u8()) else { throw RecordingError("a packet has an unknown direction") }
        let flags = RecordedCall.Flags(rawValue: try r.u16())
        let seq = try r.u64(), function = try r.u32(), status = Int32(bitPattern: try r.u32())
        let requestSize = try r.u32(), responseSize = try r.u32()
        let pid = Int32(bitPattern: try r.u32()), tid = Int32(bitPattern: try r.u32())
        let epoch = try r.u32(), length = try r.u32()
        let sent = try r.u64(), done = try r.u64()
        guard let n = Int(exactly: length), n <= r.remaining else {
            throw RecordingError("packet for seq \(seq) says \(length) payload bytes but holds \(r.remaining)")
        }
        let payload = Array(try r.bytes(n))
        let call = RecordedCall(seq: seq, function: function, status: status, requestSize: requestSize,
                                responseSize: responseSize, clientPID: pid, clientTID: tid, epoch: epoch, flags: flags,
                                sentNS: sent, doneNS: done,
                                request: direction == .request ? payload : [], response: direction == .response ? payload : [])
        return (call, direction)
    }
}

/// Why a recording could not be read: one line, with where in the file when known.
package struct RecordingError: Error, Equatable, Sendable, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

// MARK: - bytes

extension [UInt8] {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}

/// Reads integers from a byte slice, every read bounds-checked (a short input throws, never traps).
struct ByteReader {
    let bytes: ArraySlice<UInt8>
    var position: Int
    let littleEndian: Bool

    init(_ bytes: ArraySlice<UInt8>, littleEndian: Bool) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.littleEndian = littleEndian
    }

    var remaining: Int { bytes.endIndex - position }

    mutating func bytes(_ n: Int) throws(RecordingError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw RecordingError("the data ends early (\(remaining) bytes left, \(n) needed)") }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func skip(_ n: Int) throws(RecordingError) { _ = try bytes(n) }

    private mutating func int<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) throws(RecordingError) -> T {
        let s = try bytes(MemoryLayout<T>.size)
        var v: T = 0
        for (i, byte) in s.enumerated() {
            let shift = littleEndian ? i * 8 : (MemoryLayout<T>.size - 1 - i) * 8
            v |= T(byte) << shift
        }
        return v
    }

    mutating func u8() throws(RecordingError) -> UInt8 { try int(UInt8.self) }
    mutating func u16() throws(RecordingError) -> UInt16 { try int(UInt16.self) }
    mutating func u32() throws(RecordingError) -> UInt32 { try int(UInt32.self) }
    mutating func u64() throws(RecordingError) -> UInt64 { try int(UInt64.self) }
}
