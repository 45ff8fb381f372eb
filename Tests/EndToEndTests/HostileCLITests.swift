// The CLI under hostile conditions, as a user would meet them: attach killed by a fatal signal
// or by its own script's exit fault (the terminal must come back sane), attach on a FIFO,
// absurd durations, a bench whose parent dies, and temporary folders left behind.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
@testable import IPCScopeCLI
import Testing
import TestSupport

/// Pids of processes whose command line is exactly `arguments` (argv[0] included).
func pids(withArguments arguments: [String]) -> [pid_t] {
    guard let d = opendir("/proc") else { return [] }
    defer { closedir(d) }
    var out: [pid_t] = []
    while let e = readdir(d) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        guard let pid = pid_t(n) else { continue }
        let raw = readBytes("/proc/\(pid)/cmdline")
        let args = raw.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
        if Array(args.prefix(arguments.count)) == arguments { out.append(pid) }
    }
    return out
}

/// After the command, the pane shows how it ended and the terminal modes the shell got back.
let afterAttach = "; echo EXITED=$?; echo STTY $(stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(icanon|echo|icrnl|onlcr)$' | tr '\\n' ' ')END"

@Suite("Hostile conditions for the CLI", .serialized)
struct HostileCLITests {
    @Test("attach restores the terminal when it dies by SIGSEGV, SIGILL, SIGTRAP, SIGABRT or SIGBUS")
    func attachFatalSignals() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        for sig in [SIGSEGV, SIGILL, SIGTRAP, SIGABRT, SIGBUS] {
            let name = scope.serviceName("crash")
            let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)" + afterAttach)
            defer { tmux.kill() }
            let (waiting, screen) = tmux.waitFor("waiting for service '\(name)'")
            #expect(waiting, "\(screen)")
            let victims = pids(withArguments: [ipcscopePath, "attach", name])
            try #require(victims.count == 1)
            kill(victims[0], sig)
            let (ended, after) = tmux.waitFor("END")
            #expect(ended && after.contains("EXITED=\(128 + sig)"), "signal \(sig):\n\(after)")
            #expect(after.contains("STTY icrnl onlcr icanon echo END"), "signal \(sig): modes restored:\n\(after)")
        }
    }

    @Test("attach --serve: a script's exit fault gives the terminal back before the process ends")
    func attachServeExitFault() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("exitfault")
        let script = scope.file("exit.yaml", "- match: any\n  fault: exit\n  exit_code: 7\n")
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --serve \(script)" + afterAttach)
        defer { tmux.kill() }
        #expect(waitUntil(timeout: 10) { scope.objectExists(name) })
        _ = scope.ipcscope(["call", name, "--text", "bye", "--timeout", "2"], timeout: 10)
        let (ended, after) = tmux.waitFor("END")
        #expect(ended && after.contains("EXITED=7"), "\(after)")
        #expect(after.contains("STTY icrnl onlcr icanon echo END"), "\(after)")
    }

    @Test("attach on a FIFO shows why and still quits on q; on a dead mutex owner it says so")
    func attachOnHostileObjects() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let fifo = scope.serviceName("fifo")
        #expect(mkfifo("/dev/shm/ipcscope." + fifo, 0o666) == 0)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(fifo)" + afterAttach)
        defer { tmux.kill() }
        let (shown, screen) = tmux.waitFor("not a regular file (FIFO)")
        #expect(shown, "\(screen)")
        tmux.type("q")
        let (ended, after) = tmux.waitFor("END")
        #expect(ended && after.contains("EXITED=0") && after.contains("STTY icrnl onlcr icanon echo END"), "\(after)")

        let huge = scope.serviceName("huge")
        writeBytes("/dev/shm/ipcscope." + huge, craftedHeader(sectionSize: 1 << 63))
        let third = TmuxSession(scope, command: "\(ipcscopePath) attach \(huge)" + afterAttach)
        defer { third.kill() }
        let (refused, hugeScreen) = third.waitFor("inconsistent sizes")
        #expect(refused, "\(hugeScreen)")
        third.type("q")
        #expect(third.waitFor("EXITED=0").0, "attach on a section_size of 2^63 quits normally")

        let dead = scope.serviceName("deadowner")
        CLIInspectTests.makeStale(scope, dead, calls: 0)
        let gone = scope.run("/bin/true", [])
        poke(dead, 128, UInt32(bitPattern: gone.pid))
        let second = TmuxSession(scope, command: "\(ipcscopePath) attach \(dead)" + afterAttach)
        defer { second.kill() }
        let (said, deadScreen) = second.waitFor("owner thread is dead (tid \(gone.pid))")
        #expect(said, "\(deadScreen)")
        second.keys("C-c")
        #expect(second.waitFor("EXITED=").0)
    }

    @Test("every seconds option refuses inf, nan, negatives and overflowing values while parsing (exit 64)")
    func durations() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let bad = ["1e10", "inf", "nan", "-1", "0", "9223372037", "1e300", "abc"]
        var commands: [[String]] = []
        for v in bad {
            commands += [["call", "x", "--timeout", v], ["watch", "x", "--timeout", v], ["bench", "x", "--timeout", v],
                         ["bench", "x", "--duration", v], ["demo", "--no-tui", "--seconds", v], ["demo-client", "x", "--seconds", v]]
        }
        commands += [["bench", "x", "--warmup", "-1"], ["watch", "x", "--interval", "nan"], ["attach", "x", "--interval", "inf"]]
        for args in commands {
            #expect(throws: (any Error).self, "\(args)") { _ = try IPCScope.parseAsRoot(args) }
        }
        for args in [["call", "x", "--timeout", "1e10"], ["call", "x", "--timeout", "inf"], ["watch", "x", "--timeout", "inf"],
                     ["bench", "x", "--timeout", "1e300"], ["bench", "x", "--duration", "1e300"], ["call", "x", "--timeout", "9223372037"]] {
            let r = scope.ipcscope(args, timeout: 10)
            #expect(r.exitStatus == 64, "\(args): \(r.exitStatus.map(String.init) ?? "killed")")
            #expect(r.stderr.contains("more than 0 and at most 604800 (7 days)"), "\(args): \(r.stderr)")
        }
        for args in [["--server-spin-us", "inf"], ["--client-spin-us", "1e300"], ["--runs", "nan"], ["--samples", "-5"]] {
            let r = scope.run(productPath("ipcscope-bench"), args, timeout: 10)
            #expect(r.exitStatus == 64 && r.stderr.contains("is out of range: give"), "ipcscope-bench \(args): \(r.stderr)")
        }
        #expect(throws: Never.self) { _ = try IPCScope.parseAsRoot(["call", "x", "--timeout", "604800"]) }
        #expect(throws: Never.self) { _ = try IPCScope.parseAsRoot(["watch", "x", "--timeout", "0.25"]) }
    }

    @Test("bench workers stop when the bench gets SIGTERM, SIGHUP or SIGKILL")
    func benchWorkersFollowTheirParent() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("bench")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let workerArgs = ["ipcscope", "bench", name, "--worker"]  // how bench starts them (argv[0] "ipcscope")
        for sig in [SIGTERM, SIGHUP, SIGKILL] {
            let bench = scope.spawn(ipcscopePath, ["bench", name, "--processes", "2", "--duration", "60"])
            #expect(waitUntil(timeout: 10) { pids(withArguments: workerArgs).count == 2 }, "two workers run")
            bench.signal(sig)
            #expect(bench.wait(timeout: 5) == 128 + sig)
            let stopped = waitUntil(timeout: 5) { pids(withArguments: workerArgs).isEmpty }
            #expect(stopped, "signal \(sig): workers still calling: \(pids(withArguments: workerArgs))")
            for p in pids(withArguments: workerArgs) { kill(p, SIGKILL) }
        }
    }

    @Test("a test scope removes its temporary folder, also when the test never reaches its cleanup")
    func testScopeRemovesItsFolder() throws {
        var dirs: [String] = []
        do {
            let scope = TestScope()
            defer { scope.cleanup() }
            _ = scope.file("a.txt", "x")
            _ = scope.ipcscope(["list"], timeout: 10)
            dirs.append(scope.directory)
        }
        do {
            let scope = TestScope()  // no cleanup call: deinit does it
            _ = scope.file("b.txt", "y")
            dirs.append(scope.directory)
        }
        for d in dirs { #expect(access(d, F_OK) != 0, "\(d) is left") }
    }

    @Test("ipcscope demo killed with SIGKILL leaves no /tmp/ipcscope-demo-* folder")
    func demoKilledLeavesNoFolder() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.spawn(ipcscopePath, ["demo", "--no-tui", "--seconds", "30", "--clients", "2", "--name", name])
        #expect(demo.waitForOutput("serving", timeout: 10))
        func folders() -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: "/tmp"))?.filter { $0.hasPrefix("ipcscope-demo-\(demo.pid)-") } ?? []
        }
        #expect(waitUntil(timeout: 5) { !folders().isEmpty }, "the demo made its folder")
        // Killed before it has started its clients, nobody would be left to clean up: wait for both.
        #expect(waitUntil(timeout: 10, interval: 0.05) {
            scope.run("/usr/bin/pgrep", ["-P", String(demo.pid)]).stdout.split(separator: "\n").count >= 2
        }, "the demo started its two clients")
        demo.signal(SIGKILL)
        _ = demo.wait(timeout: 5)
        #expect(waitUntil(timeout: 10) { folders().isEmpty }, "left: \(folders())")
        #expect(waitUntil(timeout: 10) { !scope.objectExists(name) }, "the clients remove the section too")
    }
}
