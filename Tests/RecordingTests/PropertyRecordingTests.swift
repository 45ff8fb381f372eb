// Properties of what ipcscope reads back from bytes it did not write itself: a section image
// (from /dev/shm, possibly hostile or torn) and a pcapng recording (from disk). Written values
// read back as written; damaged bytes give a snapshot with problems or an error, never a trap.
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
@testable import IPCScopeRecording
import PropertyBased
import Testing
import TestSupport

/// One of `items`, shrinking towards the first.
func oneOf<T: Sendable>(_ items: [T]) -> Generator<T, Shrink.Integer<Int>> {
    Gen<Int>.value(in: 0...(items.count - 1)).map { items[$0] }
}

/// Header and slot fields a server writes, to put in a section image.
struct SectionFields: Sendable, CustomStringConvertible {
    var pid: Int32, epoch: UInt32, heartbeat: UInt64, served: UInt64, state: UInt32
    var function: UInt32, requestSize: UInt32, status: Int32, responseSize: UInt32
    var description: String { "pid \(pid) epoch \(epoch) state \(state) fn \(function) req \(requestSize) st \(status) rsp \(responseSize)" }
}

let sectionFieldsGen = zip(Gen<Int32>.value(in: .min ... .max), Gen<UInt32>.value(in: 0...UInt32.max), Gen<UInt64>.value(in: 0...UInt64.max),
                           Gen<UInt64>.value(in: 0...UInt64.max), Gen<UInt32>.value(in: 0...5), Gen<UInt32>.value(in: 0...UInt32.max),
                           Gen<UInt32>.value(in: 0...300), Gen<Int32>.value(in: .min ... .max), Gen<UInt32>.value(in: 0...300))
    .map { SectionFields(pid: $0, epoch: $1, heartbeat: $2, served: $3, state: $4, function: $5, requestSize: $6, status: $7, responseSize: $8) }

/// Damage to a section image: bytes overwritten at offsets (mostly in the header), then a cut.
let damageGen = zip(Gen<Int>.value(in: 0...8191).array(of: 0...12), Gen<UInt8>.value(in: 0...255), Gen<Int>.value(in: 0...9000))

/// A recorded call with payloads that fit its sizes (or are cut short when partial).
let recordedCallGen = zip(Gen<UInt32>.value(in: 0...UInt32.max), Gen<Int32>.value(in: .min ... .max), Gen<Int32>.value(in: .min ... .max),
                          Gen<UInt64>.value(in: 0...UInt64.max), Gen<UInt8>.value(in: 0...255).array(of: 0...40),
                          Gen<UInt8>.value(in: 0...255).array(of: 0...40), Gen<UInt16>.value(in: 0...6), Gen<Int>.value(in: 0...2))
    .map { fn, status, pid, sent, request, response, flags, halves in
        (RecordedCall(seq: 0, function: fn, status: status, requestSize: UInt32(request.count), responseSize: UInt32(response.count),
                      clientPID: pid, clientTID: pid &+ 1, epoch: 0, flags: RecordedCall.Flags(rawValue: flags), sentNS: sent,
                      doneNS: sent &+ 1000, request: request, response: response), halves)
    }

let interfaceGen = zip(oneOf(Array("AbZ09_-.é€")).string(of: 1...24), Gen<UInt32>.value(in: 0...UInt32.max),
                       Gen<UInt32>.value(in: 0...UInt32.max), Gen<UInt64>.value(in: 0...UInt64.max))
    .map { RecordedInterface(service: $0, epoch: $1, requestCapacity: $2 | 64, responseCapacity: $2 >> 3, traceCapacity: 256, createdUnixNS: $3) }

@Suite("Properties: section images and recordings")
struct PropertyRecordingTests {
    @Test("a section image reads back every field written")
    func sectionFieldsRoundTrip() async {
        await propertyCheck(count: 100, input: sectionFieldsGen, Gen<UInt8>.value(in: 0...255).array(of: 0...300)) { f, payload in
            var s = SectionBytes(requestCapacity: 256, responseCapacity: 256, traceCapacity: 16)
            s.server(pid: f.pid, epoch: f.epoch, heartbeat: f.heartbeat, served: f.served)
            s.state(f.state)
            s.request(seq: 1, function: f.function, payload: Array(payload.prefix(256)), sizeOverride: f.requestSize)
            s.response(seq: 1, status: f.status, payload: Array(payload.prefix(Int(min(f.responseSize, 256)))))
            s.set32(s.layout.responseOffset + 12, f.responseSize)
            let snap = s.snapshot()
            #expect(snap.serverPID == f.pid && snap.serverEpoch == f.epoch && snap.heartbeatNS == f.heartbeat)
            #expect(snap.callsServed == f.served && snap.stateRaw == f.state && snap.requestFunction == f.function)
            #expect(snap.requestSize == f.requestSize && snap.responseStatus == f.status && snap.responseSize == f.responseSize)
            let area = Array(payload.prefix(256)) + [UInt8](repeating: 0, count: 256 - min(256, payload.count))
            #expect(snap.requestPayload == Array(area.prefix(Int(f.requestSize))))
            // Valid exactly when the state is one of the four and both sizes fit their capacity.
            #expect(snap.isValid == (f.state <= 3 && f.requestSize <= 256 && f.responseSize <= 256), "\(snap.problems)")
        }
    }

    @Test("a damaged or cut section image decodes without a trap, and says what is wrong")
    func damagedSectionDecodes() async {
        let clean = SectionBytes(requestCapacity: 256, responseCapacity: 256, traceCapacity: 16)
        await propertyCheck(count: 300, input: damageGen) { offsets, value, cut in
            var bytes = clean.bytes
            for (k, o) in offsets.enumerated() where o < bytes.count { bytes[o] = value &+ UInt8(truncatingIfNeeded: k) }
            let image = Array(bytes.prefix(cut))
            let sizes = [clean.layout.sectionSize, image.count, cut, Int.max, 0]
            for size in sizes {
                let snap = Snapshot(service: "Prop", bytes: image, objectSize: size, takenNS: 1)
                // Every derived view stays within the bytes read.
                #expect(snap.requestPayload.count <= image.count && snap.responseArea.count <= image.count)
                _ = (snap.requestArea, snap.responsePayload, snap.ownerMismatch, snap.starting, snap.clientWaitingLooksLeaked)
                if snap.isValid {
                    #expect(image.count >= Int(IPCSCOPE_HEADER_SIZE) && size == clean.layout.sectionSize)
                } else {
                    #expect(!snap.problems.isEmpty || snap.layout == nil)
                }
            }
        }
    }

    /// A recording of `calls` on `interfaces`, each call's halves as `halves` says (0 both, the
    /// response after every request; 1 the request only; 2 the response only), the calls lost
    /// before each packet in `epb_dropcount`, a statistics block per interface at the end; and
    /// what reading it must give.
    static func recording(_ interfaces: [RecordedInterface], _ calls: [(RecordedCall, Int)], application: String,
                          dropped: UInt64) -> (file: [UInt8], expected: Recording) {
        var file = PcapNG.sectionHeader(application: application)
        for i in interfaces { file += PcapNG.interface(i) }
        var expected = Recording(application: application, interfaces: interfaces)
        var responsesLast: [[UInt8]] = []
        for (k, (call, halves)) in calls.enumerated() {
            var c = call
            c.seq = UInt64(k + 1)
            c.epoch = interfaces[k % interfaces.count].epoch
            let id = UInt32(k % interfaces.count)
            if halves != 2 {
                file += PcapNG.packet(interfaceID: id, unixNS: c.sentNS, data: RecordPacket.encode(c, .request), inbound: true,
                                      dropped: k == 0 ? dropped : 0)
            }
            let response = PcapNG.packet(interfaceID: id, unixNS: c.doneNS, data: RecordPacket.encode(c, .response), inbound: false)
            if halves == 2 { file += response } else if halves == 0 { responsesLast.append(response) }
            if halves == 1 { c.response = []; c.flags.insert(.partial) }
            if halves == 2 { c.request = []; c.flags.insert(.partial) }
            expected.calls.append(c)
        }
        for r in responsesLast { file += r }  // answers after every request: paired by seq, not by order
        for id in interfaces.indices {
            file += PcapNG.statistics(interfaceID: UInt32(id), unixNS: 9, startNS: 1, received: UInt64(calls.count),
                                      dropped: id == 0 ? dropped / 2 : 0, comment: "end")
        }
        expected.missed = calls.first.map { $0.1 != 2 } == true ? dropped : dropped / 2
        return (file, expected)
    }

    @Test("a recording written block by block reads back as the calls written, halves paired")
    func pcapngRoundTrip() async throws {
        await propertyCheck(count: 150, input: interfaceGen.array(of: 1...3), recordedCallGen.array(of: 0...12),
                            oneOf(Array("ipcscope 1.0-é")).string(of: 0...20), Gen<UInt64>.value(in: 0...UInt64.max)) { interfaces, calls, application, dropped in
            let (file, expected) = Self.recording(interfaces, calls, application: application, dropped: dropped)
            let recording = try PcapNG.read(file)
            #expect(recording == expected)
            // Cut anywhere inside, the file is refused or reads as fewer calls, never a trap.
            for cut in stride(from: 1, to: file.count, by: max(1, file.count / 16)) {
                if let partial = try? PcapNG.read(Array(file.prefix(cut))) {
                    #expect(partial.calls.count <= expected.calls.count)
                }
            }
        }
    }

    @Test("the same recording written big-endian reads back the same")
    func pcapngBigEndian() async throws {
        await propertyCheck(count: 100, input: interfaceGen.array(of: 1...3), recordedCallGen.array(of: 0...8),
                            Gen<UInt64>.value(in: 0...UInt64.max)) { interfaces, calls, dropped in
            let (file, expected) = Self.recording(interfaces, calls, application: "big", dropped: dropped)
            let swapped = try #require(bigEndian(file))
            #expect(swapped != file)
            #expect(try PcapNG.read(swapped) == expected)
        }
    }
}

/// `file` (little-endian pcapng, as PcapNG writes it) with every block header, fixed field and
/// numeric option byte-swapped, as a big-endian host writes it. The packets' own data (the
/// ipcscope record, little-endian by its format) is left alone. Nil on a block it cannot walk.
func bigEndian(_ file: [UInt8]) -> [UInt8]? {
    var out = file
    func swap(_ at: Int, _ width: Int) { out[at..<(at + width)].reverse() }
    func u32(_ at: Int) -> Int { Int(file[at]) | Int(file[at + 1]) << 8 | Int(file[at + 2]) << 16 | Int(file[at + 3]) << 24 }
    func u16(_ at: Int) -> Int { Int(file[at]) | Int(file[at + 1]) << 8 }
    /// Options from `at` to `end`; `widths[code]` is how a numeric value is swapped (width, count).
    func options(_ at: Int, _ end: Int, _ widths: [Int: (Int, Int)]) {
        var o = at
        while o + 4 <= end {
            let code = u16(o), length = u16(o + 2)
            swap(o, 2)
            swap(o + 2, 2)
            if let (width, count) = widths[code], length == width * count {
                for k in 0..<count { swap(o + 4 + k * width, width) }
            }
            if code == 0 { return }
            o += 4 + (length + 3) / 4 * 4
        }
    }
    var offset = 0
    while offset + 12 <= file.count {
        let type = u32(offset), length = u32(offset + 4)
        guard length >= 12, offset + length <= file.count else { return nil }
        let body = offset + 8, end = offset + length - 4
        swap(offset, 4)
        swap(offset + 4, 4)
        swap(end, 4)
        switch type {
        case 0x0A0D_0D0A:
            swap(body, 4); swap(body + 4, 2); swap(body + 6, 2); swap(body + 8, 8)
            options(body + 16, end, [:])
        case 1:
            swap(body, 2); swap(body + 4, 4)
            options(body + 8, end, [:])
        case 5:
            swap(body, 4); swap(body + 4, 4); swap(body + 8, 4)
            options(body + 12, end, [2: (4, 2), 3: (4, 2), 4: (8, 1), 5: (8, 1)])
        case 6:
            for k in 0..<5 { swap(body + 4 * k, 4) }
            let captured = u32(body + 12)
            options(body + 20 + (captured + 3) / 4 * 4, end, [2: (4, 1), 4: (8, 1)])
        default:
            return nil
        }
        offset += length
    }
    return offset == file.count ? out : nil
}
