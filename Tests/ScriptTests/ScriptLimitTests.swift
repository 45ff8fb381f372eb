// Scripts have limits: the file's size, the size once aliases are expanded, a reply file's
// size and kind. Each hostile script is refused promptly with file:line:col, in-process and
// by the real `ipcscope serve --script … --check`.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeScript
import Testing
import TestSupport

@Suite("Script limits", .serialized)
struct ScriptLimitTests {
    /// Parses `yaml`, expecting a refusal; returns the error.
    func refusal(_ yaml: String, source: String = "s.yaml", baseDirectory: String = ".") -> ScriptError? {
        do {
            _ = try Script.parse(yaml: yaml, source: source, baseDirectory: baseDirectory)
            Issue.record("accepted a script of \(yaml.utf8.count) bytes")
            return nil
        } catch {
            return error
        }
    }

    @Test("an alias bomb is refused before anything is built from it")
    func aliasBomb() throws {
        // One 512 KiB anchor referenced 6,000 times: a 3 GiB script once expanded.
        let anchor = String(repeating: "x", count: 512 * 1024)
        var yaml = "rules:\n  - match: {text: &big \(anchor)}\n    reply: {status: 0}\n"
        for _ in 0..<6000 { yaml += "  - match: {text: *big}\n    reply: {text: *big}\n" }
        #expect(yaml.utf8.count < Script.maxScriptBytes)
        let t0 = now()
        let e = try #require(refusal(yaml))
        #expect(now() - t0 < 5)
        #expect(e.message.contains("expands to over 4 MiB of text once aliases"), "\(e)")
        #expect(e.line == 2 && e.column == 19, "points at the anchor: \(e)")

        // Nested: nine levels of ten references (a billion leaves).
        var nested = "rules:\n  - match: {text: &l0 ha}\n    reply: {status: 0}\n"
        for level in 1...9 {
            let refs = (0..<10).map { _ in "*l\(level - 1)" }.joined(separator: ", ")
            nested += "  - match: {size: &l\(level) [\(refs)]}\n    reply: {status: 0}\n"
        }
        let t1 = now()
        let n = try #require(refusal(nested))
        #expect(now() - t1 < 5)
        #expect(n.message.contains("once aliases"), "\(n)")
    }

    @Test("the issue's bomb (a 1 MiB anchor) is refused by the script size cap, as a file and as text")
    func oversizedScript() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let yaml = "rules:\n  - match: {text: &big \(String(repeating: "x", count: 1 << 20))}\n    reply: {text: *big}\n"
        let e = try #require(refusal(yaml))
        #expect(e.message.contains("over the limit of 1 MiB"), "\(e)")
        let path = scope.file("huge.yaml", yaml)
        do {
            _ = try Script.load(path: path)
            Issue.record("loaded")
        } catch {
            #expect(error.description == "\(path): the script is \(yaml.utf8.count) bytes, over the limit of 1 MiB: give the path of a YAML script")
        }
    }

    @Test("file: must be a regular file of at most 1 MiB",
          arguments: [("/dev/zero", "is a character device, not a regular file"),
                      ("/dev/null", "is a character device"),
                      ("/tmp", "is a directory"),
                      ("/nonexistent/x", "cannot be read (No such file or directory)")])
    func replyFileKinds(_ path: String, _ expected: String) throws {
        let e = try #require(refusal("rules:\n  - match: any\n    reply: {file: \(path)}\n"))
        #expect(e.line == 3 && e.column == 19, "\(e)")
        #expect(e.message.contains("expected a readable regular file of at most 1 MiB, '\(path)' \(expected)"), "\(e)")
    }

    @Test("a FIFO as reply file or as the script is refused at once, and so is an oversized reply file")
    func fifoAndLargeFiles() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let fifo = scope.directory + "/pipe"
        try #require(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let big = scope.directory + "/big.bin"
        writeBytes(big, [UInt8](repeating: 7, count: (1 << 20) + 1))
        defer { unlink(big) }
        let exact = scope.directory + "/exact.bin"
        writeBytes(exact, [UInt8](repeating: 7, count: 1 << 20))
        defer { unlink(exact) }

        let t0 = now()
        let e = try #require(refusal("rules:\n  - reply: {file: pipe}\n", baseDirectory: scope.directory))
        #expect(now() - t0 < 2)
        #expect(e.message.contains("is a FIFO (named pipe), not a regular file"), "\(e)")
        let l = try #require(refusal("rules:\n  - reply: {file: big.bin}\n", baseDirectory: scope.directory))
        #expect(l.message.contains("is 1048577 bytes, over the limit of 1 MiB"), "\(l)")
        let ok = try Script.parse(yaml: "rules:\n  - reply: {file: exact.bin}\n", baseDirectory: scope.directory)
        if case .answer(let a) = ok.rules[0].behaviour, case .reply(_, .bytes(let b)) = a.kind {
            #expect(b.count == 1 << 20)
        } else {
            Issue.record("exact.bin not read")
        }

        // The real binary: `--check` on a script naming the FIFO, and on the FIFO itself.
        let script = scope.file("fifo.yaml", "rules:\n  - match: any\n    reply: {file: pipe}\n")
        let t1 = now()
        let check = scope.ipcscope(["serve", "--script", script, "--check"], timeout: 10)
        #expect(now() - t1 < 5, "--check did not hang")
        #expect(check.exitStatus != 0 && check.exitStatus != nil)
        #expect(check.stderr.contains("\(script):3:19: expected a readable regular file"), "\(check.stderr)")
        #expect(check.stderr.contains("is a FIFO"))
        let t2 = now()
        let direct = scope.ipcscope(["serve", "--script", fifo, "--check"], timeout: 10)
        #expect(now() - t2 < 5, "--check on a FIFO did not hang")
        #expect(direct.exitStatus != 0 && direct.exitStatus != nil)
        #expect(direct.stderr.contains("\(fifo): the script is a FIFO (named pipe), not a regular file"), "\(direct.stderr)")
    }

    @Test("numbers in scripts are range-checked, never trapped on",
          arguments: [("rules:\n  - match: {function: 0x-5}\n    reply: {}\n", "function number"),
                      ("rules:\n  - match: {function: 99999999999999999999999}\n    reply: {}\n", "function number"),
                      ("rules:\n  - match: {size: \"-9223372036854775808..\"}\n    reply: {}\n", "range"),
                      ("rules:\n  - match: {size: \"..99999999999999999999999\"}\n    reply: {}\n", "range"),
                      ("rules:\n  - reply: {status: 2147483648}\n", "32-bit"),
                      ("rules:\n  - reply: {status: -9223372036854775808}\n", "32-bit"),
                      ("rules:\n  - reply: {text: a}\n    delay_ms: 1e300\n", "0 to 600000")])
    func numbers(_ yaml: String, _ expected: String) throws {
        let e = try #require(refusal(yaml))
        #expect(e.message.contains(expected), "\(e)")
    }
}
