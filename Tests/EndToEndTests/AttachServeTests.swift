// `ipcscope attach NAME --serve script.yaml`: the scripted server runs in-process, shown
// live, with step mode and breakpoints. Driven through tmux like a person would.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct AttachServeTests {
    @Test func stepModeAndBreakpointsHoldCallsUntilAKey() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("serve")
        let script = scope.file("replies.yaml", """
            rules:
              - name: greet
                match: {function: 1}
                reply: {status: 0, text: "hi there"}
              - name: stock
                match: {function: 3}
                reply: {status: 7, text: "none left"}
            """)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --serve \(script)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("serving in-process", "[LIVE]", "ALIVE")
        #expect(ok, "serves in-process:\n\(screen)")

        // Not held: answered from the script at once.
        var call = scope.ipcscope(["call", name, "--function", "1", "--text", "x", "--timeout", "5"], timeout: 10)
        #expect(call.exitStatus == 0)
        #expect(call.stdout.contains("status 0, 8 bytes"))

        // Step mode: the call waits for `n`.
        tmux.keys("s")
        (ok, screen) = tmux.waitFor("flags step")
        #expect(ok, "step flag shown:\n\(screen)")
        let held = scope.spawn(ipcscopePath, ["call", name, "--function", "1", "--text", "step me", "--timeout", "10"])
        (ok, screen) = tmux.waitFor("HELD seq 2 fn 1 7 bytes (step mode)")
        #expect(ok, "call held:\n\(screen)")
        #expect(!held.hasExited)
        tmux.keys("n")
        #expect(held.wait(timeout: 5) == 0)
        #expect(held.stdout.contains("status 0, 8 bytes"))
        tmux.keys("s")  // step off

        // Breakpoint on function 3: fn 1 passes, fn 3 is held until `c`.
        tmux.keys("b")
        tmux.type("fn=3")
        tmux.keys("Enter")
        call = scope.ipcscope(["call", name, "--function", "1", "--timeout", "5"], timeout: 10)
        #expect(call.exitStatus == 0)
        let bp = scope.spawn(ipcscopePath, ["call", name, "--function", "3", "--timeout", "10"])
        (ok, screen) = tmux.waitFor("HELD seq 4 fn 3 0 bytes (breakpoint fn=3)")
        #expect(ok, "breakpoint hit:\n\(screen)")
        tmux.keys("c")
        #expect(bp.wait(timeout: 5) == 0)
        #expect(bp.stdout.contains("status 7, 9 bytes"))
        tmux.keys("q")
    }

    @Test("serve --script --tui: the same server mode, with the serve verb's section options")
    func serveTUI() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("servetui")
        let script = scope.file("tui.yaml", """
            rules:
              - match: {function: any}
                reply: {status: 5, template: "f{function}:{text}"}
            """)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) serve \(name) --script \(script) --tui --request-capacity 64")
        defer { tmux.kill() }
        let (ok, screen) = tmux.waitFor("serving in-process", "ALIVE")
        #expect(ok, "serves in-process:\n\(screen)")
        let call = scope.ipcscope(["call", name, "--function", "2", "--text", "abc", "--timeout", "5"], timeout: 10)
        #expect(call.exitStatus == 0)
        #expect(call.stdout.contains("status 5, 6 bytes"), "\(call.stdout)")
        // The capacity option reached the section: 65 bytes is refused before sending.
        let big = scope.ipcscope(["call", name, "--text", String(repeating: "x", count: 65)], timeout: 10)
        #expect(big.exitStatus == 1)
        #expect(big.stderr.contains("request capacity of 64"), "\(big.stderr)")
        tmux.keys("q")
        #expect(waitUntil(timeout: 5) { !scope.objectExists(name) }, "quitting stops the server and removes the section")
        // Without a terminal, --tui says what to do instead.
        let noTTY = scope.ipcscope(["serve", scope.serviceName("x"), "--echo", "--tui"], timeout: 10)
        #expect(noTTY.exitStatus == 1)
        #expect(noTTY.stderr.contains("needs a terminal"))
    }
}
