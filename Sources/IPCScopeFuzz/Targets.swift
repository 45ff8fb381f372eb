// The decoders under test. Each target turns a seed into a mutated input (bytes, so any input
// can be stored in the corpus and replayed) and feeds it to the project's own code.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeRandom
import IPCScopeScript

/// One decoder to fuzz.
struct FuzzTarget: Sendable {
    /// The name used on the command line and as the corpus folder.
    let name: String
    /// Makes case `rng`'s input.
    let generate: @Sendable (inout SplitMix64, FuzzContext) -> [UInt8]
    /// Runs the project's code on `input`; a trap here is a finding.
    let run: @Sendable ([UInt8], FuzzContext) -> Void

    /// Every target, in the order `--target all` runs them.
    static let all: [FuzzTarget] = [section, trace, filter, breakpoint, payload, name, script, shm, duration, schema]

    static func named(_ n: String) -> FuzzTarget? { (all + [selftest]).first { $0.name == n } }

    /// Not a decoder: proves the harness. An input starting with 0 traps, one starting with 1
    /// never ends; `--target selftest` must keep both.
    static let selftest = FuzzTarget(name: "selftest", generate: { rng, _ in
        [UInt8(rng.below(16))] + (0..<rng.below(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }, run: { input, _ in
        if input.first == 0 { fatalError("selftest trap on input of \(input.count) bytes") }
        if input.first == 1 { while true { sleep(1) } }
    })
}

// MARK: - section images (identity, snapshot, status text, inspector grid)

extension FuzzTarget {
    static let section = FuzzTarget(name: "section", generate: { rng, ctx in
        let images = ctx.sectionImages
        guard !images.isEmpty else { return [] }
        let seed = rng.pick(images)
        return Mutate.bytes(seed, others: images, rng: &rng, maxSteps: 8, hotRange: 0..<640)
    }, run: { input, _ in
        decodeSection(input, alive: input.count % 2 == 0)
    })

    /// Everything a reader does with a section's bytes: identity, layout, snapshot, history,
    /// `status` text, and the inspector's grid at two sizes and on every pane.
    static func decodeSection(_ bytes: [UInt8], alive: Bool) {
        if let id = SectionIdentity(bytes: bytes) {
            _ = id.layout
            _ = try? id.validate(objectSize: bytes.count, service: "Fuzz")
        }
        let snap = Snapshot(service: "Fuzz", bytes: bytes, objectSize: bytes.count, ownerUID: 1000, mode: 0o600,
                            serverAlive: alive, takenNS: 5_000_000_000)
        _ = (snap.requestPayload, snap.responseArea, snap.ownerMismatch, snap.state)
        _ = StatusReport(snap).text()
        var history = History()
        history.ingest(snap)
        history.ingest(snap)
        renderEverywhere(snap)
    }

    /// Ingests `snap` into a model with fixed clocks and names, renders every pane.
    static func renderEverywhere(_ snap: Snapshot, filter: String? = nil) {
        var m = InspectorModel(service: "Fuzz")
        m.processName = { _ in "fuzz" }
        m.processCommand = { _ in "ipcscope serve Fuzz --echo" }
        m.clockText = { ns in String(ns / 1_000_000) }
        m.ingest(snap, now: 5_000_000_000)
        m.ingest(snap, now: 5_100_000_000)
        if let filter {
            _ = m.handle(key: .char("/"))
            for c in filter { _ = m.handle(key: .char(c)) }
            _ = m.handle(key: .enter)
        }
        for (w, h) in [(120, 40), (80, 24), (20, 5)] {
            var g = Grid(width: w, height: h)
            m.render(into: &g, now: 5_200_000_000)
            _ = m.handle(key: .tab)
        }
        _ = m.handle(key: .char("h"))
        _ = m.handle(key: .end)
        var g = Grid(width: 100, height: 30)
        m.render(into: &g, now: UInt64.max)
    }
}

// MARK: - trace records and the history they feed

extension FuzzTarget {
    static let trace = FuzzTarget(name: "trace", generate: { rng, ctx in
        // 8 bytes of trace_head, then records taken from a real ring, mutated
        var out: [UInt8] = []
        let head = rng.oneIn(2) ? rng.pick(Interesting.u64) : rng.next() % 600
        for k in 0..<8 { out.append(UInt8(truncatingIfNeeded: head >> (8 * UInt64(k)))) }
        if let image = ctx.sectionImages.first, let l = SectionIdentity(bytes: image)?.layout,
           image.count >= l.traceOffset + 64 * l.traceCapacity {
            out += image[l.traceOffset..<(l.traceOffset + 64 * l.traceCapacity)]
        }
        return [UInt8](out[0..<8]) + Mutate.bytes(Array(out[8...]), others: [], rng: &rng, maxSteps: 10)
    }, run: { input, ctx in
        var records: [TraceRecord] = []
        input.withUnsafeBytes { raw in
            var at = 8
            while at + 64 <= raw.count {
                records.append(TraceRecord(decoding: raw, at: at))
                at += 64
            }
        }
        for r in records { _ = (r.latencyNS, r.rejected, r.afterRecovery, HexDump.printable(r.requestHead)) }
        for f in ["lat>1ms", "fn=1 status!=0", "size>3 pid<100", "payload", "6361"] {
            let filter = HistoryFilter(f)
            _ = records.filter { filter.matches($0) }.count
        }
        guard var snap = ctx.sectionImages.first.map({ Snapshot(service: "Fuzz", bytes: $0, objectSize: $0.count,
                                                                 serverAlive: true, takenNS: 1) }) else { return }
        snap.traceHead = input.u64(at: 0)
        snap.trace = records.sorted { $0.seq < $1.seq }
        var history = History()
        history.ingest(snap)
        snap.traceHead = snap.traceHead &+ 1
        history.ingest(snap)
        renderEverywhere(snap)
    })
}

// MARK: - texts: filters, breakpoints, payload syntax, names

/// Records with edge values for the filter to compare against.
private let edgeRecords: [TraceRecord] = [
    edgeRecord(seq: 1, function: 1, status: 0, size: 5, pid: 1, sent: 1, done: 25_001, head: Array("hello".utf8)),
    edgeRecord(seq: .max, function: .max, status: .min, size: .max, pid: .min, sent: 0, done: .max,
               head: [UInt8](repeating: 0xff, count: 16)),
    edgeRecord(seq: 2, function: 0, status: .max, size: 0, pid: .max, sent: .max, done: 0, head: []),
]

/// A record decoded from 64 bytes laid out as the format says.
private func edgeRecord(seq: UInt64, function: UInt32, status: Int32, size: UInt32, pid: Int32,
                        sent: UInt64, done: UInt64, head: [UInt8]) -> TraceRecord {
    var b = [UInt8](repeating: 0, count: 64)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_SEQ), seq, width: 8)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_FUNCTION), UInt64(function), width: 4)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_STATUS), UInt64(UInt32(bitPattern: status)), width: 4)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_REQUEST_SIZE), UInt64(size), width: 4)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_CLIENT_PID), UInt64(UInt32(bitPattern: pid)), width: 4)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_SENT_NS), sent, width: 8)
    Mutate.put(&b, at: Int(IPCSCOPE_TR_DONE_NS), done, width: 8)
    b.replaceSubrange(Int(IPCSCOPE_TR_REQUEST_HEAD)..<(Int(IPCSCOPE_TR_REQUEST_HEAD) + head.count), with: head.prefix(16))
    return b.withUnsafeBytes { TraceRecord(decoding: $0, at: 0) }
}

private let filterSeeds = ["lat>1ms", "lat<5us", "latency>2s fn=3", "fn!=3 status=0", "st!=0", "pid=123", "size>100",
                           "req<4", "hello", "4865", "lat>1.5ms", "client=1 f=2", "function=7 lat>10ns"]
private let breakpointSeeds = ["fn=3", "/hello/", "hex=4865", "/a\\n/ fn=1", "hex=00ff /x/", "/\\x00\\t/"]
private let payloadSeeds = ["hello\\n", "48 65 6c 6c 6f", "00000000  68 65 6c 6c 6f  |hello|", "\\x00\\xff\\t",
                            "\\u{1F600}", "caf\\u{e9}", "0x48 0x65", "a\\\\b\\\"", "3 hello", "1 4865"]
private let nameSeeds = ["Demo", "my-service_1.2", "a", String(repeating: "n", count: 200), "Ünïcode", "a/b", ".", ".."]

extension FuzzTarget {
    private static func text(_ seeds: [String], extra: [String] = []) -> @Sendable (inout SplitMix64, FuzzContext) -> [UInt8] {
        { rng, _ in Mutate.text(rng.pick(seeds), others: seeds, rng: &rng, extra: extra) }
    }

    static let filter = FuzzTarget(name: "filter", generate: text(filterSeeds, extra: ["lat>", "ms", "us", "µs", "ns", "s"]),
                                   run: { input, ctx in
        let text = String(decoding: input, as: UTF8.self)
        let f = HistoryFilter(text)
        for r in edgeRecords { _ = f.matches(r) }
        if input.count < 200, let image = ctx.sectionImages.first {
            renderEverywhere(Snapshot(service: "Fuzz", bytes: image, objectSize: image.count, serverAlive: true, takenNS: 1),
                             filter: text)
        }
    })

    static let breakpoint = FuzzTarget(name: "breakpoint", generate: text(breakpointSeeds, extra: ["fn=", "hex=", "/"]),
                                       run: { input, _ in
        let b = Breakpoints(String(decoding: input, as: UTF8.self))
        for (f, p) in [(UInt32(3), Array("hello".utf8)), (.max, []), (0, [UInt8](repeating: 0, count: 40))] {
            _ = b.match(function: f, payload: p)
        }
    })

    static let payload = FuzzTarget(name: "payload", generate: text(payloadSeeds, extra: ["\\x", "\\u{", "|", "  "]),
                                    run: { input, _ in
        let text = String(decoding: input, as: UTF8.self)
        _ = try? parseHex(text)
        _ = try? unescape(text)
        _ = try? InspectorModel.parseCall(text, hex: false)
        _ = try? InspectorModel.parseCall(text, hex: true)
        _ = HexDump.printable(input)
    })

    static let name = FuzzTarget(name: "name", generate: { rng, _ in
        if rng.oneIn(4) { return (0..<rng.below(300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
        return Mutate.text(rng.pick(nameSeeds), others: nameSeeds, rng: &rng)
    }, run: { input, _ in
        let text = String(decoding: input, as: UTF8.self)
        if let n = try? ServiceName(text) { _ = (n.objectName, n.path) }
        _ = try? SectionReader(service: text)
    })
}

// MARK: - scripts

/// Requests every parsed script answers, including one that backtracking regexes choke on.
private let scriptRequests: [ScriptRequest] = [
    ScriptRequest(function: 1, payload: Array("hello".utf8), seq: 1, clientPID: 1, clientTID: 1),
    ScriptRequest(function: 0, payload: [], seq: .max, clientPID: .max, clientTID: .min),
    ScriptRequest(function: .max, payload: Array(String(repeating: "a", count: 30).utf8) + [0x62], seq: 3),
    ScriptRequest(function: 2, payload: [0xff, 0xfe, 0, 0x0a], seq: 4),
]

extension FuzzTarget {
    static let script = FuzzTarget(name: "script", generate: { rng, ctx in
        let seeds = ctx.scripts
        guard !seeds.isEmpty else { return [] }
        return Mutate.text(rng.pick(seeds), others: seeds, rng: &rng,
                           extra: ["file: reply.bin", "file: fifo", "delay_ms: ", "regex: \"(a+)+$\"", "status: ",
                                   "function: ", "text: \"{{count}}\"", "{{", "}}", "hex: \"zz\"", "fault: exit"])
    }, run: { input, ctx in
        guard let script = try? Script.parse(yaml: String(decoding: input, as: UTF8.self), source: "fuzz.yaml",
                                             baseDirectory: ctx.scratch) else { return }
        let engine = ScriptEngine(script)
        for r in scriptRequests { _ = engine.respond(to: r) }
    })
}
