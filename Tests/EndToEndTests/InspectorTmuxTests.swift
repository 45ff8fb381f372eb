// `ipcscope attach` in a real terminal, as a new user drives it: whole calls picked from the
// history and exported, held calls answered from the client pane, a paused screen whose ages
// stand still. tmux runs it; every wait has a deadline.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct InspectorTmuxTests {
    @Test func wholeCallsHeldCallsExportAndPause() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("insp")
        // A 1 s timeout for the pane's calls: a held call must still wait past it.
        let tmux = TmuxSession(scope, command: "sh -c 'cd \(scope.directory) && exec \(ipcscopePath) attach \(name) --serve-echo --call-timeout 1 --history 50'")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("serving in-process", "[LIVE]", "ALIVE", "i client")
        #expect(ok, "serves in-process:\n\(screen)")
        #expect(screen.contains("kept 0/50"), "the history bound is shown:\n\(screen)")

        // One key reaches the client pane; a call longer than the trace's 16 bytes.
        let payload = "a call longer than sixteen bytes"
        tmux.keys("i")
        tmux.type("2 " + payload)
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("seq 1 status 0 \(payload.utf8.count) bytes", "kept 1/50, 1 whole")
        #expect(ok, "answered and kept whole:\n\(screen)")
        #expect(screen.contains("echo"), "the rule column says who answered:\n\(screen)")

        // Into the history (Esc twice leaves the pane), select the call, show it whole.
        tmux.keys("Escape", "Tab", "Tab", "Up", "Enter")
        (ok, screen) = tmux.waitFor("[CALL seq 1]", "CALL seq 1  fn 2  \(payload.utf8.count) bytes")
        #expect(ok, "the call is shown in the dump panes:\n\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).hasPrefix("00000000  61 20 63 61 6c 6c 20 6c  6f 6e 67 65 72 20 74 68  |a call longer th|"), "\(screen)")
        #expect(screen.contains("|an sixteen bytes|"), "the bytes past the trace's 16:\n\(screen)")

        // x writes the selected call as JSON Lines in the working directory.
        tmux.keys("x")
        let file = scope.directory + "/ipcscope-\(name)-seq1.jsonl"
        (ok, screen) = tmux.waitFor("wrote 1 call as JSON Lines to \(file)")
        #expect(ok, "export reported:\n\(screen)")
        let line = readFile(file)
        let hex = payload.utf8.map { String($0, radix: 16) }.joined()
        #expect(line.hasPrefix("{\"event\":\"call\",\"seq\":1,\"function\":2,"), "\(line)")
        #expect(line.contains("\"request_hex\":\"\(hex)\"") && line.contains("\"response_hex\":\"\(hex)\""), "\(line)")
        #expect(line.contains("\"rule\":\"echo\""))
        tmux.keys("l")
        ok = waitUntil(timeout: 10, interval: 0.05) { screen = tmux.capture(); return !screen.contains("[CALL seq") }
        #expect(ok && screen.contains("[LIVE]"), "back to live:\n\(screen)")

        // Step mode, then a call from the pane: `n` is text there, Ctrl-N answers, and the
        // call waited past its 1 s timeout because it was held.
        tmux.keys("s")
        (ok, screen) = tmux.waitFor("STEP")
        #expect(ok, "step mode in the header:\n\(screen)")
        tmux.keys("i")
        tmux.type("3 held")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("HELD seq 2 fn 3 4 bytes (step mode) ^N answers")
        #expect(ok, "held, with the keys that work in the pane:\n\(screen)")
        sleepSeconds(1.5)
        tmux.type("n")
        (ok, screen) = tmux.waitFor("text> n_")
        #expect(ok, "n is typed into the pane:\n\(screen)")
        tmux.keys("C-n")
        (ok, screen) = tmux.waitFor("seq 2 status 0 4 bytes")
        #expect(ok, "answered by Ctrl-N after more than the timeout:\n\(screen)")
        tmux.keys("C-r", "Escape", "Escape")

        // Paused: the heartbeat's age stands still.
        tmux.keys("Space")
        (ok, screen) = tmux.waitFor("[PAUSED] ages frozen")
        #expect(ok, "paused:\n\(screen)")
        let before = screen.split(separator: "\n").first { $0.contains("heartbeat") }.map(String.init) ?? "?"
        sleepSeconds(1.2)
        let after = tmux.capture().split(separator: "\n").first { $0.contains("heartbeat") }.map(String.init) ?? "!"
        #expect(before == after, "ages frozen while paused")
        tmux.keys("q")
    }

    @Test func escCancelsAHeldPaneCallAndTheServiceGoesOn() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cncl")
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --serve-echo")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("serving in-process", "[LIVE]")
        #expect(ok, "serves in-process:\n\(screen)")
        tmux.keys("s")
        (ok, screen) = tmux.waitFor("STEP")
        #expect(ok, "step mode:\n\(screen)")
        tmux.keys("i")
        tmux.type("3 held")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("HELD seq 1 fn 3 4 bytes", "Esc cancels", "calling...")
        #expect(ok, "the pane's call is held, and says how to give it up:\n\(screen)")
        tmux.keys("Escape")
        (ok, screen) = tmux.waitFor("fn 3 failed: cancelled: the in-process")
        #expect(ok, "Esc gives the call up:\n\(screen)")
        #expect(!screen.contains("calling...") && !screen.contains("HELD seq 1"), "\(screen)")
        // The client finished its call: the mutex is free and the slot back to IDLE.
        let status = scope.ipcscope(["status", name], timeout: 10)
        #expect(status.stdout.contains("free") && status.stdout.contains("IDLE"), "\(status.stdout)")
        // Another client is served (held in its turn by step mode, answered with ^N).
        let other = scope.spawn(ipcscopePath, ["call", name, "--function", "2", "--text", "after the cancel", "--timeout", "20"])
        (ok, screen) = tmux.waitFor("HELD seq 2 fn 2 16 bytes")
        #expect(ok, "the next call reaches the server:\n\(screen)")
        tmux.keys("C-n")
        #expect(other.wait(timeout: 15) == 0, "\(other.stderr)")
        #expect(other.stdout.contains("after the cancel"), "\(other.stdout)")
        // The pane calls again too.
        tmux.keys("C-r")
        tmux.type("4 again")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("seq 3 status 0 5 bytes")
        #expect(ok, "the pane's next call is answered:\n\(screen)")
        tmux.keys("C-c")
    }

    @Test func escGivesUpAPaneCallToAnotherServer() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cnex")
        let script = scope.file("slow.yaml", """
            rules:
              - match: {function: 3}
                delay_ms: 4000
                reply: {text: "slow answer"}
              - match: {}
                reply: {echo: true}
            """)
        let server = scope.spawn(ipcscopePath, ["serve", name, "--script", script])
        #expect(server.waitForOutput("serving", timeout: 10), "\(server.stderr)")
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]", "Client")
        #expect(ok, "attached:\n\(screen)")
        tmux.keys("i")
        tmux.type("3 slow")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("calling...  Esc cancels")
        #expect(ok, "the call waits and says how to give it up:\n\(screen)")
        let pressed = now()
        tmux.keys("Escape")
        (ok, screen) = tmux.waitFor("fn 3 failed: cancelled")
        #expect(ok, "Esc gives the call up:\n\(screen)")
        #expect(now() - pressed < 3.5, "given up before the 4 s rule answered")
        // The server still answers the request it got; the pane's next call gets its own answer.
        tmux.type("2 next")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("status 0 4 bytes")
        #expect(ok, "the next call is answered with its own bytes:\n\(screen)")
        tmux.keys("q")
        server.signal(SIGTERM)
        _ = server.wait(timeout: 10)
    }

    @Test func escDoesNotLetGoAHeldCallWhoseRuleIsAFault() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cnfl")
        let script = scope.file("exit.yaml", """
            rules:
              - match: {function: 7}
                fault: exit
            """)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --serve \(script)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("serving in-process", "[LIVE]")
        #expect(ok, "serves in-process:\n\(screen)")
        tmux.keys("s")
        (ok, screen) = tmux.waitFor("STEP")
        tmux.keys("i")
        tmux.type("7 boom")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("HELD seq 1 fn 7")
        #expect(ok && !screen.contains("Esc cancels"), "held, and no cancel is offered:\n\(screen)")
        tmux.keys("Escape")
        (ok, screen) = tmux.waitFor("! call 1 cannot be given up: letting i", "fault 'exit 3'")
        #expect(ok, "the fault is not run by a cancel:\n\(screen)")
        #expect(screen.contains("HELD seq 1") && screen.contains("[LIVE]"), "still held, the inspector still runs:\n\(screen)")
        tmux.keys("C-c")
    }

    @Test func aPaneCallThatTimesOutSaysHowToWaitLonger() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hang")
        let script = scope.file("hang.yaml", """
            rules:
              - match: {function: 5}
                fault: never_answer
            """)
        let server = scope.spawn(ipcscopePath, ["serve", name, "--script", script])
        #expect(server.waitForOutput("serving", timeout: 10))
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --call-timeout 1")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]", "timeout 1.0s")
        #expect(ok, "the pane shows its timeout:\n\(screen)")
        tmux.keys("i")
        tmux.type("5 anyone?")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("failed: no answer within 1.0s", "'timeout 30s'", timeout: 8)
        #expect(ok, "the pane's own remedy, not a --timeout flag it does not have:\n\(screen)")
        #expect(!screen.contains("try a longer --timeout"))
        tmux.keys("C-u")
        tmux.type("timeout 30s")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("calls now wait at most 30.0s", "timeout 30.0s")
        #expect(ok, "set from the pane:\n\(screen)")
        tmux.keys("C-c")
        server.killAndReap()
    }
}
