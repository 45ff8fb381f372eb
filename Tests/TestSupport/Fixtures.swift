// Recorded calls and trace records shared by the recording, inspector and end-to-end tests.
import IPCScopeObserve
import IPCScopeRecording

/// Four recorded calls of every kind (ok, rejected, a full response, a partial call) and the
/// pcapng file that holds them.
package enum RecordingFixture {
    package static let interface = RecordedInterface(service: "Svc", epoch: 3, requestCapacity: 64, responseCapacity: 128, traceCapacity: 256)

    package static func call(_ seq: UInt64, request: [UInt8], response: [UInt8], status: Int32 = 0, flags: RecordedCall.Flags = []) -> RecordedCall {
        RecordedCall(seq: seq, function: UInt32(seq % 5), status: status, requestSize: UInt32(request.count),
                     responseSize: UInt32(response.count), clientPID: 4242, clientTID: 4243, epoch: 3, flags: flags,
                     sentNS: 1_000_000 * seq, doneNS: 1_000_000 * seq + 5_000, request: request, response: response)
    }

    package static let calls = [
        call(1, request: Array("ping".utf8), response: Array("pong".utf8)),
        call(2, request: [0, 1, 2, 0xff, 0x80], response: [], status: -3),
        call(3, request: [], response: [UInt8](repeating: 0xab, count: 128), status: 7),
        call(4, request: Array("0123456789abcdef".utf8), response: [], status: 1, flags: [.partial]),
    ]

    package static func file(_ calls: [RecordedCall] = calls, dropped: UInt64 = 0) -> [UInt8] {
        var b = PcapNG.sectionHeader(application: "test")
        b += PcapNG.interface(interface)
        for (i, c) in calls.enumerated() {
            b += PcapNG.packet(interfaceID: 0, unixNS: c.sentNS, data: RecordPacket.encode(c, .request), inbound: true,
                               dropped: i == 1 ? dropped : 0)
            b += PcapNG.packet(interfaceID: 0, unixNS: c.doneNS, data: RecordPacket.encode(c, .response), inbound: false)
        }
        b += PcapNG.statistics(interfaceID: 0, unixNS: 9, startNS: 1, received: UInt64(calls.count), dropped: dropped, comment: "x")
        return b
    }
}

/// Trace records made by decoding a zeroed record and setting the fields a filter reads.
package enum TraceFixture {
    package static func record(fn: UInt32, status: Int32 = 0, pid: Int32 = 7, size: UInt32, latency: UInt64, head: String) -> TraceRecord {
        let bytes = [UInt8](repeating: 0, count: 256)
        var r = bytes.withUnsafeBytes { TraceRecord(decoding: $0, at: 0) }
        r.function = fn
        r.status = status
        r.clientPID = pid
        r.requestSize = size
        r.sentNS = 1_000
        r.doneNS = 1_000 + latency
        r.requestHead = Array(head.utf8.prefix(16))
        return r
    }
}
