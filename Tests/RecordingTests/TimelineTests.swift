// The timeline's layout from a recording made by hand (rejected and after-recovery calls cannot
// be made by a real client, which refuses an oversized request), and the protobuf encoder
// against encodings from the protocol-buffers documentation.
import IPCScopeObserve
import IPCScopeRecording
import Testing

private func call(_ seq: UInt64, fn: UInt32 = 1, status: Int32 = 0, pid: Int32 = 100, tid: Int32 = 101, epoch: UInt32 = 1,
                  flags: RecordedCall.Flags = [], sent: UInt64, done: UInt64) -> RecordedCall {
    RecordedCall(seq: seq, function: fn, status: status, requestSize: 4, responseSize: 4, clientPID: pid, clientTID: tid,
                 epoch: epoch, flags: flags, sentNS: sent, doneNS: done, request: [1, 2, 3, 4], response: [1, 2, 3, 4])
}

@Suite struct TimelineTests {
    @Test func protoWriterMatchesTheDocumentedEncodings() {
        var w = ProtoWriter()
        w.uint(1, 150)  // the encoding guide's first example: 08 96 01
        #expect(w.bytes == [0x08, 0x96, 0x01])
        w = ProtoWriter()
        w.string(2, "testing")  // 12 07 74 65 73 74 69 6e 67
        #expect(w.bytes == [0x12, 0x07] + Array("testing".utf8))
        w = ProtoWriter()
        w.int(4, -2)  // int64 -2: ten bytes, two's complement
        #expect(w.bytes == [0x20, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        w = ProtoWriter()
        w.fixed64(47, 0x0102030405060708)  // field 47, wire type 1: key 0xf9 0x02, then little-endian
        #expect(w.bytes == [0xf9, 0x02, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
        w = ProtoWriter()
        w.message(3) { $0.uint(1, 150) }  // 1a 03 08 96 01
        #expect(w.bytes == [0x1a, 0x03, 0x08, 0x96, 0x01])
    }

    @Test func tracksSlicesFlowsAndTakeovers() {
        let r = Recording(interfaces: [RecordedInterface(service: "Svc", epoch: 1, requestCapacity: 64, responseCapacity: 64, traceCapacity: 16)],
                          calls: [
                              call(1, sent: 1_000, done: 5_000),
                              // Sent while call 1 ran: the server starts it at 5000, when call 1 was answered.
                              call(2, fn: 2, status: -1, pid: 200, tid: 0, flags: [.rejected, .partial], sent: 3_000, done: 6_000),
                              // Call 3 is not in the file: call 4 starts when it was sent.
                              call(4, flags: [.afterRecovery], sent: 10_000, done: 12_000),
                              call(5, epoch: 2, sent: 20_000, done: 21_000),
                          ])
        let t = Timeline(r, functionName: { $0 == 1 ? "echo" : nil })
        #expect(t.tracks.map(\.name) == ["server: Svc", "client pid 100", "tid 101", "client pid 200", "thread not recorded"])
        #expect(t.tracks.map(\.parent) == [nil, nil, 2, nil, 4])
        #expect(t.slices.count == 8)
        let server = t.slices.filter { $0.track == Timeline.serverTrack }
        #expect(server.map(\.startNS) == [1_000, 5_000, 10_000, 20_000])
        #expect(server.map(\.endNS) == [5_000, 6_000, 12_000, 21_000])
        #expect(server.map(\.name) == ["echo", "fn 2 (status -1) [rejected] [partial]", "echo", "echo"])
        #expect(server[1].categories == ["call", "rejected", "partial"] && server[2].categories == ["call", "after_recovery"])
        let rejected = t.slices.first { $0.track == 5 }
        #expect(rejected?.startNS == 3_000 && rejected?.flowOut == server[1].flowIn)
        #expect(rejected?.args.first { $0.0 == "queued_ns" }?.1 == .uint(2_000))
        #expect(rejected?.args.first { $0.0 == "service_ns" }?.1 == .uint(1_000))
        #expect(t.callsWithoutPredecessor == 3)
        #expect(t.instants.map(\.name) == ["takeover: epoch 1 → 2"] && t.instants.first?.ns == 20_000)
        // Both forms carry every slice.
        #expect(t.perfettoTrace.count > 200)
        #expect(t.chromeJSON.components(separatedBy: "\"ph\":\"X\"").count == 9)
    }
}
