// The `hexdump -C` layout, checked against the real /usr/bin/hexdump -C on the same bytes:
// in-process (HexDump.format) and through `ipcscope call` output.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import Testing
import TestSupport

@Suite("CLI hexdump -C layout", .serialized)
struct CLIHexDumpTests {
    static func samples() -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for n in [0, 1, 15, 16, 17, 31, 32, 33, 100, 4096] {
            out.append(("mixed-\(n)", (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }))
        }
        out.append(("zeros-64", [UInt8](repeating: 0, count: 64)))
        out.append(("zeros-4096", [UInt8](repeating: 0, count: 4096)))
        out.append(("repeat-then-tail", [UInt8](repeating: 0x41, count: 48) + [1, 2, 3]))
        out.append(("repeat-mid", Array("0123456789abcdef".utf8) + [UInt8](repeating: 7, count: 64) + Array("0123456789abcdef".utf8)))
        out.append(("ascii", Array("Hello, world!\n\u{7f}\t~ end".utf8) + [0x80, 0xff, 0x20]))
        return out
    }

    @Test("HexDump.format equals hexdump -C and hexdump -C -v")
    func formatMatchesHexdump() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        for (label, bytes) in Self.samples() {
            let path = scope.directory + "/\(label).bin"
            writeBytes(path, bytes)
            let real = scope.run("/usr/bin/hexdump", ["-C", path]).stdout
            #expect(HexDump.format(bytes) == real, "\(label)")
            let realV = scope.run("/usr/bin/hexdump", ["-C", "-v", path]).stdout
            #expect(HexDump.format(bytes, verbose: true) == realV, "\(label) -v")
        }
    }

    @Test("ipcscope call prints the response exactly as hexdump -C (and -v)")
    func callOutputMatchesHexdump() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hex")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        for (label, bytes) in Self.samples() {
            let path = scope.directory + "/\(label).bin"
            writeBytes(path, bytes)
            let real = scope.run("/usr/bin/hexdump", ["-C", path]).stdout
            let ours = scope.ipcscope(["call", name, "--file", path, "--quiet"])
            #expect(ours.exitStatus == 0)
            #expect(ours.stdout == real, "\(label)")
            let withStatus = scope.ipcscope(["call", name, "--file", path]).stdout
            #expect(withStatus.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).last.map(String.init) == real,
                    "\(label): one status line, then the dump")
            if label == "zeros-4096" {
                let realV = scope.run("/usr/bin/hexdump", ["-C", "-v", path]).stdout
                #expect(scope.ipcscope(["call", name, "--file", path, "--quiet", "-v"]).stdout == realV)
            }
        }
    }
}
