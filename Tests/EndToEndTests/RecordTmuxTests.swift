// `ipcscope attach --file` in a real terminal: a recording made by `ipcscope record` is opened
// under tmux and stepped through (next, previous, jump to a sequence number).
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct RecordTmuxTests {
    @Test func attachFileStepsToAKnownCall() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("recui")
        _ = scope.startScriptedServer(name, script: recordScript, extra: ["--request-capacity", "64", "--response-capacity", "64"])
        let file = scope.directory + "/steps.pcapng"
        let recorder = scope.startRecorder(name, file, ["--count", "4"])
        let calls = [["-f", "1", "--text", "ping"], ["-f", "2", "--text", "second call"], ["-f", "3"], ["-f", "9", "--text", "unknown"]]
        var pids: [Int32] = []
        for c in calls {
            let p = scope.ipcscope(["call", name] + c)
            #expect(p.exitStatus == 0, "\(p.stderr)")
            pids.append(p.pid)
        }
        #expect(recorder.wait(timeout: 15) == 0, "\(recorder.stderr)")

        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach --file \(file)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("recording: call 1 of 4, seq 1, function 1, status 0", "fn 1  4 bytes", "[RECORDING] \(file)")
        #expect(ok, "opens on the first call:\n\(screen)")
        // The header says what is shown is a file, not a live server that would be dead.
        #expect(screen.contains("file \(file)") && screen.contains("recording call 1 of 4, epoch 1, server pid not recorded"), "\(screen)")
        #expect(!screen.contains("DEAD") && !screen.contains("server none") && !screen.contains("[LIVE]"), "\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).contains("70 69 6e 67") && lineAfter("─ Response ─", in: screen).contains("|pong"))

        tmux.keys("n")
        (ok, screen) = tmux.waitFor("recording: call 2 of 4, seq 2, function 2, status 0, epoch 1, client \(pids[1])/\(pids[1])")
        #expect(ok, "n steps to the next call:\n\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).contains("|second call"), "\(screen)")
        #expect(lineAfter("─ Response ─", in: screen).contains("|second call"), "\(screen)")

        tmux.keys("g")
        tmux.type("4")
        (ok, screen) = tmux.waitFor("jump to seq: 4_")
        #expect(ok, "g asks for a sequence number:\n\(screen)")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("recording: call 4 of 4, seq 4, function 9, status -3", "Response ─ seq 4  status -3")
        #expect(ok, "jumps to seq 4:\n\(screen)")
        #expect(screen.contains("recording call 4 of 4, epoch 1"), "the header follows the call:\n\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).contains("|unknown"), "\(screen)")

        tmux.keys("p")
        (ok, screen) = tmux.waitFor("recording: call 3 of 4, seq 3, function 3, status 7", "status 7  4 bytes")
        #expect(ok, "p steps back:\n\(screen)")
        #expect(lineAfter("─ Response ─", in: screen).hasPrefix("00000000  00 ff 10 80"), "\(screen)")

        tmux.keys("g")
        tmux.type("99")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("no call with seq 99 or later in this recording")
        #expect(ok, "a jump past the end says so:\n\(screen)")
        #expect(screen.contains("status 7  4 bytes"), "stays on the call shown")

        tmux.keys("q")
        #expect(waitUntil(timeout: 10) { !tmux.capture().contains("recording: call") }, "q quits")
    }

    @Test func attachFileDecodesWithASchema() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        // One set_value call as `watch --json` writes it: id 3, value 2.5, name "pump"; ok, previous 1.5.
        let request = "0300000000000000" + "0000000000000440" + "70756d70" + String(repeating: "00", count: 12)
        let response = "0100000000000000" + "000000000000f83f"
        let file = scope.file("calls.jsonl", """
            {"event":"call","seq":5,"function":3,"status":0,"request_size":32,"response_size":16,"client_pid":77,"request_hex":"\(request)","response_hex":"\(response)"}

            """)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach --file \(file) --schema \(schema)")
        defer { tmux.kill() }
        let (ok, screen) = tmux.waitFor("[RECORDING] \(file)", "recording call 1 of 1, epoch 0, server pid not recorded",
                                        "fn set_value (3)", ">   0  id     3", "value  2.5", "\"pump\"", ">   0  ok        true", "previous  1.5")
        #expect(ok, "the recorded call is decoded through the schema:\n\(screen)")
        tmux.keys("q")
    }
}
