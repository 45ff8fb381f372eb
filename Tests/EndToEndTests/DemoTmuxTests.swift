// `ipcscope demo` as a newcomer runs it: in a terminal (tmux), with the inspector.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

extension DemoTests {
    /// Runs tmux on a private socket; returns its stdout.
    private func tmux(_ scope: TestScope, _ socket: String, _ arguments: [String]) -> String {
        scope.run("/usr/bin/env", ["tmux", "-L", socket] + arguments, timeout: 10).stdout
    }

    /// The number of calls the inspector's history header shows ("History  127 calls"), if any.
    private func historyCalls(_ screen: String) -> Int? {
        for line in screen.split(separator: "\n") {
            guard let r = line.firstRange(of: "History") else { continue }
            // `History  seen N calls since attach  kept …`
            let words = line[r.upperBound...].split(separator: " ")
            if words.count >= 3, words[0] == "seen", words[2].hasPrefix("call"), let n = Int(words[1]) { return n }
        }
        return nil
    }

    @Test("demo in tmux: calls arrive in the history; q stops everything and removes the section")
    func inTmux() throws {
        let scope = TestScope()
        let socket = "ipcscope-demo-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            _ = tmux(scope, socket, ["kill-server"])
            scope.cleanup()
        }
        let name = scope.serviceName("demo")
        let exitFile = scope.directory + "/demo.exit"
        let command = "'\(ipcscopePath)' demo --name \(name); echo $? > '\(exitFile)'; sleep 60"
        let started = scope.run("/usr/bin/env", ["tmux", "-L", socket, "new-session", "-d", "-x", "120", "-y", "40", command], timeout: 10)
        try #require(started.exitStatus == 0, "tmux new-session failed: \(started.stderr)")

        var screen = ""
        let arrived = waitUntil(timeout: 30, interval: 0.2) {
            screen = tmux(scope, socket, ["capture-pane", "-p"])
            return (historyCalls(screen) ?? 0) >= 5
        }
        #expect(arrived, "no calls in the history after 30 s; the screen:\n\(screen)")
        #expect(screen.contains(name), "the inspector shows the demo's service")
        #expect(processes(containing: "demo-client \(name)").count == 3, "three client processes")
        #expect(scope.objectExists(name))

        _ = tmux(scope, socket, ["send-keys", "q"])
        let exited = waitUntil(timeout: 15, interval: 0.1) { !readFile(exitFile).isEmpty }
        #expect(exited, "the demo did not end after q; the screen:\n\(tmux(scope, socket, ["capture-pane", "-p"]))")
        #expect(readFile(exitFile).trimmingWhitespace == "0")
        #expect(tmux(scope, socket, ["capture-pane", "-p"]).contains("demo stopped"))
        #expect(!scope.objectExists(name), "/dev/shm/ipcscope.\(name) is left")
        #expect(waitUntil(timeout: 5) { processes(containing: "demo-client \(name)").isEmpty }, "client processes are left")
        #expect(processes(containing: "\(ipcscopePath) demo --name \(name)").isEmpty, "the demo process is left")
    }

    @Test("demo in tmux: its inspector decodes put and get through the demo's schema, with no --schema and no config")
    func inTmuxDecodesPutGet() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        // TmuxSession points XDG_CONFIG_HOME at the scope's empty folder: the schema is the demo's own.
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) demo --name \(name) --clients 2")
        defer { tmux.kill() }
        func lines(_ screen: String) -> [Substring] { screen.split(separator: "\n") }
        // A put caught in the request slot: its three fields, each beside its own bytes.
        let (put, putScreen) = tmux.waitFor("fn put (1)", timeout: 30)
        var screen = putScreen
        let sawPut = put && waitUntil(timeout: 30, interval: 0.05) {
            screen = tmux.capture()
            let l = lines(screen)
            return screen.contains("fn put (1)")
                && l.contains { $0.contains(" key ") && $0.contains("\"user:") && $0.contains("75 73 65 72 3a") }
                && l.contains { $0.contains(" 16  flags ") }
                && l.contains { $0.contains(" 24  value ") }
        }
        #expect(sawPut, "the request pane shows put's fields at offsets 0, 16, 24:\n\(screen)")
        // A get answered: value, version, last.
        let sawGet = waitUntil(timeout: 30, interval: 0.05) {
            screen = tmux.capture()
            let l = lines(screen)
            return l.contains { $0.contains("fn get (2)") }
                && l.contains { $0.contains(" 0  value ") } && l.contains { $0.contains(" 8  version ") }
                && l.contains { $0.contains(" 12  last ") && ($0.contains("created") || $0.contains("added") || $0.contains("replaced")) }
        }
        #expect(sawGet, "the response pane shows get's answer as fields:\n\(screen)")
        // The history names the functions.
        #expect(lines(screen).contains { $0.contains(" put 75 73 65 72 3a") || $0.contains(" get 75 73 65 72 3a") },
                "the history names put/get:\n\(screen)")
        tmux.keys("q")
        #expect(waitUntil(timeout: 15) { !scope.objectExists(name) }, "q stops the demo")
        #expect(waitUntil(timeout: 5) { processes(containing: "demo-client \(name)").isEmpty })
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}
