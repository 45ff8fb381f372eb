// The NT backend of libmbvipc, for real: the Windows echo server and client of Tests/NT are
// built with mingw-w64 (with and without a C runtime) and run under Wine as separate
// processes, in one Wine prefix the run owns; `ipcscope` on Linux watches their
// file-backed section (Z:\dev\shm is /dev/shm). Every wine process of the prefix is
// killed after each test (`wineserver -k`), the prefix removed when the run ends.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// mingw-w64 and wine64, the Windows build of Tests/NT, and one Wine prefix per test run.
final class WineWorld: @unchecked Sendable {
    static let wine = "/usr/lib/wine/wine64"
    static let wineserver = "/usr/lib/wine/wineserver"
    static let mingw = "/usr/bin/x86_64-w64-mingw32-gcc"
    static let objdump = "/usr/bin/x86_64-w64-mingw32-objdump"

    /// Whether the tools are here; without them the suite is skipped, except on CI.
    static let toolsPresent = access(wine, X_OK) == 0 && access(mingw, X_OK) == 0
    static let onCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let enabled = toolsPresent || onCI

    static let repoRoot = repositoryRoot

    /// The run's world, built on first use: nil (with `failure` set) when the build failed.
    nonisolated(unsafe) static var failure = ""
    static let shared: WineWorld? = {
        let w = WineWorld()
        return w.setUp() ? w : nil
    }()

    let root: String
    var prefix: String { root + "/prefix" }
    var build: String { root + "/build" }
    private(set) var prefixSeconds = 0.0
    private let scope = TestScope()

    private init() {
        root = scope.directory
        WineWorld.removeAtExit(root)
    }

    /// The environment every Windows program runs with.
    var environment: [String: String] {
        ["WINEPREFIX": prefix, "WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml=", "DISPLAY": ""]
    }

    private func setUp() -> Bool {
        let make = scope.run("/usr/bin/make", ["-s", "-C", WineWorld.repoRoot + "/Sources/MBVIPC", "-f", "Makefile.nt",
                                               "O=" + build], timeout: 180)
        guard make.exitStatus == 0 else {
            WineWorld.failure = "building the Windows programs failed: \(make.stderr)"
            return false
        }
        let start = now()
        let boot = scope.run(WineWorld.wine, ["wineboot", "--init"], timeout: 180, environment: environment)
        prefixSeconds = now() - start
        print("NTBackendTests: Wine prefix created in \(Int(prefixSeconds * 1000)) ms (wineboot --init)")
        killAll()
        guard boot.exitStatus == 0, access(prefix + "/system.reg", F_OK) == 0 else {
            WineWorld.failure = "creating the Wine prefix failed (\(boot.exitStatus ?? -1)): \(boot.stderr)"
            return false
        }
        return true
    }

    /// A built program: `nt-nocrt/echo_server.exe` (ntdll only) or `nt/...` (with msvcrt).
    func exe(_ name: String, crt: Bool = false) -> String { build + (crt ? "/nt/" : "/nt-nocrt/") + name + ".exe" }

    /// Starts a Windows program under Wine.
    func spawn(_ scope: TestScope, _ program: String, _ arguments: [String], extra: [String: String] = [:]) -> ChildProcess {
        scope.spawn(WineWorld.wine, [program] + arguments, environment: environment.merging(extra) { $1 })
    }

    /// Runs a Windows program to completion.
    func run(_ scope: TestScope, _ program: String, _ arguments: [String], timeout: Double = 30,
             extra: [String: String] = [:]) -> ChildProcess {
        scope.run(WineWorld.wine, [program] + arguments, timeout: timeout, environment: environment.merging(extra) { $1 })
    }

    /// Ends every process of the prefix (the programs, wineserver and Wine's own services).
    func killAll() {
        _ = scope.run(WineWorld.wineserver, ["-k"], timeout: 15, environment: environment)
        _ = waitUntil(timeout: 10, interval: 0.05) { !WineWorld.prefixHasProcesses(self.prefix) }
    }

    /// Whether any process still runs with this WINEPREFIX.
    static func prefixHasProcesses(_ prefix: String) -> Bool {
        let needle = Array("WINEPREFIX=\(prefix)\0".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for pid in entries where Int32(pid) != nil && Int32(pid) != getpid() {
            guard let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if [UInt8](env).split(separator: 0).contains(where: { Array($0) + [0] == needle }) { return true }
        }
        return false
    }

    nonisolated(unsafe) private static var atExitRoot = ""
    private static func removeAtExit(_ root: String) {
        atExitRoot = root
        atexit {
            let root = WineWorld.atExitRoot
            guard !root.isEmpty else { return }
            var pid: pid_t = 0
            let strings: [String] = ["WINEPREFIX=\(root)/prefix"], words: [String] = [WineWorld.wineserver, "-k"]
            let env: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) } + [nil]
            let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            if posix_spawn(&pid, WineWorld.wineserver, nil, nil, argv, env) == 0 {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
            let rmWords: [String] = ["/bin/rm", "-rf", root]
            let rm: [UnsafeMutablePointer<CChar>?] = rmWords.map { strdup($0) } + [nil]
            if posix_spawn(&pid, "/bin/rm", nil, nil, rm, env) == 0 {
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
        }
    }
}

/// Reads a little-endian integer of the section on Linux (the Windows server's bytes).
private func sectionWord(_ name: String, _ offset: Int, _ width: Int = 4) -> UInt64 {
    let fd = open("/dev/shm/ipcscope." + name, O_RDONLY)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: width)
    guard pread(fd, &bytes, width, off_t(offset)) == width else { return 0 }
    return bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
}

@Suite(.serialized, .enabled(if: WineWorld.enabled, "wine64 and mingw-w64 are not installed (apt-get install -y wine64 gcc-mingw-w64-x86-64); CI=true runs this suite regardless"))
struct NTBackendTests {
    /// The world, or a failed requirement saying why (never a silent pass).
    func world() throws -> WineWorld {
        try #require(WineWorld.toolsPresent, "CI=true but wine64 or mingw-w64 is missing: install wine64 gcc-mingw-w64-x86-64")
        return try #require(WineWorld.shared, "\(WineWorld.failure)")
    }

    /// Starts the Windows echo server and returns it with its NT pid.
    func startServer(_ w: WineWorld, _ scope: TestScope, _ name: String, extra: [String: String] = [:]) throws -> (ChildProcess, Int) {
        let server = w.spawn(scope, w.exe("echo_server"), [name], extra: extra)
        try #require(server.waitForOutput("serving \(name) pid ", timeout: 30), "no 'serving': \(server.stdout) \(server.stderr)")
        let line = server.stdout.split(separator: "\n").first { $0.hasPrefix("serving") } ?? ""
        return (server, Int(line.split(separator: " ").last ?? "") ?? -1)
    }

    @Test("calls of 0 to capacity bytes are answered; capacity + 1 is refused", .timeLimit(.minutes(3)))
    func callsAnswered() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("nt")
        _ = try startServer(w, scope, name)
        let sizes = w.run(scope, w.exe("call_client"), [name, "sizes"])
        #expect(sizes.exitStatus == 0, "\(sizes.stdout)")
        for n in [0, 1, 2, 16, 63, 64, 65, 1000, 4095, 4096] { #expect(sizes.stdout.contains("ok \(n)\n"), "size \(n): \(sizes.stdout)") }
        #expect(sizes.stdout.contains("fail 4097 9 request of 4097 bytes exceeds the request capacity of 4096"), "\(sizes.stdout)")
        // The C-runtime build speaks to the same server: the original example, as it stands
        // (msvcrt's text mode ends its lines with \r\n).
        let hello = w.run(scope, w.exe("call_client", crt: true), [name, "hello"])
        #expect(hello.stdout.contains("Reply: hello\r\n"), "\(hello.stdout) \(hello.stderr)")
        #expect(sectionWord(name, 96, 8) == 11, "calls_served")  // 10 sizes + hello; the refused one never reached it
    }

    @Test("a client killed while holding the Mutant is recovered by the next one", .timeLimit(.minutes(3)))
    func clientKilledHoldingMutex() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntkill")
        _ = try startServer(w, scope, name)
        let victim = w.spawn(scope, w.exe("call_client"), [name, "slow", "1500"])
        // It holds the mutex once the owner record names it.
        try #require(waitUntil(timeout: 20) { sectionWord(name, 192) != 0 }, "the client never took the mutex: \(victim.stdout)")
        victim.killAndReap()
        let next = w.run(scope, w.exe("call_client"), [name, "hello"])
        #expect(next.stdout.contains("Reply: hello\n"), "\(next.stdout)")
        #expect(sectionWord(name, 224, 8) == 1, "recovered_count")
        #expect(sectionWord(name, 192) == 0, "owner_pid cleared")
    }

    @Test("the server's death is seen promptly by a client waiting for its answer", .timeLimit(.minutes(3)))
    func serverDeathSeenPromptly() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntdeath")
        let (server, _) = try startServer(w, scope, name)
        let client = w.spawn(scope, w.exe("call_client"), [name, "slow", "30000", "60000"])
        try #require(waitUntil(timeout: 20) { sectionWord(name, 256) == 2 }, "the server never started processing: \(client.stdout)")
        let killed = now()
        server.killAndReap()
        try #require(client.wait(timeout: 10) != nil, "the client never returned")
        let seconds = now() - killed
        #expect(client.stdout.contains("fail 4 13 the server of '\(name)' died"), "\(client.stdout)")
        #expect(seconds < 1.0, "the client took \(seconds) s to notice")
    }

    @Test("a paging-file section (MBVIPC_NT_BACKING=section): liveness is the .server Mutant", .timeLimit(.minutes(3)))
    func pagingFileSection() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntpf")
        let env = ["MBVIPC_NT_BACKING": "section"]
        let (server, _) = try startServer(w, scope, name, extra: env)
        #expect(!scope.objectExists(name), "a paging-file section has no /dev/shm object")
        let sizes = w.run(scope, w.exe("call_client"), [name, "sizes"], extra: env)
        #expect(sizes.stdout.contains("ok 4096\n") && sizes.exitStatus == 0, "\(sizes.stdout)")
        let client = w.spawn(scope, w.exe("call_client"), [name, "slow", "30000", "60000"], extra: env)
        try #require(client.waitForOutput("calling", timeout: 20))
        sleepSeconds(0.3)
        let killed = now()
        server.killAndReap()
        try #require(client.wait(timeout: 10) != nil, "the client never returned")
        #expect(client.stdout.contains("fail 4 13"), "\(client.stdout)")
        #expect(now() - killed < 1.0)
    }

    @Test("ipcscope status on Linux shows the Windows server live, then stale", .timeLimit(.minutes(3)))
    func linuxStatusOfWindowsServer() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntstatus")
        let (server, ntPID) = try startServer(w, scope, name)
        let hello = w.run(scope, w.exe("call_client"), [name, "hello"])
        #expect(hello.stdout.contains("Reply: hello"))
        let slow = w.spawn(scope, w.exe("call_client"), [name, "slow", "3000"])
        try #require(waitUntil(timeout: 20) { sectionWord(name, 256) == 2 })
        let live = scope.ipcscope(["status", name])
        #expect(live.exitStatus == 0, "\(live.stderr)")
        #expect(live.stdout.contains("liveness lock     alive"), "\(live.stdout)")
        #expect(live.stdout.contains("pid               \(ntPID)"), "\(live.stdout)")
        #expect(live.stdout.contains("NT objects"), "\(live.stdout)")
        #expect(live.stdout.contains("state             PROCESSING"), "\(live.stdout)")
        #expect(live.stdout.contains("owner record      pid "), "\(live.stdout)")
        #expect(live.stdout.contains("\"hello."), "trace record of the hello call: \(live.stdout)")
        _ = slow.wait(timeout: 10)
        server.killAndReap()
        let stale = scope.ipcscope(["status", name])
        #expect(stale.stdout.contains("dead (stale section"), "\(stale.stdout)")
        let list = scope.ipcscope(["list"])
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") } ?? ""
        #expect(row.contains("stale"), "\(list.stdout)")
        // A Linux client refuses it instead of taking a mutex nobody else uses.
        let call = scope.ipcscope(["call", name, "--function", "1", "--text", "x"])
        #expect(call.exitStatus != 0)
        #expect(call.stderr.contains("NT objects") || call.stderr.contains("Windows"), "\(call.stderr)")
    }

    @Test("ipcscope attach in tmux shows a call made by the Windows client", .timeLimit(.minutes(3)))
    func attachShowsWindowsCall() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntattach")
        let (_, ntPID) = try startServer(w, scope, name)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]", "server pid \(ntPID)", "ALIVE", timeout: 15)
        #expect(ok, "\(screen)")
        let hello = w.run(scope, w.exe("call_client"), [name, "hello"])
        #expect(hello.stdout.contains("Reply: hello"))
        (ok, screen) = tmux.waitFor("fn 1  6 bytes", "status 0  6 bytes", timeout: 15)
        #expect(ok, "\(screen)")
        (ok, screen) = tmux.waitFor("NT objects", timeout: 5)
        #expect(ok, "\(screen)")
    }

    @Test("every NT object of a service is limited to the creating user (owner and one ACE: the creator)", .timeLimit(.minutes(3)))
    func creatorOnlyDescriptors() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        for backing in ["file", "section"] {
            let name = scope.serviceName("ntsd")
            let env = ["MBVIPC_NT_BACKING": backing]
            _ = try startServer(w, scope, name, extra: env)
            let probe = w.run(scope, w.exe("sd_probe"), [name], extra: env)
            for suffix in ["", ".mutex", ".request", ".response"] {
                #expect(probe.stdout.contains("ipcscope.\(name)\(suffix) owner=self aces=1 sid=self\n"), "\(backing): \(probe.stdout)")
            }
        }
    }

    @Test("a takeover after a kill (epoch 2), and a clean stop that removes /dev/shm/ipcscope.NAME", .timeLimit(.minutes(3)))
    func takeoverAndCleanStop() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("nttake")
        let (first, _) = try startServer(w, scope, name)
        first.killAndReap()
        // The second server takes the stale section over and stops itself after two calls.
        let second = w.spawn(scope, w.exe("echo_server"), [name, "2"])
        try #require(second.waitForOutput("serving \(name)", timeout: 30), "\(second.stdout)")
        #expect(sectionWord(name, 68) == 2, "server_epoch")
        for _ in 0..<2 { #expect(w.run(scope, w.exe("call_client"), [name, "hello"]).stdout.contains("Reply: hello")) }
        #expect(second.wait(timeout: 10) == 0, "\(second.stdout)")
        #expect(second.stdout.contains("stopped"))
        // Wine unlinks a file whose delete was asked for when the last process mapping it is gone,
        // which for a client that has just exited happens a moment after its exit: bounded wait.
        #expect(waitUntil(timeout: 5) { !scope.objectExists(name) }, "a clean stop removes the section")
    }

    @Test("a Windows client refuses a section a Linux server serves (its mutex is a pthread mutex)", .timeLimit(.minutes(3)))
    func windowsClientRefusesLinuxServer() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntlinux")
        _ = scope.startEchoServer(name)
        let client = w.run(scope, w.exe("call_client"), [name, "hello"])
        #expect(client.exitStatus == 2, "\(client.stdout)")
        #expect(client.stdout.contains("connect failed") && client.stdout.contains("mutex and events"), "\(client.stdout)")
        #expect(sectionWord(name, 96, 8) == 0, "nothing reached the Linux server")
    }

    @Test("lesson 8 (a Windows program in the Linux inspector) runs unattended", .timeLimit(.minutes(3)))
    func lesson8() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let lesson = scope.run("/bin/bash", [WineWorld.repoRoot + "/demo/lesson8-windows-under-wine.sh", "--check"], timeout: 150,
                               environment: ["IPCSCOPE_BIN": productsDirectory, "WINEPREFIX": w.prefix])
        let transcript = lesson.stdout + lesson.stderr
        #expect(lesson.exitStatus == 0, "\(transcript)")
        #expect(lesson.stdout.contains("every check passed") && !lesson.stdout.contains("FAIL:"), "\(transcript)")
        #expect(!scope.objectExists("lesson8-\(lesson.pid)"), "the lesson removed its section")
    }

    @Test("the no-C-runtime build imports ntdll.dll alone; the C-runtime build does not")
    func importsOnlyNtdll() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup() }
        func dlls(_ exe: String) -> [String] {
            scope.run(WineWorld.objdump, ["-p", exe]).stdout.split(separator: "\n")
                .filter { $0.contains("DLL Name:") }.map { $0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces) }
        }
        for program in ["echo_server", "call_client"] {
            #expect(dlls(w.exe(program)) == ["ntdll.dll"], "\(program)")
            #expect(dlls(w.exe(program, crt: true)).contains("msvcrt.dll"), "\(program) with a C runtime")
        }
    }
}
