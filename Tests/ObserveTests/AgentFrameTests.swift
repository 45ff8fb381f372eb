// The agent protocol's decoder is total: whole frames in any split, and truncated frames, huge
// lengths, garbage, a wrong version, malformed payloads and silence each give their error, never
// a trap and never a wait past the deadline.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
@testable import IPCScopeObserve
import Testing

@Suite("Agent protocol frames", .serialized)
struct AgentFrameTests {
    static func header(magic: UInt32 = AgentProtocol.magic, version: UInt16 = 1, type: UInt16, length: UInt32) -> [UInt8] {
        var w = PayloadWriter()
        w.u32(magic)
        w.u16(version)
        w.u16(type)
        w.u32(length)
        w.u32(0)
        return w.bytes
    }

    @Test("frames come out whole however the stream is split")
    func splitStream() throws {
        let frames = [AgentFrame(.helloOK, Array("abc".utf8)), AgentFrame(.listOK), AgentFrame(.error, [UInt8](repeating: 7, count: 1000))]
        let stream = frames.flatMap(\.encoded)
        for chunk in [1, 3, 16, 17, 999, stream.count] {
            var d = FrameDecoder()
            var got: [AgentFrame] = []
            var at = 0
            while at < stream.count {
                d.append(stream[at..<min(stream.count, at + chunk)])
                at += chunk
                while let f = try d.next() { got.append(f) }
            }
            #expect(got == frames, "chunk \(chunk)")
            #expect(d.endError == nil)
        }
    }

    @Test("a stream that ends inside a header or a payload says how much was missing")
    func truncated() throws {
        var d = FrameDecoder()
        d.append(Self.header(type: 0x81, length: 10).prefix(7))
        #expect(try d.next() == nil)
        #expect(d.endError == .truncated(have: 7, want: 16))
        var e = FrameDecoder()
        e.append(Self.header(type: 0x81, length: 10) + [1, 2, 3])
        #expect(try e.next() == nil)
        #expect(e.endError == .truncated(have: 19, want: 26))
        #expect(e.endError!.description.contains("ended inside a frame (19 of 26 bytes)"))
    }

    @Test("a huge length is refused from the header alone, before any payload is kept")
    func hugeLength() throws {
        var d = FrameDecoder()
        d.append(Self.header(type: 0x83, length: 0xFFFF_FFFF))
        #expect(throws: AgentProtocolError.tooLong(0xFFFF_FFFF)) { try d.next() }
        var ok = FrameDecoder()
        ok.append(Self.header(type: 0x83, length: UInt32(AgentProtocol.maxPayload)))
        #expect(try ok.next() == nil)  // at the limit: waits for the bytes
    }

    @Test("garbage (a shell banner, random bytes) is not the protocol")
    func garbage() {
        var d = FrameDecoder()
        d.append(Array("Welcome to Ubuntu 24.04 LTS\n".utf8))
        #expect(throws: AgentProtocolError.badMagic(0x636C_6557)) { try d.next() }
        #expect(AgentProtocolError.badMagic(0x636C_6557).description.contains("prints nothing else"))
    }

    @Test("a frame of another protocol version is refused")
    func wrongVersion() {
        var d = FrameDecoder()
        d.append(Self.header(version: 3, type: 0x81, length: 0))
        #expect(throws: AgentProtocolError.wrongVersion(3)) { try d.next() }
        var w = PayloadWriter()
        w.u16(3); w.u32(0); w.string([]); w.string([]); w.string([]); w.u32(100); w.u32(0)
        #expect(throws: AgentProtocolError.wrongVersion(3)) { try AgentHello(decoding: w.bytes) }
    }

    @Test("payloads: short ones, counts over the limits and delta lines past the end are malformed")
    func payloads() {
        #expect(throws: AgentProtocolError.self) { try AgentHello(decoding: [1, 0, 0]) }
        var list = PayloadWriter()
        list.u32(UInt32(AgentProtocol.maxListEntries + 1))
        #expect(throws: AgentProtocolError.malformed("LIST_OK (4097 entries, more than the limit of 4096)")) {
            try AgentListEntry.decodeList(list.bytes)
        }
        func snapshotHead(total: UInt32, pids: UInt32 = 0) -> PayloadWriter {
            var w = PayloadWriter()
            w.u64(1); w.u64(UInt64(total)); w.u32(0); w.u32(0o600); w.u32(1); w.u64(0)
            w.u32(0)  // torn
            w.u32(pids)
            return w
        }
        var many = snapshotHead(total: 0, pids: 33)
        many.u32(0)
        #expect(throws: AgentProtocolError.self) { try AgentSnapshotReply(decoding: many.bytes, delta: false) }
        var past = snapshotHead(total: 128)
        past.u32(128); past.u32(1); past.u32(2)  // line 2 of a 128-byte section
        past.bytes += [UInt8](repeating: 0, count: 64)
        #expect(throws: AgentProtocolError.malformed("SNAPSHOT_DELTA (line 2 past the section's 128 bytes)")) {
            try AgentSnapshotReply(decoding: past.bytes, delta: true)
        }
        var short = snapshotHead(total: 600)
        short.u32(600)
        short.bytes += [UInt8](repeating: 0, count: 599)
        #expect(throws: AgentProtocolError.self) { try AgentSnapshotReply(decoding: short.bytes, delta: false) }
        var extra = snapshotHead(total: 2)
        extra.u32(2)
        extra.bytes += [1, 2, 3]
        #expect(throws: AgentProtocolError.malformed("SNAPSHOT_FULL (1 bytes too many)")) {
            try AgentSnapshotReply(decoding: extra.bytes, delta: false)
        }
        var state = snapshotHead(total: 0, pids: 1)
        state.u32(42); state.u32(1); state.u8(9)
        #expect(throws: AgentProtocolError.malformed("SNAPSHOT_FULL (pid state 9)")) {
            try AgentSnapshotReply(decoding: state.bytes, delta: false)
        }
        #expect(decodeAgentError([5, 0]) == .malformed("ERROR (it ends early)"))
    }

    @Test("random bytes into every decoder: an answer or an error, never a trap")
    func randomBytes() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var frames = 0, errors = 0
        for round in 0..<3000 {
            let n = Int(next() % 200)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) }
            // Half the rounds start with a valid header so the payload decoders see the bytes.
            if round % 2 == 0 { bytes = Self.header(type: UInt16(0x81 + round % 4), length: UInt32(bytes.count)) + bytes }
            var d = FrameDecoder()
            d.append(bytes)
            do {
                while let f = try d.next() {
                    frames += 1
                    _ = try? AgentHello(decoding: f.payload)
                    _ = try? AgentListEntry.decodeList(f.payload)
                    _ = try? AgentSnapshotReply(decoding: f.payload, delta: true)
                    _ = try? AgentSnapshotReply(decoding: f.payload, delta: false)
                    _ = try? AgentCallReply(decoding: f.payload)
                    _ = decodeAgentError(f.payload)
                }
            } catch {
                errors += 1
            }
        }
        #expect(frames >= 1000)
        #expect(errors >= 1000)
    }

    @Test("hosts: [USER@]HOST[:PORT] and [V6]:PORT; options and shell characters refused")
    func hosts() throws {
        #expect(try AgentTransport.parseHost("box") == ("box", nil))
        #expect(try AgentTransport.parseHost("me@box:2222") == ("me@box", 2222))
        #expect(try AgentTransport.parseHost("[::1]:22") == ("::1", 22))
        for bad in ["", "-oProxyCommand=x", "me@", "box:port", "box:70000", "a b", "box;rm", "me@-box"] {
            #expect(throws: AgentProtocolError.self, "\(bad)") { try AgentTransport.parseHost(bad) }
        }
        let t = try AgentTransport.ssh("me@box:2222", configFile: "/tmp/cfg")
        #expect(t.arguments == ["ssh", "-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-F", "/tmp/cfg", "-p", "2222",
                                "--", "me@box", "mbvipc-agent"])
        #expect(t.place == "box")
    }

    @Test("silence: an agent that never answers fails at the deadline, not later")
    func silence() throws {
        let start = monotonicNanoseconds()
        #expect(throws: AgentProtocolError.silence(seconds: 1)) {
            try AgentConnection(.via("exec sleep 30"), timeout: 1)
        }
        let took = Double(monotonicNanoseconds() - start) / 1e9
        #expect(took >= 0.9 && took < 5, "took \(took) s")
    }

    @Test("a transport that exits at once is reported with its exit status")
    func exitsAtOnce() throws {
        do {
            _ = try AgentConnection(.via("exit 7"), timeout: 5)
            Issue.record("connected to nothing")
        } catch {
            #expect(error.description.contains("exited with status 7"), "\(error.description)")
        }
    }
}
