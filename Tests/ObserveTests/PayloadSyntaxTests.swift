// Pasted dumps give back exactly the bytes dumped: the real hexdump -C and xxd run on awkward
// payloads (repeats that make '*' lines, lengths not a multiple of 16, empty input), parsed by
// parseHex and compared byte for byte; edited dumps are refused; `ipcscope call --hex` sends
// what a `*` dump shows.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeObserve
import Testing
import TestSupport

@Suite("Payload syntax", .serialized)
struct PayloadSyntaxTests {
    static let payloads: [(String, [UInt8])] = [
        ("empty", []),
        ("one byte", [0x41]),
        ("15 bytes", Array("fifteen bytes!!".utf8)),
        ("16 bytes", Array(0..<16)),
        ("17 bytes", Array(0..<17)),
        ("A + 64 zeros + B", [0x41] + [UInt8](repeating: 0, count: 64) + [0x42]),
        ("48 zeros", [UInt8](repeating: 0, count: 48)),
        ("1000 zeros + 1", [UInt8](repeating: 0, count: 1000) + [1]),
        ("a repeated line", Array(String(repeating: "abcdefghijklmnop", count: 10).utf8) + [0x78]),
        ("every byte value", (0...255).map { UInt8($0) }),
        ("gutter characters", Array("|a|  b | x: 00000010  41 |\n*\n".utf8)),
        ("4096 x ff + 3", [UInt8](repeating: 0xff, count: 4096) + [1, 2, 3]),
        ("repeats then a different line", [UInt8](repeating: 7, count: 64) + [UInt8](repeating: 8, count: 32)),
    ]
    static let tools: [(String, [String])] = [
        ("/usr/bin/hexdump", ["-C"]), ("/usr/bin/hexdump", ["-C", "-v"]), ("/usr/bin/xxd", []), ("/usr/bin/xxd", ["-a"]),
        ("/usr/bin/xxd", ["-p"]), ("/usr/bin/xxd", ["-i"]), ("/usr/bin/xxd", ["-g", "1"]), ("/usr/bin/xxd", ["-u", "-c", "7"]),
        ("/usr/bin/hexdump", ["-C", "-s", "16"]),
    ]

    @Test("the real hexdump -C and xxd output of awkward payloads parses back to the same bytes")
    func realDumpsRoundTrip() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var stars = 0
        for (label, bytes) in Self.payloads {
            let path = scope.directory + "/payload.bin"
            writeBytes(path, bytes)
            defer { unlink(path) }
            // `hexdump -C -s 16` of 16 bytes or fewer prints only "000000NN": indistinguishable from 4 plain bytes.
            for (tool, args) in Self.tools where !(args.contains("-s") && bytes.count <= 16) {
                let run = scope.run(tool, args + [path])
                try #require(run.exitStatus == 0, "\(tool) \(args): \(run.stderr)")
                var dump = run.stdout
                if args == ["-i"] {  // keep only the array's body: "  0x41, 0x42, ..."
                    dump = dump.split(separator: "\n").filter { $0.hasPrefix("  0x") }.joined(separator: "\n")
                }
                if dump.contains("\n*\n") { stars += 1 }
                let expected = args.contains("-s") ? Array(bytes.dropFirst(16)) : bytes
                do {
                    let parsed = try parseHex(dump)
                    #expect(parsed == expected, "\(label) via \(tool) \(args.joined(separator: " ")): \(parsed.count) bytes, not \(expected.count)\n\(dump)")
                } catch {
                    Issue.record("\(label) via \(tool) \(args.joined(separator: " ")) refused: \(error)\n\(dump)")
                }
            }
            #expect(try parseHex(HexDump.format(bytes)) == bytes, "\(label): our own dump")
        }
        #expect(stars >= 8, "the payloads made hexdump print '*' lines")
    }

    @Test("edited or partial dumps are refused, never read as other bytes",
          arguments: [
            ("00000000  41 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |A...............|\n*\n", "ends with '*'"),
            ("00000000  41 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |A...............|\n*\n00000041  42  |B|\n00000042\n",
             "does not follow the '*' on line 2"),
            ("00000000  41 42  |AB|\n00000004  43  |C|\n", "offset 0x4 but the lines above end at 0x2"),
            ("00000000  41 42  |AX|\n", "the text column shows 'AX'"),
            ("00000000  41 42  |AB\n", "not closed"),
            ("00000000  41 4  |AB|\n", "'4' is not a byte"),
            ("00000000: 4142 4g  AB\n", "'4g' is not a group"),
            ("00000000  41  |A|\n00000001\n00000001  42  |B|\n", "after the dump's last line"),
            ("00000000  41  |A|\n*\n*\n", "two '*' lines"),
            ("\n*\n00000010  41  |A|\n", "'*' only means"),
            ("00000000  41  |A|\n00000001  42  |B|\n*\n", "ends with '*'"),
            ("00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\nfffffffffff0\n", "over the limit"),
            ("00000000  41  |A|\nzz\n", "expected an offset"),
            ("0000000 6241 0063\n0000003\n", "default output of hexdump or od"),
            ("41 42\n*\n", "'*' only means"),
            ("41 4", "'4' is not hex"),
            ("\\x41", "is not hex"),
          ])
    func refused(_ text: String, _ expected: String) {
        do {
            let b = try parseHex(text)
            Issue.record("accepted as \(b.count) bytes: \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
            #expect(!error.description.contains("\n"), "one line")
        }
    }

    @Test("plain hex in its usual spellings")
    func plainHex() throws {
        #expect(try parseHex("48 65 6c") == [0x48, 0x65, 0x6c])
        #expect(try parseHex("0x48,0x65, 0X6C") == [0x48, 0x65, 0x6c])
        #expect(try parseHex("48656c\n6c6f\r\n") == Array("Hello".utf8))
        #expect(try parseHex("   \n") == [])
        #expect(try parseHex("41424344") == Array("ABCD".utf8), "eight digits alone are bytes, not an offset")
    }

    @Test("limits: output, text and escapes are bounded, never trapped on")
    func limits() {
        #expect(throws: PayloadSyntaxError.self) { try parseHex("41 42 43", limit: 2) }
        #expect(throws: PayloadSyntaxError.self) { try unescape("\\x+f") }
        #expect(throws: PayloadSyntaxError.self) { try unescape("\\x4") }
        #expect(throws: PayloadSyntaxError.self) { try unescape("abc", limit: 2) }
        #expect((try? unescape("a\\n\\t\\0\\\\\\x7e\\q")) == [0x61, 10, 9, 0, 0x5c, 0x7e, 0x5c, 0x71])
        let star = "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n*\n7fffffffffffffff\n"
        #expect(throws: PayloadSyntaxError.self) { try parseHex(star) }
        #expect(throws: PayloadSyntaxError.self) { try parseHex("ffffffffffffffffff: 41  A") }
    }

    @Test("ipcscope call --hex with a pasted '*' dump sends the 66 bytes it shows")
    func callSendsWhatIsShown() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("star")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"), "\(server.stdout)\(server.stderr)")
        let bytes: [UInt8] = [0x41] + [UInt8](repeating: 0, count: 64) + [0x42]
        let path = scope.directory + "/star.bin"
        writeBytes(path, bytes)
        defer { unlink(path) }
        let dump = scope.run("/usr/bin/hexdump", ["-C", path]).stdout
        try #require(dump.contains("\n*\n"))
        let (o, c) = scope.callJSON(name, ["--hex", dump])
        #expect(c.exitStatus == 0, "\(c.stderr)")
        #expect(o?["data_hex"] as? String == bytes.map { String(format2: $0) }.joined(), "\(c.stdout)")
        // An edited dump is a usage error, and nothing is sent.
        let edited = dump.replacing("00000040", with: "00000041")
        let bad = scope.ipcscope(["call", name, "--hex", edited])
        #expect(bad.exitStatus != 0)
        #expect(bad.stderr.contains("does not follow the '*'"), "\(bad.stderr)")
    }
}

extension String {
    /// Two lowercase hex digits.
    init(format2 b: UInt8) {
        let d = Array("0123456789abcdef")
        self = String([d[Int(b >> 4)], d[Int(b & 15)]])
    }
}
