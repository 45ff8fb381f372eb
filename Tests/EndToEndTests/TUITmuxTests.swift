// End-to-end tests of `ipcscope attach` in a real terminal: tmux runs it, `send-keys` types,
// `capture-pane -p` reads the screen. Every wait has a deadline; every tmux server is killed.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct TUITmuxTests {
    @Test func refusesWithoutATerminal() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let r = scope.ipcscope(["attach", "NoTerminal"], timeout: 10)
        #expect(r.exitStatus == 1)
        #expect(r.stderr.contains("ipcscope status NoTerminal"))
        #expect(r.stderr.contains("ipcscope watch NoTerminal"))
    }

    @Test func mutexHolderPayloadsResizeAndRestart() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("tui")
        // Attach first: it waits for the server.
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("waiting for service '\(name)'")
        #expect(ok, "attach waits for a server:\n\(screen)")
        var server = scope.startEchoServer(name, extra: ["--quiet"])
        (ok, screen) = tmux.waitFor("[LIVE]", "server pid \(server.pid)", "ALIVE")
        #expect(ok, "attaches when the server appears:\n\(screen)")

        // A helper holds the mutex: its pid and tid show up in the mutex pane.
        let helper = scope.spawn(helperPath, ["hold-mutex", name, "1.5"])
        #expect(helper.waitForOutput("held pid=", timeout: 10))
        let fields = helper.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "=" })
        let pid = try #require(fields.firstIndex(of: "pid").map { String(fields[$0 + 1]) })
        let tid = try #require(fields.firstIndex(of: "tid").map { String(fields[$0 + 1]) })
        (ok, screen) = tmux.waitFor("HELD pid \(pid) tid \(tid)")
        #expect(ok, "mutex pane shows the holder:\n\(screen)")
        helper.wait(timeout: 10)
        (ok, screen) = tmux.waitFor("│ free")
        #expect(ok, "mutex is free again:\n\(screen)")

        // A call with a known payload: its bytes in both dumps.
        let call = scope.ipcscope(["call", name, "--function", "9", "--text", "known-bytes:\\x01\\xff"], timeout: 10)
        #expect(call.exitStatus == 0, "\(call.stderr)")
        let known = "6b 6e 6f 77 6e 2d 62 79  74 65 73 3a 01 ff 00 00  |known-bytes:....|"
        (ok, screen) = tmux.waitFor("fn 9  14 bytes", "status 0  14 bytes")
        #expect(ok, "dumps show the call:\n\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).hasPrefix("00000000  " + known))
        #expect(lineAfter("─ Response ─", in: screen).hasPrefix("00000000  " + known))

        // The client pane sends a call typed with send-keys.
        tmux.keys("Tab", "Tab", "Tab")
        tmux.type("4 typed\\n")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("status 0 6 bytes", "fn 4  6 bytes")
        #expect(ok, "client pane call answered:\n\(screen)")
        #expect(lineAfter("─ Response ─", in: screen).hasPrefix("00000000  74 79 70 65 64 0a"))
        tmux.keys("Escape")

        // 80x24 keeps every pane usable.
        tmux.resize(width: 80, height: 24)
        (ok, screen) = tmux.waitFor("─ Request ─ seq", "─ Response ─ seq", "─ History", "─ Client", "Tab pane")
        #expect(ok, "usable at 80x24:\n\(screen)")
        #expect(!screen.contains("too small"))
        #expect(screen.split(separator: "\n").allSatisfy { $0.count <= 80 })
        tmux.resize(width: 120, height: 40)

        // The server dies, then a new one takes the section over: followed.
        server.signal(SIGKILL)
        server.wait(timeout: 5)
        (ok, screen) = tmux.waitFor("DEAD")
        #expect(ok, "death shown:\n\(screen)")
        server = scope.startEchoServer(name, extra: ["--quiet"])
        (ok, screen) = tmux.waitFor("server pid \(server.pid)", "ALIVE", "epoch 2", "restarts 1")
        #expect(ok, "restart followed:\n\(screen)")

        // A clean stop removes the object; a fresh server is attached to again.
        server.signal(SIGTERM)
        server.wait(timeout: 5)
        (ok, screen) = tmux.waitFor("GONE (object removed)")
        #expect(ok, "object removal shown:\n\(screen)")
        server = scope.startEchoServer(name, extra: ["--quiet"])
        (ok, screen) = tmux.waitFor("server pid \(server.pid)", "ALIVE", "[LIVE]")
        #expect(ok, "new object attached:\n\(screen)")
        tmux.keys("q")
    }
}
