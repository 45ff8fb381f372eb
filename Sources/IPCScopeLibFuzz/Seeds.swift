// The committed corpus (fuzz/corpus/swift-TARGET), made by the project's own code: section objects
// copied from /dev/shm while a real server serves real calls, pcapng files from the writer the
// recorder uses, payloads from the schema encoder, and the filter and payload texts the docs show.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopePOSIX
import IPCScopeRecording
import IPCScopeSchema

enum Seeds {
    /// Writes every target's seeds into `dir`/swift-TARGET/ (named by content); returns the count.
    static func write(into dir: String) throws -> Int {
        var count = 0
        for (target, inputs) in [("section", try sections()), ("pcapng", pcapngs()), ("schema", try payloads()),
                                 ("syntax", texts.map { Array($0.utf8) })] {
            let folder = dir + "/swift-" + target
            mkdir(folder, 0o755)
            for input in inputs {
                guard writeFile(folder + "/seed-" + hex(fnv1a(input)), input) else {
                    throw SeedError("cannot write \(folder): \(String(cString: strerror(errno)))")
                }
                count += 1
            }
        }
        return count
    }

    struct SeedError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// Writes `bytes` to a new file at `path` (replacing one there).
    static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return writeAll(bytes, to: fd) == nil
    }

    static func fnv1a(_ b: [UInt8]) -> UInt64 {
        b.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    // MARK: sections

    /// Real sections: small capacities so each image stays a few KB; no call, a few, and enough
    /// to wrap the trace ring; one without a trace ring; each copied while its server is up.
    static func sections() throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        for (k, (trace, capacity, calls)) in [(4, 64, 0), (4, 64, 3), (4, 64, 9), (16, 256, 5), (0, 32, 2), (8, 128, 1)].enumerated() {
            let name = "sfuzzseed-\(getpid())-\(k)"
            var options = ServerOptions()
            options.traceCapacity = trace
            options.requestCapacity = capacity
            options.responseCapacity = capacity
            let server = try Server(service: name, options: options)
            let thread = try OSThread {
                server.run(simple: { function, payload in (function == 2 ? -2 : 0, Array(payload.reversed())) })
            }
            defer {
                server.stop()
                thread.join()
                server.shutdown()
            }
            let client = try Client(service: name)
            for c in 0..<calls {
                let payload = Array("call \(c) hello".utf8) + [0, 0xff, UInt8(c)]
                _ = try client.call(function: UInt32(c % 4), payload: Array(payload.prefix(capacity)), timeout: .seconds(5))
            }
            guard let bytes = readFileContents("/dev/shm/ipcscope." + name), !bytes.isEmpty else { throw SeedError("could not read the section of \(name)") }
            out.append(bytes)
        }
        return out
    }

    // MARK: pcapng

    static let interface = RecordedInterface(service: "Svc", epoch: 3, requestCapacity: 64, responseCapacity: 128,
                                             traceCapacity: 256)

    static func call(_ seq: UInt64, request: [UInt8], response: [UInt8], status: Int32 = 0,
                     flags: RecordedCall.Flags = []) -> RecordedCall {
        RecordedCall(seq: seq, function: UInt32(seq % 5), status: status, requestSize: UInt32(request.count),
                     responseSize: UInt32(response.count), clientPID: 4242, clientTID: 4243, epoch: 3, flags: flags,
                     sentNS: 1_000_000 * seq, doneNS: 1_000_000 * seq + 5_000, request: request, response: response)
    }

    /// Recordings as the recorder writes them: ok, rejected, full and partial calls, drops, statistics.
    static func pcapngs() -> [[UInt8]] {
        let calls = [
            call(1, request: Array("ping".utf8), response: Array("pong".utf8)),
            call(2, request: [0, 1, 2, 0xff, 0x80], response: [], status: -3, flags: [.rejected]),
            call(3, request: [], response: [UInt8](repeating: 0xab, count: 128), status: 7),
            call(4, request: Array("0123456789abcdef".utf8), response: [], status: 1, flags: [.partial]),
        ]
        func file(_ calls: [RecordedCall], dropped: UInt64, statistics: Bool) -> [UInt8] {
            var b = PcapNG.sectionHeader(application: "ipcscope-libfuzz")
            b += PcapNG.interface(interface)
            for (i, c) in calls.enumerated() {
                b += PcapNG.packet(interfaceID: 0, unixNS: c.sentNS, data: RecordPacket.encode(c, .request), inbound: true,
                                   dropped: i == 1 ? dropped : 0)
                b += PcapNG.packet(interfaceID: 0, unixNS: c.doneNS, data: RecordPacket.encode(c, .response), inbound: false)
            }
            if statistics {
                b += PcapNG.statistics(interfaceID: 0, unixNS: 9, startNS: 1, received: UInt64(calls.count), dropped: dropped,
                                       comment: "libfuzz")
            }
            return b
        }
        return [file(calls, dropped: 0, statistics: true), file(calls, dropped: 7, statistics: true),
                file([], dropped: 0, statistics: false), file([calls[0]], dropped: 0, statistics: false)]
    }

    // MARK: schema payloads

    /// Payloads the encoder builds for every function of the fixed schema, from a few sets of values.
    static func payloads() throws -> [[UInt8]] {
        let values: [[String: String]] = [
            [:],
            ["u8": "255", "i8": "-128", "u32": "7", "f64": "2.5", "ok": "true", "name": "pump", "mode": "auto",
             "flags": "ready|error", "where.x": "1.5", "pts[1].y": "-3", "blob": "de ad be", "names[1]": "two",
             "samples[2]": "-1", "packed.b": "4294967295", "be32": "1", "tagged.after": "9", "data": "01 02 03",
             "id": "3", "value": "1e300", "previous": "-0"],
            ["u64": "18446744073709551615", "i64": "-9223372036854775808", "f32": "nan", "name": "0123456789abcde",
             "mode": "1", "flags": "busy", "blob": "00 11 22 33 44 55 66 77"],
        ]
        var out: [[UInt8]] = [[]]
        for f in LibFuzzTarget.fixedSchema.functions {
            for layout in [f.request, f.response].compactMap({ $0 }) {
                for set in values {
                    let inputs = layout.leaves.compactMap { leaf in set[leaf.path].map { FieldInput(path: leaf.path, text: $0) } }
                    out.append(try layout.encode(inputs, what: "seed"))
                }
            }
        }
        return out
    }

    // MARK: texts

    /// Payloads and filters as docs/ and the inspector's hints write them.
    static let texts = [
        "hello\\n", "48 65 6c 6c 6f", "00000000  68 65 6c 6c 6f  |hello|", "\\x00\\xff\\t", "\\u{1F600}", "caf\\u{e9}",
        "0x48 0x65", "a\\\\b\\\"", "3 hello", "1 4865",
        "lat>1ms", "lat<5us", "latency>2s fn=3", "fn!=3 status=0", "st!=0", "pid=123", "size>100", "req<4", "4865",
        "lat>1.5ms", "fn=1 status!=0 pid=42 size>100 lat>1ms /text/ hex=4865 word", "/a b/ hex=00ff", "lat>=10ns size<=3",
    ]
}
