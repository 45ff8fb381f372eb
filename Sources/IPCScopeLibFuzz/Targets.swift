// The libFuzzer targets over the Swift code that reads untrusted bytes: each takes one input (any
// bytes) and runs the project's own parsers on it. A trap, a sanitizer report or a hang is a finding.
// libFuzzer drives them in the fuzzing build (fuzz/swift/build.sh); the plain build replays files.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema

/// One libFuzzer target: a name (the corpus folder is fuzz/corpus/swift-NAME) and what it runs.
struct LibFuzzTarget: Sendable {
    let name: String
    let run: @Sendable ([UInt8]) -> Void

    static let all: [LibFuzzTarget] = [section, pcapng, schema, syntax, agent]

    static func named(_ n: String) -> LibFuzzTarget? { all.first { $0.name == n } }
}

// MARK: - section images

/// The service this process plants its images under (/dev/shm/ipcscope.sfuzz-PID); removed at exit.
let plantedService = "sfuzz-\(getpid())"

/// Writes `bytes` as the whole shared-memory object of `plantedService` (same inode each time).
func plant(_ bytes: [UInt8]) -> Bool {
    let path = "/dev/shm/ipcscope." + plantedService
    let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    guard ftruncate(fd, off_t(bytes.count)) == 0 else { return false }
    let wrote = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    return wrote == bytes.count
}

/// Overwrites 8 bytes of the planted object at `offset` (a server advancing trace_head).
func poke(_ value: UInt64, at offset: Int) {
    let fd = open("/dev/shm/ipcscope." + plantedService, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { return }
    var v = value
    _ = pwrite(fd, &v, 8, off_t(offset))
    close(fd)
}

func removePlanted() { unlink("/dev/shm/ipcscope." + plantedService) }

extension LibFuzzTarget {
    /// The input is a whole section object: decoded from bytes (`Snapshot(service:bytes:objectSize:)`,
    /// `status` text), then planted in /dev/shm and read as `ipcscope` reads a live one: a
    /// `SectionReader` snapshot (the trace ring placed by trace_head) and a `TraceFollower` from the
    /// start, polled again after trace_head moves (by the input's last 8 bytes).
    static let section = LibFuzzTarget(name: "section") { bytes in
        let snap = Snapshot(service: plantedService, bytes: bytes, objectSize: bytes.count, ownerUID: 0, mode: 0o600,
                            serverAlive: false, takenNS: 5_000_000_000)
        _ = (snap.requestPayload, snap.responsePayload, snap.responseArea, snap.ownerMismatch, snap.state, snap.problems)
        _ = StatusReport(snap).text()
        _ = snap.layout.map { ($0.traceOffset, $0.sectionSize) }

        guard plant(bytes) else { return }
        if let reader = try? SectionReader(service: plantedService), let live = try? reader.snapshot() {
            for r in live.trace { _ = (r.latencyNS, r.rejected, r.afterRecovery, HexDump.printable(r.requestHead)) }
            _ = StatusReport(live).text()
            var history = History()
            history.ingest(live)
        }
        guard let follower = try? TraceFollower(service: plantedService), (try? follower.start(fromStart: true)) != nil
        else { return }
        _ = try? follower.poll()
        let step = bytes.count >= 8 ? bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self) } : 1
        let head = snap.traceHead &+ step
        poke(head, at: Int(IPCSCOPE_OFF_TRACE_HEAD))
        if let p = try? follower.poll() {
            for r in p.records { _ = (r.seq, r.latencyNS, HexDump.printable(r.requestHead)) }
        }
    }
}

// MARK: - pcapng recordings

extension LibFuzzTarget {
    /// The input is a pcapng file: `PcapNG.read` (what `ipcscope replay` and `inspect --recording` open),
    /// then every call it returns printed as the tools print them.
    static let pcapng = LibFuzzTarget(name: "pcapng") { bytes in
        guard let recording = try? PcapNG.read(bytes) else { return }
        _ = (recording.application, recording.interfaces.map(\.service), recording.missed)
        for c in recording.calls {
            _ = (c.seq, c.function, c.status, c.doneNS &- c.sentNS, c.flags, c.partial, c.requestComplete, c.responseComplete,
                 HexDump.printable(c.request), HexDump.printable(c.response))
        }
    }
}

// MARK: - schema payloads

extension LibFuzzTarget {
    /// A fixed schema with every type the schema language knows (Tests/TestSupport's SchemaFixture,
    /// copied): the input is decoded as each function's request and response, printed, and the
    /// decoded values encoded again.
    static let fixedSchema: Schema = {
        do { return try Schema.parse(yaml: schemaText, source: "libfuzz.yaml") } catch {
            fatalError("ipcscope-libfuzz: its own schema does not parse: \(error)")
        }
    }()

    static let schema = LibFuzzTarget(name: "schema") { bytes in
        for f in fixedSchema.functions {
            for layout in [f.request, f.response].compactMap({ $0 }) {
                let d = layout.decode(bytes)
                _ = d.fields.map { $0.value.text }
                _ = (d.warnings, d.rest, d.field(at: bytes.count / 2))
                let inputs = layout.leaves.compactMap { leaf in
                    d.fields.first { $0.path == leaf.path }.map { FieldInput(path: leaf.path, text: $0.value.text) }
                }
                if let built = try? layout.encode(inputs, what: "libfuzz") { _ = layout.decode(built) }
                _ = try? layout.matches(bytes, inputs, what: "libfuzz")
            }
        }
    }

    static let schemaText = """
        types:
          Point:
            - x: f32
            - y: f64
          Tagged:
            - tag: u8
            - after: {type: u32, offset: 8}
          Packed:
            packed: true
            fields:
              - a: u8
              - b: u32
              - c: u16
          Mode:
            type: u8
            enum: {0: off, 1: on, 2: auto}
        functions:
          7:
            name: everything
            request: &all
              - u8: u8
              - i8: i8
              - u16: u16
              - i16: i16
              - u32: uint32_t
              - i32: int32_t
              - u64: u64
              - i64: i64
              - f32: f32
              - f64: double
              - ok: bool
              - name: char[16]
              - samples: i16[3]
              - where: Point
              - pts: Point[2]
              - mode: Mode
              - flags: {type: u16, flags: {0: ready, 1: busy, 15: error}}
              - packed: Packed
              - be32: {type: u32, endian: big}
              - tagged: Tagged
              - padding: 3
              - blob: {type: bytes, length: u16, capacity: 8}
              - names: char[2][8]
              - data: bytes
            response: *all
            status: {0: ok, -2: no such id}
          3:
            name: set_value
            request:
              - id: u32
              - value: f64
              - name: char[16]
            response:
              - ok: bool
              - previous: f64

        """
}

// MARK: - payload and filter syntaxes

extension LibFuzzTarget {
    /// The input is text a person types: a payload (`parseHex`, `unescape`, the inspector's call line)
    /// and a filter (`HistoryFilter` both ways, `parseCallTerms`), matched against edge records.
    static let syntax = LibFuzzTarget(name: "syntax") { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? parseHex(text)
        _ = try? unescape(text)
        _ = try? InspectorModel.parseCall(text, hex: false)
        _ = try? InspectorModel.parseCall(text, hex: true)
        _ = try? parseCallTerms(text)
        _ = try? HistoryFilter(parsing: text)
        let filter = HistoryFilter(text)
        for r in edgeRecords { _ = filter.matches(r) }
    }

    /// Records with edge values for the filters to compare against.
    static let edgeRecords: [TraceRecord] = [
        record(seq: 1, function: 1, status: 0, size: 5, pid: 1, sent: 1, done: 25_001, head: Array("hello".utf8)),
        record(seq: .max, function: .max, status: .min, size: .max, pid: .min, sent: 0, done: .max,
               head: [UInt8](repeating: 0xff, count: 16)),
        record(seq: 2, function: 0, status: .max, size: 0, pid: .max, sent: .max, done: 0, head: []),
    ]

    static func record(seq: UInt64, function: UInt32, status: Int32, size: UInt32, pid: Int32,
                       sent: UInt64, done: UInt64, head: [UInt8]) -> TraceRecord {
        var r = [UInt8](repeating: 0, count: 64).withUnsafeBytes { TraceRecord(decoding: $0, at: 0) }
        r.seq = seq
        r.function = function
        r.status = status
        r.requestSize = size
        r.clientPID = pid
        r.sentNS = sent
        r.doneNS = done
        r.requestHead = head
        return r
    }
}

// MARK: - the agent protocol's answers

extension LibFuzzTarget {
    /// The input is what an agent sends back (its first byte: how many bytes arrive at a time): the
    /// `FrameDecoder` splits it as `AgentConnection` reads it, every frame is decoded by its type,
    /// snapshots are applied (a delta over the previous bytes, as the connection does) and rebuilt into
    /// the `Snapshot` and host facts `status` prints, as text and JSON.
    static let agent = LibFuzzTarget(name: "agent") { bytes in
        guard let first = bytes.first else { return }
        let step = Int(first) + 1
        var decoder = FrameDecoder()
        var base: [UInt8]?
        var at = 1
        while at < bytes.count {
            let end = min(bytes.count, at + step)
            decoder.append(bytes[at..<end])
            at = end
            do {
                while let frame = try decoder.next() {
                    switch AgentMessage(rawValue: frame.type) {
                    case .helloOK: _ = try? AgentHello(decoding: frame.payload)
                    case .listOK: _ = try? AgentListEntry.decodeList(frame.payload)
                    case .snapshotFull, .snapshotDelta:
                        guard let reply = try? AgentSnapshotReply(decoding: frame.payload, delta: frame.type == 0x93),
                              let now = try? reply.applied(to: base) else {
                            base = nil
                            continue
                        }
                        precondition(now.count == reply.total, "applied bytes differ from the reply's total")
                        base = now
                        let remote = AgentConnection.assemble(service: "fuzz", bytes: now, reply: reply, clockTicks: 100)
                        let report = StatusReport(remote.snapshot, facts: remote.facts)
                        _ = (report.text(), report.healthProblems)
                    case .callOK: _ = try? AgentCallReply(decoding: frame.payload)
                    case .error: _ = decodeAgentError(frame.payload).description
                    default: base = nil
                    }
                }
            } catch {
                _ = String(describing: error)
                return
            }
        }
        _ = decoder.endError
    }
}
