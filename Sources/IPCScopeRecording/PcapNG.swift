/// The pcapng blocks a recording is made of (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-03.html):
/// a Section Header Block, one Interface Description Block per service epoch, an Enhanced
/// Packet Block per direction of each call, and an Interface Statistics Block per interface at
/// the end. Everything is written little-endian; the reader accepts either byte order.
import IPCScopeObserve
package enum PcapNG {
    static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
    static let interfaceType: UInt32 = 1
    static let statisticsType: UInt32 = 5
    static let enhancedPacketType: UInt32 = 6
    static let byteOrderMagic: UInt32 = 0x1A2B_3C4D

    // Option codes.
    static let optEnd: UInt16 = 0, optComment: UInt16 = 1
    static let shbUserAppl: UInt16 = 4
    static let ifName: UInt16 = 2, ifDescription: UInt16 = 3, ifTsresol: UInt16 = 9, ifHardware: UInt16 = 15
    static let epbFlags: UInt16 = 2, epbDropCount: UInt16 = 4
    static let isbStartTime: UInt16 = 2, isbEndTime: UInt16 = 3, isbIfRecv: UInt16 = 4, isbIfDrop: UInt16 = 5

    // MARK: - writing

    /// The Section Header Block that starts every recording.
    package static func sectionHeader(application: String) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLE(byteOrderMagic)
        body.appendLE(UInt16(1))
        body.appendLE(UInt16(0))
        body.appendLE(Int64(-1))  // section length: not given
        body += option(shbUserAppl, Array(application.utf8))
        body += option(optEnd, [])
        return block(sectionHeaderType, body)
    }

    /// An Interface Description Block for one epoch of a service: link type 147, nanosecond
    /// timestamps, the service in `if_name` and the section's figures in `if_description`.
    package static func interface(_ i: RecordedInterface) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLE(RecordPacket.linkType)
        body.appendLE(UInt16(0))
        body.appendLE(UInt32(0))  // snaplen: no limit
        body += option(ifName, Array(i.service.utf8))
        body += option(ifDescription, Array(i.descriptionText.utf8))
        body += option(ifHardware, Array("ipcscope section format 1".utf8))
        body += option(ifTsresol, [9])
        body += option(optComment, Array("service '\(i.service)', server epoch \(i.epoch)".utf8))
        body += option(optEnd, [])
        return block(interfaceType, body)
    }

    /// An Enhanced Packet Block: `data` at `unixNS` on interface `interfaceID`, flagged inbound
    /// (a request, to the server) or outbound (a response), with the calls lost just before it.
    package static func packet(interfaceID: UInt32, unixNS: UInt64, data: [UInt8], inbound: Bool,
                              dropped: UInt64 = 0, comment: String? = nil) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLE(interfaceID)
        body.appendLE(UInt32(truncatingIfNeeded: unixNS >> 32))
        body.appendLE(UInt32(truncatingIfNeeded: unixNS))
        body.appendLE(UInt32(clamping: data.count))
        body.appendLE(UInt32(clamping: data.count))
        body += data
        body += [UInt8](repeating: 0, count: padding(data.count))
        var flags: [UInt8] = []
        flags.appendLE(UInt32(inbound ? 1 : 2))
        body += option(epbFlags, flags)
        if dropped > 0 {
            var d: [UInt8] = []
            d.appendLE(dropped)
            body += option(epbDropCount, d)
        }
        if let comment { body += option(optComment, Array(comment.utf8)) }
        body += option(optEnd, [])
        return block(enhancedPacketType, body)
    }

    /// An Interface Statistics Block: calls received and dropped (missed) on one interface.
    package static func statistics(interfaceID: UInt32, unixNS: UInt64, startNS: UInt64, received: UInt64,
                                  dropped: UInt64, comment: String) -> [UInt8] {
        func stamp(_ t: UInt64) -> [UInt8] {
            var s: [UInt8] = []
            s.appendLE(UInt32(truncatingIfNeeded: t >> 32))
            s.appendLE(UInt32(truncatingIfNeeded: t))
            return s
        }
        var body: [UInt8] = []
        body.appendLE(interfaceID)
        body += stamp(unixNS)
        body += option(isbStartTime, stamp(startNS))
        body += option(isbEndTime, stamp(unixNS))
        var r: [UInt8] = [], d: [UInt8] = []
        r.appendLE(received)
        d.appendLE(dropped)
        body += option(isbIfRecv, r)
        body += option(isbIfDrop, d)
        body += option(optComment, Array(comment.utf8))
        body += option(optEnd, [])
        return block(statisticsType, body)
    }

    static func padding(_ n: Int) -> Int { (4 - n % 4) % 4 }

    static func option(_ code: UInt16, _ value: [UInt8]) -> [UInt8] {
        var o: [UInt8] = []
        o.appendLE(code)
        o.appendLE(UInt16(clamping: value.count))
        o += value.prefix(Int(UInt16.max))
        o += [UInt8](repeating: 0, count: padding(min(value.count, Int(UInt16.max))))
        return o
    }

    static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let total = UInt32(clamping: body.count + 12)
        var b: [UInt8] = []
        b.reserveCapacity(body.count + 12)
        b.appendLE(type)
        b.appendLE(total)
        b += body
        b.appendLE(total)
        return b
    }
}

/// One Interface Description Block of a recording: a service during one server epoch.
package struct RecordedInterface: Equatable, Sendable {
    package var service: String
    package var epoch: UInt32
    package var requestCapacity: UInt32
    package var responseCapacity: UInt32
    package var traceCapacity: UInt32
    /// The section's `created_unix_ns`: tells a new section of the same name from the old one.
    package var createdUnixNS: UInt64

    package init(service: String, epoch: UInt32, requestCapacity: UInt32, responseCapacity: UInt32, traceCapacity: UInt32,
                createdUnixNS: UInt64 = 0) {
        self.service = service
        self.epoch = epoch
        self.requestCapacity = requestCapacity
        self.responseCapacity = responseCapacity
        self.traceCapacity = traceCapacity
        self.createdUnixNS = createdUnixNS
    }

    /// The `if_description` text: `ipcscope service=NAME epoch=N request_capacity=N
    /// response_capacity=N trace_capacity=N created_unix_ns=N`.
    package var descriptionText: String {
        "ipcscope service=\(service) epoch=\(epoch) request_capacity=\(requestCapacity) response_capacity=\(responseCapacity) trace_capacity=\(traceCapacity) created_unix_ns=\(createdUnixNS)"
    }

    /// Parses `if_name` and `if_description` back (fields missing from the text read as 0).
    init(name: String, description: String) {
        var fields: [Substring: UInt64] = [:]
        for word in description.split(separator: " ") {
            let kv = word.split(separator: "=", maxSplits: 1)
            if kv.count == 2, let v = UInt64(kv[1]) { fields[kv[0]] = v }
        }
        func u32(_ key: Substring) -> UInt32 { UInt32(exactly: fields[key] ?? 0) ?? 0 }
        self.init(service: name, epoch: u32("epoch"), requestCapacity: u32("request_capacity"),
                  responseCapacity: u32("response_capacity"), traceCapacity: u32("trace_capacity"),
                  createdUnixNS: fields["created_unix_ns"] ?? 0)
    }
}
