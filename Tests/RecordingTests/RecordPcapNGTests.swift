// The pcapng writer and reader, the packet layout, replay's comparison and the JSON Lines
// input: round trips, and every truncation and many corruptions of a real file (an error, never a trap).
import IPCScopeObserve
import IPCScopeRecording
import Testing
import TestSupport

@Suite("Recording file format")
struct RecordPcapNGTests {
    @Test func roundTripKeepsEveryField() throws {
        let r = try PcapNG.read(RecordingFixture.file(dropped: 7))
        #expect(r.application == "test")
        #expect(r.interfaces == [RecordingFixture.interface])
        #expect(r.calls == RecordingFixture.calls)
        #expect(r.missed == 7)
        #expect(r.service == "Svc")
    }

    @Test func packetLayoutIsTheDocumentedOne() {
        let p = RecordPacket.encode(RecordingFixture.calls[0], .response)
        #expect(p.count == 64 + 4)
        #expect(Array(p[0..<4]) == Array("IPCS".utf8))
        #expect(p[4] == 1 && p[5] == 1)
        #expect(p[8] == 1)                       // seq, little-endian
        #expect(Array(p[44..<48]) == [4, 0, 0, 0]) // payload length
        #expect(Array(p[64...]) == Array("pong".utf8))
    }

    @Test func aHalfWithoutItsOtherHalfIsPartial() throws {
        var b = PcapNG.sectionHeader(application: "t") + PcapNG.interface(RecordingFixture.interface)
        b += PcapNG.packet(interfaceID: 0, unixNS: 1, data: RecordPacket.encode(RecordingFixture.calls[0], .request), inbound: true)
        let r = try PcapNG.read(b)
        #expect(r.calls.count == 1)
        #expect(r.calls[0].partial)
        #expect(r.calls[0].request == Array("ping".utf8))
    }

    @Test func everyTruncationIsAnErrorNeverATrap() {
        let full = RecordingFixture.file()
        var errors = 0
        for n in 0..<full.count {
            do {
                _ = try PcapNG.read(Array(full[0..<n]))
            } catch {
                errors += 1
                #expect(!error.message.isEmpty)
            }
        }
        // Only cuts at block boundaries can parse; every other cut is reported.
        #expect(errors >= full.count - 12)
        #expect(throws: RecordingError.self) { try PcapNG.read(Array(full[0..<(full.count / 2)])) }
    }

    @Test func corruptBytesGiveAnErrorOrARecordingNeverATrap() {
        let full = RecordingFixture.file()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var b = full
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? PcapNG.read(b)
        }
        // Lengths at their extremes.
        for offset in [4, 32, 36, 60] where offset + 4 <= full.count {
            for value: UInt32 in [0, 12, 13, 0xffff_fffc, 0xffff_ffff] {
                var b = full
                withUnsafeBytes(of: value.littleEndian) { for (i, x) in $0.enumerated() { b[offset + i] = x } }
                _ = try? PcapNG.read(b)
            }
        }
        #expect(throws: RecordingError.self) { try PcapNG.read(Array("not a pcapng file at all".utf8)) }
    }

    @Test func otherLinkTypesAreRefused() {
        var b = RecordingFixture.file()
        b[Int(b[4]) + 8] = 1  // the IDB's link type (the IDB follows the SHB, whose length is at byte 4): Ethernet
        #expect { try PcapNG.read(b) } throws: { ($0 as? RecordingError)?.message.contains("link type") == true }
    }

    @Test func replayComparesStatusSizeAndBytes() {
        let c = RecordingFixture.calls[0]
        #expect(ReplayCheck.difference(c, status: 0, response: Array("pong".utf8)) == nil)
        #expect(ReplayCheck.difference(c, status: 1, response: Array("pong".utf8)) == "status 1, recorded 0")
        #expect(ReplayCheck.difference(c, status: 0, response: Array("poNG".utf8))
                == "response bytes differ; at 0x2: recorded 6e 67, got 4e 47")
        #expect(ReplayCheck.difference(c, status: 0, response: Array("pongs".utf8)) == "5 response bytes, recorded 4; at 0x4: recorded (end), got 73")
        #expect(ReplayCheck.unsendable(RecordingFixture.calls[3]) == nil)
        var partial = RecordingFixture.calls[0]
        partial.request = Array("pi".utf8)
        #expect(ReplayCheck.unsendable(partial) == "only 2 of its 4 request bytes were recorded")
    }

    @Test func watchJSONLinesGiveCallsWithWhatTheyHold() throws {
        let text = """
            {"event":"call","seq":5,"function":1,"status":-3,"request_size":4,"response_size":9,"client_pid":77,"flags":0,"rejected":false,"after_recovery":false,"sent_ns":10,"done_ns":20,"time_unix_ns":1,"latency_ns":10,"request_head_hex":"70696e67"}
            {"event":"missed","count":2}
            {"event":"call","seq":6,"function":2,"status":0,"request_size":40,"response_size":0,"client_pid":77,"flags":0,"sent_ns":1,"done_ns":2,"request_head_hex":"00112233445566778899aabbccddeeff"}
            {"event":"summary","calls":2,"missed":2,"end":"limit reached"}
            """
        let r = try Recording.fromJSONLines(text)
        #expect(r.calls.count == 2)
        #expect(r.missed == 2)
        #expect(r.calls[0].request == Array("ping".utf8) && r.calls[0].status == -3 && r.calls[0].clientPID == 77)
        #expect(r.calls[0].partial)  // no response bytes in watch --json
        #expect(ReplayCheck.unsendable(r.calls[0]) == nil)
        #expect(ReplayCheck.unsendable(r.calls[1]) != nil)  // 40 bytes, 16 kept
        #expect(throws: RecordingError.self) { try Recording.fromJSONLines("{\"event\":\"call\",\"seq\":") }
        #expect(throws: RecordingError.self) { try Recording.fromJSONLines("{\"seq\":{}}") }
    }

    @Test func watchJSONLinesWithASchemasNestedFields() throws {
        let line = #"{"event":"call","seq":7,"function":3,"status":0,"request_size":2,"response_size":1,"fields":{"id":1,"tags":["a","}]"],"p":{"q":[{}]}},"request_hex":"0102","response_hex":"ff"}"#
        let r = try Recording.fromJSONLines(line)
        #expect(r.calls.count == 1 && r.calls[0].request == [1, 2] && r.calls[0].response == [0xff] && !r.calls[0].partial)
        for bad in [#"{"fields":{"id":1"#, #"{"fields":[1,2}}"#, #"{"fields":{"s":"open}}"#,
                    "{\"f\":" + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "}"] {
            #expect(throws: RecordingError.self, "\(bad)") { try Recording.fromJSONLines(bad) }
        }
    }

    @Test func playbackStepsAndJumps() throws {
        var p = try RecordingPlayback(PcapNG.read(RecordingFixture.file()))
        #expect(p.current.seq == 1)
        p.next(); p.next()
        #expect(p.current.seq == 3)
        let snap = p.snapshot()
        #expect(snap.isValid)
        #expect(snap.requestSeq == 3 && snap.responseStatus == 7 && snap.responsePayload == [UInt8](repeating: 0xab, count: 128))
        #expect(snap.trace.count == 4)
        p.previous()
        #expect(p.current.seq == 2)
        #expect(p.jump(toSeq: 4) && p.current.seq == 4)
        #expect(!p.jump(toSeq: 99) && p.current.seq == 4)
        #expect(throws: RecordingError.self) { try RecordingPlayback(Recording()) }
    }
}
