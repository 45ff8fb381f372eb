// Every lesson in demo/ runs unattended with --check, so a lesson can never rot: each
// asserts what it teaches (states, mutex owner and counters, recovery, takeover, ...).
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport


@Suite("Demo lessons", .serialized)
struct DemoLessonTests {
    /// Runs `demo/<script> --check` with the built binaries; every check must pass.
    private func runLesson(_ script: String, timeout: Double = 60) {
        let scope = TestScope()
        defer { scope.cleanup() }
        let path = repositoryRoot + "/demo/" + script
        #expect(access(path, X_OK) == 0, "\(path) is missing or not executable")
        let lesson = scope.run("/bin/bash", [path, "--check"], timeout: timeout, environment: ["IPCSCOPE_BIN": productsDirectory])
        let transcript = lesson.stdout + lesson.stderr
        #expect(lesson.exitStatus == 0, "\(script) --check failed:\n\(transcript)")
        #expect(lesson.stdout.contains("every check passed"), "\(transcript)")
        #expect(!lesson.stdout.contains("FAIL:"), "\(transcript)")
        #expect(lesson.stdout.contains("PASS:"))
        // The lesson cleaned up after itself: its service is named lessonN-<pid of its bash>.
        let service = String(script.prefix(while: { $0 != "-" })) + "-\(lesson.pid)"
        #expect(!scope.objectExists(service), "/dev/shm/ipcscope.\(service) is left")
        #expect(processes(containing: service).isEmpty, "processes left by \(script): \(processes(containing: service))")
    }

    @Test("lesson 1: one call, step by step") func lesson1() { runLesson("lesson1-one-call.sh") }
    @Test("lesson 2: two clients contend for the mutex") func lesson2() { runLesson("lesson2-contention.sh") }
    @Test("lesson 3: a client dies holding the mutex") func lesson3() { runLesson("lesson3-client-dies.sh") }
    @Test("lesson 4: the server dies mid-call") func lesson4() { runLesson("lesson4-server-dies.sh") }
    @Test("lesson 5: a mock server from a script tests a client") func lesson5() { runLesson("lesson5-mock-server.sh") }
    @Test("lesson 6: a C program talks to the Swift server") func lesson6() { runLesson("lesson6-c-program.sh") }
    @Test("lesson 9: a C struct through the section, built, shown and matched as fields") func lesson9() { runLesson("lesson9-typed-payloads.sh") }
    @Test("lesson 10: the demo's put struct in the request slot, as bytes and as fields, padding included")
    func lesson10() { runLesson("lesson10-struct-in-the-slot.sh") }
    @Test("lesson 11: a service on another machine (the lesson's own sshd on 127.0.0.1), read with --host")
    func lesson11() { runLesson("lesson11-another-machine.sh", timeout: 180) }

    // MARK: - the interactive mode, as a teacher uses it

    @Test("lesson 1 interactive: tmux panes; Enter in the client, Enter in the server; detach cleans up")
    func lesson1Interactive() throws {
        let scope = TestScope()
        let outer = "ipcscope-lesson-outer-\(getpid())", inner = "ipcscope-lesson-inner-\(getpid())"
        func tmux(_ socket: String, _ arguments: [String]) -> String {
            scope.run("/usr/bin/env", ["tmux", "-L", socket] + arguments, timeout: 10).stdout
        }
        defer {
            _ = tmux(outer, ["kill-server"])
            _ = tmux(inner, ["kill-server"])
            scope.cleanup()
        }
        let exitFile = scope.directory + "/lesson.exit"
        let command = "env -u TMUX IPCSCOPE_BIN='\(productsDirectory)' LESSON_TMUX_SOCKET=\(inner) bash '\(repositoryRoot)/demo/lesson1-one-call.sh'; echo $? > '\(exitFile)'; sleep 60"
        _ = tmux(outer, ["new-session", "-d", "-s", "teacher", "-x", "160", "-y", "48", command])

        // The lesson's session: three panes, titled, the client's command typed and waiting.
        var panes: [String: String] = [:]  // title prefix -> pane id
        var session = ""
        let ready = waitUntil(timeout: 20, interval: 0.2) {
            session = tmux(inner, ["list-sessions", "-F", "#S"]).split(separator: "\n").map(String.init).first { $0.hasPrefix("lesson1-") } ?? ""
            guard !session.isEmpty else { return false }
            panes = [:]
            for line in tmux(inner, ["list-panes", "-s", "-t", session, "-F", "#{pane_id} #{pane_title}"]).split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
                if parts.count == 2 { panes[String(parts[1].prefix(while: { $0 != ":" }))] = parts[0] }
            }
            guard let client = panes["client"] else { return false }
            return tmux(inner, ["capture-pane", "-p", "-J", "-t", client]).contains("--text 'hello, class'")
        }
        try #require(ready, "the lesson's tmux session did not come up: \(panes)")
        #expect(Set(panes.keys) == ["inspector", "server", "client"], "\(panes)")
        let client = panes["client"]!, server = panes["server"]!, inspector = panes["inspector"]!
        func screen(_ pane: String) -> String { tmux(inner, ["capture-pane", "-p", "-J", "-t", pane]) }

        _ = tmux(inner, ["send-keys", "-t", client, "Enter"])
        #expect(waitUntil(timeout: 10, interval: 0.1) { screen(server).contains("step: call seq=1") }, "\(screen(server))")
        #expect(waitUntil(timeout: 5, interval: 0.1) { screen(inspector).contains("PROCESSING") }, "\(screen(inspector))")
        _ = tmux(inner, ["send-keys", "-t", server, "Enter"])
        #expect(waitUntil(timeout: 10, interval: 0.1) { screen(client).contains("status 0, 12 bytes") }, "\(screen(client))")

        // The teacher leaves with Ctrl-b d (typed into the terminal that runs the lesson).
        // (Two key presses, as typed: sent together, tmux 3.3 does not always take "d" as the command.)
        // On a loaded machine a key press can be lost between the two tmux servers: press again,
        // as a teacher would, up to four times.
        var ended = false
        for _ in 0..<4 where !ended {
            _ = tmux(outer, ["send-keys", "-t", "teacher", "C-b"])
            sleepSeconds(0.3)
            _ = tmux(outer, ["send-keys", "-t", "teacher", "d"])
            ended = waitUntil(timeout: 4, interval: 0.1) { !readFile(exitFile).isEmpty }
        }
        #expect(ended,
                "the lesson did not end after the detach; its terminal:\n\(tmux(outer, ["capture-pane", "-p", "-J", "-t", "teacher"]))")
        #expect(readFile(exitFile).trimmingWhitespace == "0")
        #expect(!tmux(inner, ["list-sessions", "-F", "#S"]).contains(session), "the lesson's tmux session is left")
        #expect(!scope.objectExists(session), "/dev/shm/ipcscope.\(session) is left")
        #expect(waitUntil(timeout: 5) { processes(containing: session).isEmpty }, "processes left: \(processes(containing: session))")
    }
}
