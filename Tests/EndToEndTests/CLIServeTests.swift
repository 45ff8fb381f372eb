// `ipcscope serve --script` and `ipcscope call`, run as a user would: the built binary,
// real sections, real calls, output parsed back.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("CLI serve and call", .serialized)
struct CLIServeTests {
    static let script = """
        rules:
          - match: { function: 1, text: "ping" }
            reply: { status: 0, text: "pong" }
          - match: { function: [2, 3], hex: "00 ff" }
            reply: { status: 1, hex: "de ad be ef" }
          - match: { function: 4, prefix: "GET " }
            reply: { status: 2, echo: true }
          - match: { function: 4, contains: "needle" }
            reply: { status: 3, template: "f{function} {size}B {text}" }
          - match: { function: 5, regex: "^[0-9]+$" }
            reply: { status: 4, text: "digits" }
            delay_ms: 150
          - match: { function: 6, size: "2..4" }
            reply: { status: 5, file: answer.txt }
          - match: { function: 7 }
            cycle: [ {status: 0, text: a}, {status: 7, text: b} ]
          - match: { function: 9 }
            fault: never_answer
          - match: { function: 10 }
            fault: exit
            exit_code: 3
        """

    @Test("a script exercising every matcher, answer and fault kind against real calls")
    func everyRuleKind() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("script")
        _ = scope.file("answer.txt", "from file")
        let server = scope.startScriptedServer(name, script: Self.script, extra: ["--json"])
        #expect(server.stdout.contains("\"event\":\"serving\""), "\(server.stdout)\(server.stderr)")

        func call(_ f: Int, _ args: [String]) -> (status: Int?, text: String?, hex: String?, latency: Int?) {
            let (o, c) = scope.callJSON(name, ["-f", String(f)] + args)
            #expect(c.exitStatus == 0, "call -f \(f) \(args): \(c.stderr)")
            return (int(o?["status"]), o?["text"] as? String, o?["data_hex"] as? String, int(o?["latency_ns"]))
        }
        let ping = call(1, ["--text", "ping"])
        #expect(ping.status == 0 && ping.text == "pong")
        let hex = call(3, ["--hex", "00ff"])
        #expect(hex.status == 1 && hex.hex == "deadbeef")
        let echo = call(4, ["--text", "GET /index"])
        #expect(echo.status == 2 && echo.text == "GET /index")
        let tpl = call(4, ["--text", "a needle"])
        #expect(tpl.status == 3 && tpl.text == "f4 8B a needle")
        let slow = call(5, ["--text", "2024"])
        #expect(slow.status == 4 && slow.text == "digits")
        #expect((slow.latency ?? 0) >= 150_000_000, "delay_ms: 150 is honoured")
        let file = call(6, ["--text", "abc"])
        #expect(file.status == 5 && file.text == "from file")
        #expect(call(7, []).text == "a")
        #expect(call(7, []).status == 7)
        #expect(call(7, []).text == "a", "the cycle starts again")
        let nomatch = call(8, ["--text", "x"])
        #expect(nomatch.status == -3, "no rule: status -3")
        let notping = call(1, ["--text", "pingx"])
        #expect(notping.status == -3)

        // The log has one JSON line per call, with the rule that answered. A logging thread
        // writes the lines in batches: wait (bounded) until all of them are out.
        let calls = { jsonLines(server.stdout).filter { $0["event"] as? String == "call" } }
        #expect(waitUntil(timeout: 5, interval: 0.01) { calls().count >= 11 }, "\(server.stdout)")
        let log = calls()
        #expect(log.count == 11)
        #expect(int(log.first?["rule"]) == 1)
        #expect(log.last?["rule"] is NSNull, "no rule matched the last call")

        // exit while processing: the server dies; the client sees "server gone" promptly.
        let t1 = now()
        let (o, gone) = scope.callJSON(name, ["-f", "10", "--timeout", "20"])
        #expect(gone.exitStatus == 1)
        #expect(now() - t1 < 5, "server gone is reported promptly, not at the timeout")
        #expect(o?["code"] as? String == "serverGone", "\(gone.stdout) \(gone.stderr)")
        #expect(server.wait(timeout: 5) == 3, "the exit fault's exit code")
        #expect(scope.objectExists(name), "a crash leaves the section behind (stale)")
        #expect(jsonLines(server.stdout).last?["outcome"] as? String == "exit", "the call is logged before the exit")

        // never_answer (on a new server, taking the stale section over): the client times out,
        // exit 1 with one line saying what to do.
        let again = scope.startScriptedServer(name, script: Self.script)
        #expect(again.stdout.contains("took over"))
        let t0 = now()
        let never = scope.ipcscope(["call", name, "-f", "9", "--timeout", "0.4"])
        #expect(never.exitStatus == 1)
        #expect(now() - t0 < 5)
        #expect(never.stderr.contains("timed out") && never.stderr.contains("--timeout"))
        #expect(never.stderr.split(separator: "\n").count == 1)
        #expect(again.waitForOutput("fault=never_answer", timeout: 5))
    }

    @Test("a bad script is refused at start with line and column; --check only validates")
    func badScript() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("bad")
        let bad = scope.file("bad.yaml", "rules:\n  - match: { function: 1 }\n    fault: explode\n")
        let c = scope.ipcscope(["serve", name, "--script", bad], timeout: 10)
        #expect(c.exitStatus == 1)
        #expect(c.stderr.contains("bad.yaml:3:12: expected 'fault:' to be never_answer or exit, found 'explode'"), "\(c.stderr)")
        #expect(c.stderr.split(separator: "\n").count == 1)
        #expect(!scope.objectExists(name), "nothing was created")
        let check = scope.ipcscope(["serve", "--script", bad, "--check"])
        #expect(check.exitStatus == 1)
        #expect(check.stderr.contains(":3:12:"))
        let good = scope.file("good.yaml", Self.script)
        _ = scope.file("answer.txt", "x")
        let ok = scope.ipcscope(["serve", "--script", good, "--check"])
        #expect(ok.exitStatus == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("ok, 9 rules"))
    }

    @Test("SIGHUP reloads the script; a bad reload keeps the old one")
    func reload() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hup")
        let path = scope.file("script-\(name).yaml", "- match: any\n  reply: {text: one}\n")
        let server = scope.spawn(ipcscopePath, ["serve", name, "--script", path])
        #expect(server.waitForOutput("serving", timeout: 10))
        #expect(scope.callJSON(name, []).0?["text"] as? String == "one")
        _ = scope.file("script-\(name).yaml", "- match: any\n  reply: {text: two}\n")
        server.signal(SIGHUP)
        #expect(server.waitForOutput("reloaded", timeout: 5))
        #expect(scope.callJSON(name, []).0?["text"] as? String == "two")
        _ = scope.file("script-\(name).yaml", "- match: any\n  reply: {txt: three}\n")
        server.signal(SIGHUP)
        #expect(server.waitForOutput("reload refused", timeout: 5))
        #expect(server.stderr.contains(":2:11: unknown key 'txt'"), "\(server.stderr)")
        #expect(scope.callJSON(name, []).0?["text"] as? String == "two")
        server.signal(SIGINT)
        #expect(server.wait(timeout: 5) == 0)
        #expect(!scope.objectExists(name))
    }

    @Test("--step waits for Enter before answering; Ctrl-C stops a never_answer server")
    func stepAndInterrupt() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("step")
        let fifo = scope.directory + "/stdin.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let writer = open(fifo, O_RDWR)  // keeps the FIFO open without blocking
        defer { close(writer) }
        let server = scope.startScriptedServer(name, script: "- match: {function: 9}\n  fault: never_answer\n- match: any\n  reply: {echo: true}\n",
                                               extra: ["--step"], stdinPath: fifo)
        let call = scope.spawn(ipcscopePath, ["call", name, "--text", "hi", "--as-text", "--timeout", "10"])
        #expect(server.waitForOutput("step: call", timeout: 5))
        sleepSeconds(0.3)
        #expect(!call.hasExited, "the call waits for Enter")
        _ = write(writer, "\n", 1)
        #expect(call.wait(timeout: 5) == 0)
        #expect(call.stdout.contains("hi"))
        // A call stuck in never_answer (after its step) does not keep Ctrl-C from working.
        let stuck = scope.spawn(ipcscopePath, ["call", name, "-f", "9", "--timeout", "10", "--json"])
        #expect(server.waitForOutput("function=9", timeout: 5))
        _ = write(writer, "\n", 1)
        sleepSeconds(0.2)
        server.signal(SIGINT)
        #expect(server.wait(timeout: 5) == 0, "Ctrl-C stops the server")
        #expect(stuck.wait(timeout: 5) == 0, "the waiting client is answered")
        #expect(int(jsonObject(stuck.stdout)?["status"]) == -4, "status -4: server shutting down")
    }

    @Test("call: payload from --hex (pasted hexdump -C), --file, stdin; exit codes; --raw")
    func callOptions() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("call")
        _ = scope.startScriptedServer(name, script: "- match: {function: 2}\n  reply: {status: 6, text: no}\n- match: any\n  reply: {echo: true}\n")
        let bytes = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let bin = scope.directory + "/payload.bin"
        writeBytes(bin, bytes)
        let dump = scope.run("/usr/bin/hexdump", ["-C", bin]).stdout
        let pasted = scope.callJSON(name, ["--hex", dump]).0
        #expect(pasted?["data_hex"] as? String == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(scope.callJSON(name, ["--file", bin]).0?["size"] as? Int == 40)
        let stdin = scope.ipcscope(["call", name, "--raw"], stdinPath: bin)
        #expect(readBytes(stdin.outPath) == bytes, "--raw writes exactly the response bytes")
        #expect(scope.callJSON(name, ["--text", "a\\x00b\\n"]).0?["data_hex"] as? String == "6100620a")
        // Exit codes: status is not failure unless asked; failures are 1; usage is 64.
        #expect(scope.ipcscope(["call", name, "-f", "2"]).exitStatus == 0)
        #expect(scope.ipcscope(["call", name, "-f", "2", "--status-exit-code", "7"]).exitStatus == 7)
        #expect(scope.ipcscope(["call", name, "-f", "1", "--status-exit-code", "7"]).exitStatus == 0)
        let missing = scope.ipcscope(["call", scope.serviceName("nobody")])
        #expect(missing.exitStatus == 1)
        #expect(missing.stderr.contains("ipcscope list"))
        #expect(scope.ipcscope(["call", name, "--hex", "zz"]).exitStatus == 64)
        #expect(scope.ipcscope(["call", name, "--text", "a", "--hex", "61"]).exitStatus == 64)
        let big = scope.ipcscope(["call", name, "--text", String(repeating: "x", count: 4097)])
        #expect(big.exitStatus == 1 && big.stderr.contains("request capacity"))
        // --repeat with --json: JSON Lines, one per call.
        let rep = scope.ipcscope(["call", name, "--text", "r", "--repeat", "5", "--json"])
        let lines = jsonLines(rep.stdout)
        #expect(lines.count == 5)
        #expect(Set(lines.compactMap { int($0["seq"]) }).count == 5)
        // No colour when stdout is not a terminal (always here), and never with NO_COLOR.
        #expect(!scope.ipcscope(["call", name, "-f", "2"]).stdout.contains("\u{1b}["))
    }

    @Test("--help on every verb, with an example; shell completions")
    func help() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        for verb in ["serve", "call", "list", "clean", "status", "watch", "bench"] {
            let h = scope.ipcscope([verb, "--help"])
            #expect(h.exitStatus == 0, "\(verb)")
            #expect(h.stdout.contains("Example"), "\(verb) --help has an example")
        }
        let bash = scope.ipcscope(["--generate-completion-script", "bash"])
        #expect(bash.exitStatus == 0 && bash.stdout.contains("watch"))
    }
}
