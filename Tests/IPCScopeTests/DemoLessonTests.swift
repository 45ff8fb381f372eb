// Every lesson in demo/ runs unattended with --check, so a lesson can never rot: each
// asserts what it teaches (states, mutex owner and counters, recovery, takeover, ...).
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

/// The repository's root, from this file's path (Tests/IPCScopeTests/DemoLessonTests.swift).
private let repositoryRoot: String = {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
    return path
}()

@Suite("Demo lessons", .serialized)
struct DemoLessonTests {
    /// Runs `demo/<script> --check` with the built binaries; every check must pass.
    private func runLesson(_ script: String, timeout: Double = 60) {
        let scope = TestScope()
        defer { scope.cleanup() }
        let path = repositoryRoot + "/demo/" + script
        #expect(access(path, X_OK) == 0, "\(path) is missing or not executable")
        let lesson = scope.run("/bin/bash", [path, "--check"], timeout: timeout,
                               environment: ["IPCSCOPE_BIN": productsDirectory])
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
}
