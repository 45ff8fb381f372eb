/// A recording read back: its interfaces (service epochs) and its calls in file order.
import IPCScopeObserve
package struct Recording: Equatable, Sendable {
    /// The `shb_userappl` of the first section, when given.
    package var application: String?
    package var interfaces: [RecordedInterface] = []
    /// Calls in the order their first packet appears; a call whose other half is not in the
    /// file is marked partial.
    package var calls: [RecordedCall] = []
    /// Calls the recorder knew it missed (the sum of the packets' `epb_dropcount`).
    package var missed: UInt64 = 0

    package init(application: String? = nil, interfaces: [RecordedInterface] = [], calls: [RecordedCall] = [], missed: UInt64 = 0) {
        self.application = application
        self.interfaces = interfaces
        self.calls = calls
        self.missed = missed
    }

    /// The service recorded (the first interface's), if any.
    package var service: String? { interfaces.first?.service }
}

extension PcapNG {
    /// Reads a whole recording.
    ///
    /// Total: any input gives a `Recording` or a `RecordingError` saying what is wrong and at
    /// which byte offset (not pcapng, truncated, a block length that does not add up, a packet
    /// of another link type or on an undeclared interface, a packet header that is not ipcscope's).
    package static func read(_ bytes: [UInt8]) throws(RecordingError) -> Recording {
        guard bytes.count >= 12 else {
            throw RecordingError("only \(bytes.count) bytes: too short to be a pcapng file")
        }
        var recording = Recording()
        var littleEndian = true
        var interfaces: [(linkType: UInt16, info: RecordedInterface)] = []
        var sectionBase = 0  // interface ids count from the current section's first IDB
        var pending: [Key: Int] = [:]
        var offset = 0
        var first = true
        var dropCounts: UInt64 = 0, statisticsDrops: UInt64 = 0
        while offset < bytes.count {
            let left = bytes.count - offset
            guard left >= 12 else {
                throw RecordingError("truncated: \(left) stray bytes at offset \(offset), too few for a block")
            }
            let head = bytes[offset..<(offset + 8)]
            let typeLE = ByteReader(head, littleEndian: true).peekU32()
            if typeLE == sectionHeaderType {
                guard left >= 28 else { throw RecordingError("truncated: the section header at offset \(offset) is cut off") }
                let bom = ByteReader(bytes[(offset + 8)..<(offset + 12)], littleEndian: true).peekU32()
                if bom == byteOrderMagic { littleEndian = true } else if bom == byteOrderMagic.byteSwapped { littleEndian = false } else {
                    throw RecordingError("the section header at offset \(offset) has no valid byte-order magic: corrupt file")
                }
                sectionBase = interfaces.count
            } else if first {
                throw RecordingError("not a pcapng file (it does not start with a section header block)")
            }
            first = false
            var r = ByteReader(head, littleEndian: littleEndian)
            let type = try r.u32(), length = try r.u32()
            guard length >= 12, length % 4 == 0 else {
                throw RecordingError("corrupt: the block at offset \(offset) has length \(length) (must be 12 or more and a multiple of 4)")
            }
            guard let total = Int(exactly: length), total <= left else {
                throw RecordingError("truncated: the block at offset \(offset) says \(length) bytes but only \(left) remain")
            }
            let end = offset + total
            var tail = ByteReader(bytes[(end - 4)..<end], littleEndian: littleEndian)
            guard try tail.u32() == length else {
                throw RecordingError("corrupt: the block at offset \(offset) ends with a length that differs from its start")
            }
            let body = bytes[(offset + 8)..<(end - 4)]
            do throws(RecordingError) {
                switch type {
                case sectionHeaderType:
                    var b = ByteReader(body, littleEndian: littleEndian)
                    try b.skip(16)
                    let opts = try options(&b)
                    if recording.application == nil, let a = opts[shbUserAppl] { recording.application = text(a) }
                case interfaceType:
                    var b = ByteReader(body, littleEndian: littleEndian)
                    let link = try b.u16()
                    try b.skip(6)
                    let opts = try options(&b)
                    let info = RecordedInterface(name: opts[ifName].map(text) ?? "", description: opts[ifDescription].map(text) ?? "")
                    interfaces.append((link, info))
                    recording.interfaces.append(info)
                case enhancedPacketType:
                    var b = ByteReader(body, littleEndian: littleEndian)
                    let id = try b.u32()
                    try b.skip(8)
                    let captured = try b.u32()
                    try b.skip(4)
                    guard let n = Int(exactly: captured), n <= b.remaining else {
                        throw RecordingError("a packet says \(captured) bytes but its block holds \(b.remaining)")
                    }
                    let data = try b.bytes(n)
                    try b.skip(min(padding(n), b.remaining))
                    let opts = try options(&b)
                    let (index, overflow) = sectionBase.addingReportingOverflow(Int(exactly: id) ?? Int.max)
                    guard !overflow, index < interfaces.count else {
                        throw RecordingError("a packet names interface \(id), which no interface block declared")
                    }
                    guard interfaces[index].linkType == RecordPacket.linkType else {
                        throw RecordingError("a packet has link type \(interfaces[index].linkType), not ipcscope's \(RecordPacket.linkType): not an ipcscope recording")
                    }
                    if let d = opts[epbDropCount], d.count == 8 {
                        var dr = ByteReader(d, littleEndian: littleEndian)
                        dropCounts = saturatingAdd(dropCounts, try dr.u64())
                    }
                    let (call, direction) = try RecordPacket.decode(data)
                    add(call, direction, key: Key(interface: index, seq: call.seq), to: &recording, pending: &pending)
                case statisticsType:
                    var b = ByteReader(body, littleEndian: littleEndian)
                    try b.skip(12)
                    if let d = try options(&b)[isbIfDrop], d.count == 8 {
                        var dr = ByteReader(d, littleEndian: littleEndian)
                        statisticsDrops = saturatingAdd(statisticsDrops, try dr.u64())
                    }
                default:
                    break  // blocks this reader does not need (name resolution, statistics, custom)
                }
            } catch {
                throw RecordingError("corrupt block at offset \(offset): \(error.message)")
            }
            offset = end
        }
        for i in pending.values { recording.calls[i].flags.insert(.partial) }  // the other half is not in the file
        // Drops after the last packet are only in the statistics blocks.
        recording.missed = max(dropCounts, statisticsDrops)
        return recording
    }

    private static func saturatingAdd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    private struct Key: Hashable {
        var interface: Int
        var seq: UInt64
    }

    /// Pairs a request packet with its response packet (same interface and seq).
    private static func add(_ call: RecordedCall, _ direction: RecordPacket.Direction, key: Key,
                            to recording: inout Recording, pending: inout [Key: Int]) {
        if let i = pending[key] {
            pending[key] = nil
            var c = recording.calls[i]
            if direction == .response { c.response = call.response } else { c.request = call.request }
            c.flags.formUnion(call.flags)
            c.clientTID = c.clientTID != 0 ? c.clientTID : call.clientTID
            recording.calls[i] = c
        } else {
            pending[key] = recording.calls.count
            recording.calls.append(call)
        }
    }

    /// Options up to `opt_endofopt` or the end of the block, by code (the last value wins).
    private static func options(_ b: inout ByteReader) throws(RecordingError) -> [UInt16: ArraySlice<UInt8>] {
        var out: [UInt16: ArraySlice<UInt8>] = [:]
        while b.remaining >= 4 {
            let code = try b.u16(), length = Int(try b.u16())
            if code == optEnd { break }
            guard length <= b.remaining else { throw RecordingError("option \(code) says \(length) bytes but \(b.remaining) remain") }
            out[code] = try b.bytes(length)
            try b.skip(min(padding(length), b.remaining))
        }
        return out
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

extension ByteReader {
    /// The first four bytes as a u32, or 0 when there are fewer.
    func peekU32() -> UInt32 {
        var copy = self
        return (try? copy.u32()) ?? 0
    }
}
