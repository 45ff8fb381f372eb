// IPCScopeProcess: processes started through swift-subprocess from synchronous code, as the
// tests, the benchmark, the demo and the torture driver start theirs.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeProcess
import Synchronization
import Testing
import TestSupport

@Suite("Starting processes", .serialized)
struct ProcessLaunchTests {
    @Test("the exit code, and the signal that ended a process, are reported")
    func exitAndSignal() throws {
        let three = try StartedProcess.start(Launch("/bin/sh", ["-c", "exit 3"]))
        #expect(three.wait(timeout: 10) == .exited(3))
        let killed = try StartedProcess.start(Launch("/bin/sh", ["-c", "kill -TERM $$; sleep 5"]))
        #expect(killed.wait(timeout: 10) == .signaled(SIGTERM))
        #expect(killed.termination?.code == 128 + SIGTERM)
        #expect(!killed.send(SIGKILL), "no signal goes to a process that has ended")
        let sleeper = try StartedProcess.start(Launch("/bin/sleep", ["30"]))
        #expect(sleeper.wait(timeout: 0.1) == nil)
        #expect(sleeper.kill(timeout: 10) == .signaled(SIGKILL))
    }

    @Test("stdout truncates, stderr appends, 2>&1 shares one file, environment additions arrive")
    func redirectsAndEnvironment() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let out = scope.file("out", "old output\n"), err = scope.file("err", "old error\n")
        let input = scope.file("in", "from stdin\n")
        let script = "cat; echo \"var=$IPCSCOPE_LAUNCH_TEST\"; echo oops >&2"
        let p = try StartedProcess.start(Launch("/bin/sh", ["-c", script], environment: ["IPCSCOPE_LAUNCH_TEST": "42"],
                                                standardInput: input, standardOutput: .file(out, append: false),
                                                standardError: .file(err, append: true)))
        #expect(p.wait(timeout: 10) == .exited(0))
        #expect(readFile(out) == "from stdin\nvar=42\n")
        #expect(readFile(err) == "old error\noops\n")

        let both = scope.file("both", "kept\n")
        let q = try StartedProcess.start(Launch("/bin/sh", ["-c", "echo one; echo two >&2; echo three"],
                                                standardOutput: .file(both, append: true), standardError: .standardOutput))
        #expect(q.wait(timeout: 10) == .exited(0))
        #expect(readFile(both) == "kept\none\ntwo\nthree\n")
    }

    @Test("a child starts with no blocked and no ignored signal, whatever its parent blocks or ignores")
    func cleanSignals() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var block = sigset_t(), saved = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGTERM)
        sigaddset(&block, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &block, &saved)
        let oldUSR2 = signal(SIGUSR2, SIG_IGN)
        defer {
            signal(SIGUSR2, oldUSR2)
            pthread_sigmask(SIG_SETMASK, &saved, nil)
        }
        let status = scope.directory + "/status"
        let p = try StartedProcess.start(Launch("/bin/cat", ["/proc/self/status"], standardOutput: .file(status, append: false)))
        #expect(p.wait(timeout: 10) == .exited(0))
        // Standard signals 1-31 (bits 0-30); glibc keeps 32 and 33 to itself.
        func mask(_ field: String) -> UInt64? {
            let line = readFile(status).split(separator: "\n").first { $0.hasPrefix(field + ":\t") }
            return line.flatMap { UInt64($0.dropFirst(field.count + 2), radix: 16) }.map { $0 & 0x7fff_ffff }
        }
        #expect(mask("SigBlk") == 0, "\(readFile(status))")
        #expect(mask("SigIgn") == 0, "\(readFile(status))")
    }

    @Test("a program that cannot start, or a redirect that cannot be opened, is an error that says why")
    func missingProgram() {
        #expect {
            _ = try StartedProcess.start(Launch("/nonexistent/ipcscope-no-such-program", []))
        } throws: { error in
            let e = error as? LaunchError
            return e?.errno == ENOENT && e?.description.contains("/nonexistent/ipcscope-no-such-program") == true
        }
        #expect {
            _ = try StartedProcess.start(Launch("/bin/true", [], standardInput: "/nonexistent/input"))
        } throws: { error in
            (error as? LaunchError)?.description.contains("cannot open /nonexistent/input") == true
        }
    }

    @Test("TestScope: a program that cannot start fails its test with exit 127 and the reason, not the run")
    func testScopeStandIn() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let missing = scope.run(scope.directory + "/no-such-program", ["--flag"], timeout: 10)
        #expect(missing.wait(timeout: 0) == 127)
        #expect(missing.stderr.contains("cannot start \(scope.directory)/no-such-program"), "\(missing.stderr)")
        let badInput = scope.run("/bin/cat", [], timeout: 10, stdinPath: scope.directory + "/no-such-input")
        #expect(badInput.wait(timeout: 0) == 127)
        #expect(badInput.stderr.contains("cannot open \(scope.directory)/no-such-input"), "\(badInput.stderr)")
    }

    @Test("a child is started and seen to end while every cooperative thread is blocked")
    func startsWhileThePoolIsBlocked() throws {
        let width = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let gate = PoolGate()
        defer { gate.release.store(true, ordering: .releasing) }
        // This test holds one cooperative thread; these block the others (they sleep, never yield).
        for _ in 0..<width {
            Task.detached {
                gate.running.add(1, ordering: .relaxed)
                while !gate.release.load(ordering: .acquiring) { usleep(1000) }
            }
        }
        waitUntil(timeout: 5) { gate.running.load(ordering: .relaxed) >= width - 1 }
        usleep(100_000)
        let p = try StartedProcess.start(Launch("/bin/sh", ["-c", "exit 7"]), startTimeout: 20)
        #expect(p.wait(timeout: 20) == .exited(7))
        let q = try StartedProcess.start(Launch("/bin/sleep", ["30"]), startTimeout: 20)
        #expect(q.kill(timeout: 20) == .signaled(SIGKILL))
        gate.release.store(true, ordering: .releasing)
        // Once the pool is free again, swift-subprocess reaps both: no zombie is left.
        #expect(waitUntil(timeout: 20) { kill(p.pid, 0) != 0 && kill(q.pid, 0) != 0 })
    }

    @Test("a pipe brings standard output back whole; a read that outlasts its timeout says so")
    func outputPipe() throws {
        // Far more than a pipe holds (64 KiB): seq can only finish while this process reads.
        let p = try StartedProcess.start(Launch("/usr/bin/seq", ["1", "50000"], standardOutput: .pipe))
        let out = try #require(p.readOutput(timeout: 20))
        #expect(String(decoding: out, as: UTF8.self) == (1...50_000).map { "\($0)\n" }.joined())
        #expect(p.wait(timeout: 10) == .exited(0))
        #expect(p.readOutput(timeout: 1) == [], "the pipe was read to its end and closed")

        let quiet = try StartedProcess.start(Launch("/bin/sleep", ["30"], standardOutput: .pipe))
        defer { quiet.kill(timeout: 10) }
        #expect(quiet.readOutput(timeout: 0.2) == nil, "the child still holds its standard output")
        #expect(quiet.kill(timeout: 10) == .signaled(SIGKILL))
        #expect(quiet.readOutput(timeout: 10) == [], "its end closes the pipe")

        #expect {
            _ = try StartedProcess.start(Launch("/bin/true", [], standardError: .pipe))
        } throws: { error in
            (error as? LaunchError)?.description.contains("a pipe is for standard output only") == true
        }
    }

    @Test("argv[0] is the path unless the launch names it")
    func argumentZero() throws {
        let named = try StartedProcess.start(Launch("/bin/sh", ["-c", "echo \"$0\""], standardOutput: .pipe, argumentZero: "ipcscope-sh"))
        #expect(named.readOutput(timeout: 10).map { String(decoding: $0, as: UTF8.self) } == "ipcscope-sh\n")
        #expect(named.wait(timeout: 10) == .exited(0))
        let plain = try StartedProcess.start(Launch("/bin/sh", ["-c", "echo \"$0\""], standardOutput: .pipe))
        #expect(plain.readOutput(timeout: 10).map { String(decoding: $0, as: UTF8.self) } == "/bin/sh\n")
        #expect(plain.wait(timeout: 10) == .exited(0))
    }

    @Test("a child that asks for a parent-death signal outlives the thread that started it")
    func outlivesTheStartingThread() throws {
        let box = Mutex<StartedProcess?>(nil)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(ThreadWork {
            let p = try? StartedProcess.start(Launch("/usr/bin/setpriv", ["--pdeathsig", "KILL", "--", "/bin/sleep", "30"]))
            box.withLock { $0 = p }
        }).toOpaque()
        try #require(pthread_create(&thread, nil, { Unmanaged<ThreadWork>.fromOpaque($0!).takeRetainedValue().run(); return nil }, context) == 0)
        pthread_join(thread, nil)
        let p = try #require(box.withLock { $0 })
        defer { p.kill(timeout: 10) }
        #expect(p.wait(timeout: 1) == nil, "the starting thread has ended; the child must still run")
    }
}

/// What the tasks that block the cooperative pool share with the test.
private final class PoolGate: Sendable {
    let running = Atomic<Int>(0)
    let release = Atomic<Bool>(false)
}

/// A closure run on a pthread of its own.
private final class ThreadWork: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
