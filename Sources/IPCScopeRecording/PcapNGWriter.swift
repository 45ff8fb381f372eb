/// A pcapng recording being written: the section header, one interface per service epoch, two
/// packets per call (the drop count of calls the ring lapped on the next one), and a statistics
/// block per interface at the end. `record` streams it to a file as calls come; the inspector's
/// `W` writes its history with it in one go.
import IPCScopeKit
import IPCScopeObserve

package struct PcapNGWriter {
    /// Where the blocks go, in order (a file descriptor, or an array).
    private let emit: ([UInt8]) throws -> Void
    package private(set) var interfaces: [RecordedInterface] = []
    private var current: Int?
    package private(set) var written = 0
    package private(set) var partial = 0
    package private(set) var missed: UInt64 = 0
    /// Missed calls not yet written as a packet's drop count.
    private var unreported: UInt64 = 0
    private var counts: [(received: UInt64, dropped: UInt64)] = []
    private let startNS: UInt64
    /// The clocks of the section's host: packet times are its CLOCK_MONOTONIC plus its REALTIME offset.
    package var clock: HostClock

    /// Writes the section header block naming `application`.
    package init(application: String, clock: HostClock, startNS: UInt64 = realtimeNanoseconds(),
                 emit: @escaping ([UInt8]) throws -> Void) throws {
        self.emit = emit
        self.clock = clock
        self.startNS = startNS
        try emit(PcapNG.sectionHeader(application: application))
    }

    /// Starts a new interface when the service's epoch (or section) changed.
    package mutating func use(_ i: RecordedInterface) throws {
        if let c = current, interfaces[c] == i { return }
        try emit(PcapNG.interface(i))
        interfaces.append(i)
        counts.append((0, 0))
        current = interfaces.count - 1
    }

    /// Counts calls the ring lapped; the next packet carries them as its drop count.
    package mutating func addMissed(_ n: UInt64) {
        missed += n
        unreported += n
    }

    /// Both packets of `call` on the current interface (none before the first `use`).
    package mutating func write(_ call: RecordedCall) throws {
        guard let c = current else { return }
        var call = call
        if call.epoch == 0 { call.epoch = interfaces[c].epoch }
        let id = UInt32(clamping: c)
        let inbound = PcapNG.packet(interfaceID: id, unixNS: clock.unixNS(monotonic: call.sentNS),
                                    data: RecordPacket.encode(call, .request), inbound: true, dropped: unreported,
                                    comment: call.partial ? "partial: the payloads moved on before they could be copied" : nil)
        let outbound = PcapNG.packet(interfaceID: id, unixNS: clock.unixNS(monotonic: call.doneNS),
                                     data: RecordPacket.encode(call, .response), inbound: false)
        try emit(inbound + outbound)
        counts[c].dropped += unreported
        counts[c].received += 1
        unreported = 0
        written += 1
        if call.partial { partial += 1 }
    }

    /// Writes the statistics blocks (calls and missed per interface).
    package mutating func finish(nowNS: UInt64 = realtimeNanoseconds()) throws {
        if let c = current { counts[c].dropped += unreported }
        unreported = 0
        for (i, n) in counts.enumerated() {
            try emit(PcapNG.statistics(interfaceID: UInt32(clamping: i), unixNS: nowNS, startNS: startNS, received: n.received,
                                       dropped: n.dropped, comment: "\(n.received) calls recorded, \(n.dropped) missed"))
        }
    }
}
