// One protocol, two implementations: the C library (Sources/MBVIPC) against the Swift
// framework and the `ipcscope` tools, each side a separate process on a real section.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import Foundation
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("C library: interop with the Swift framework and ipcscope", .serialized)
struct CLibraryInteropTests {
    /// Starts the C++ test server (Tests/CLibrary/echo_server.cpp) and waits until it serves.
    static func startCxxServer(_ scope: TestScope, _ b: CLib.Built, _ name: String, _ mode: String = "echo") -> ChildProcess {
        let s = scope.spawn(b.echoServer, [name, mode])
        waitUntil(timeout: 10) { s.stdout.contains("serving") || s.hasExited }
        return s
    }

    @Test("the C++ client calls `ipcscope serve --echo` and an in-process Swift server")
    func cxxClientAgainstSwiftServers() async throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }

        let echo = scope.serviceName("cxx2echo")
        let serve = scope.startEchoServer(echo)
        try #require(!serve.hasExited, "\(serve.stderr)")
        let r1 = scope.run(b.client, [echo, "hello", "1", "3"], timeout: 15)
        #expect(r1.exitStatus == 0, "\(r1.stdout) \(r1.stderr)")
        #expect(r1.stdout.split(separator: "\n").filter { $0 == "Reply: hello" }.count == 3, "\(r1.stdout.debugDescription)")
        #expect(r1.stdout.contains("status=0 size=6"))
        // The trace the Swift server wrote names the C++ client and its bytes.
        let snap = try SectionReader(service: echo).snapshot()
        #expect(snap.callsServed == 3)
        #expect(snap.trace.last?.function == 1)
        #expect(snap.trace.last?.clientPID == r1.pid)
        #expect(snap.trace.last?.requestHead.prefix(6) == Array("hello\0".utf8)[...])

        let swiftName = scope.serviceName("cxx2swift")
        let server = try Server(service: swiftName)
        let task = try OSThread {
            server.run { request, response in
                try response.set(Array("swift:".utf8) + Array(request.payload))
                return Int32(request.function)
            }
        }
        let r2 = scope.run(b.client, [swiftName, "ping", "42"], timeout: 15)
        #expect(r2.stdout.contains("Reply: swift:ping\n"), "\(r2.stdout.debugDescription) \(r2.stderr)")
        #expect(r2.stdout.contains("status=42 size=11"), "the handler's status reaches conn.last_status")
        server.stop()
        task.join()
    }

    @Test("a forked child calling on its parent's connection records its own thread id, not the parent's")
    func forkedChildRecordsItsOwnThread() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cfork")
        let serve = scope.startEchoServer(name)
        try #require(!serve.hasExited, "\(serve.stderr)")
        let r = scope.run(b.probe, ["fork", name], timeout: 15)
        #expect(r.exitStatus == 0, "\(r.stdout) \(r.stderr)")
        let childLine = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("child ") }, "\(r.stdout)")
        let child = try #require(Int32(childLine.dropFirst("child ".count)))
        #expect(child != r.pid)
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.requestFunction == 2, "the child's call is the last one")
        #expect(snap.requestClientPID == child)
        #expect(snap.requestClientTID == child, "a single-threaded child's tid is its pid; the parent's cached tid was \(r.pid)")
    }

    @Test("the Swift client and `ipcscope call` call the C++ server; sizes 0 to capacity")
    func swiftAndCLIAgainstCxxServer() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("swift2cxx")
        let s = Self.startCxxServer(scope, b, name)
        try #require(s.stdout.contains("serving \(name) pid \(s.pid) capacities 4096/4096"), "\(s.stdout) \(s.stderr)")

        let client = try Client(service: name)
        for size in [0, 1, 63, 64, 65, 4095, 4096] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ size) }
            let reply = try client.call(function: UInt32(size), payload: payload)
            #expect(reply.status == 0)
            #expect(reply.data == payload, "size \(size)")
        }
        #expect(throws: IPCError.self) { _ = try client.call(function: 0, payload: [UInt8](repeating: 1, count: 4097)) }
        client.disconnect()

        let call = scope.ipcscope(["call", name, "--function", "9", "--text", "from the CLI", "--as-text"], timeout: 15)
        #expect(call.exitStatus == 0, "\(call.stderr)")
        #expect(call.stdout.contains("from the CLI"), "\(call.stdout)")

        // The C probe: sizes through the C client too, and the capacity it was given.
        let conn = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(conn.stdout == "connected 4096/4096\n", "\(conn.stdout)")
        for n in [0, 1, 4096] {
            let r = scope.run(b.probe, ["size", name, String(n)], timeout: 10)
            #expect(r.stdout.contains("reply status=0 size=\(n) "), "\(r.stdout)")
        }

        // The handler's own buffer instead of response_data is copied into the slot.
        let own = scope.serviceName("ownbuf")
        _ = Self.startCxxServer(scope, b, own, "own-buffer")
        let c2 = try Client(service: own)
        #expect(try c2.call(function: 1, payload: Array("abc".utf8)).data == Array("own:abc".utf8))

        s.signal(SIGTERM)
        #expect(s.wait(timeout: 5) == 0, "MBV_IPCStopServer from the signal handler ends the loop cleanly")
        #expect(s.stdout.contains("stopped 1"))
        #expect(!scope.objectExists(name))
    }

    @Test("`ipcscope status` on the C++ server: its pid, state, mutex owner during a call, counters and trace")
    func statusOnCxxServer() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cxxstatus")
        let s = Self.startCxxServer(scope, b, name, "slow=1500")
        try #require(!s.hasExited, "\(s.stderr)")

        let caller = scope.spawn(b.probe, ["call", name, "7", "inspect me"])
        // While the handler sleeps, the C client holds the mutex and the state is PROCESSING.
        var during = ""
        let seen = waitUntil(timeout: 5) {
            during = scope.ipcscope(["status", name], timeout: 10).stdout
            return during.contains("PROCESSING")
        }
        #expect(seen, "\(during)")
        #expect(during.contains("pid               \(s.pid) (echo_server \(name) slow=1500)"), "the whole command line: \(during)")
        #expect(during.contains("pid \(caller.pid)"), "the owner record names the C client: \(during)")
        #expect(caller.wait(timeout: 10) == 0, "\(caller.stdout)")

        let after = scope.ipcscope(["status", name], timeout: 10).stdout
        #expect(after.contains("liveness lock     alive"), "\(after)")
        #expect(after.contains("IDLE"))
        #expect(after.contains("1 served, 0 rejected"), "\(after)")
        #expect(after.contains("1 locks"), "\(after)")
        #expect(after.contains("owner record      none"), "the owner record is cleared at unlock: \(after)")
        #expect(after.contains("f=7 req=10 rsp=10 status=0"), "\(after)")
        #expect(after.contains("pid=\(caller.pid) \"inspect me\""), "\(after)")
        #expect(after.contains("flags             0x4 tracing"), "\(after)")
    }

    @Test("`ipcscope attach` in tmux on the C++ server: server pid, the C client holding the mutex, dumps, history, death")
    func attachOnCxxServer() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cxxattach")
        let s = Self.startCxxServer(scope, b, name, "slow=1500")
        try #require(!s.hasExited, "\(s.stderr)")
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]", "server pid \(s.pid)", "ALIVE")
        #expect(ok, "attached to the C++ server:\n\(screen)")

        // The C client holds the mutex while the handler sleeps: the mutex pane names it.
        let caller = scope.spawn(b.probe, ["call", name, "7", "from C probe", "4096", "10000"])
        (ok, screen) = tmux.waitFor("HELD pid \(caller.pid) tid \(caller.pid)")
        #expect(ok, "the C client holds the mutex:\n\(screen)")
        #expect(caller.wait(timeout: 10) == 0, "\(caller.stdout)")
        let known = "66 72 6f 6d 20 43 20 70  72 6f 62 65"  // "from C probe"
        (ok, screen) = tmux.waitFor("fn 7  12 bytes", "status 0  12 bytes", "│ free")
        #expect(ok, "dumps show the call:\n\(screen)")
        #expect(lineAfter("─ Request ─", in: screen).hasPrefix("00000000  " + known), "\(screen)")
        #expect(lineAfter("─ Response ─", in: screen).hasPrefix("00000000  " + known), "\(screen)")
        #expect(screen.contains("\(caller.pid)"), "the history names the C client")

        s.signal(SIGKILL)
        s.wait(timeout: 5)
        (ok, screen) = tmux.waitFor("DEAD")
        #expect(ok, "the C++ server's death is shown:\n\(screen)")
        tmux.keys("q")
    }

    @Test("threads share one C connection; a server loop on a thread is stopped, refused twice, and freed while running")
    func threadsAndInProcessServer() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cthreads")
        _ = Self.startCxxServer(scope, b, name)
        let t = scope.run(b.probe, ["threads", name, "4", "300"], timeout: 60)
        #expect(t.stdout == "threads 4 calls 300 failures 0\n", "\(t.stdout) \(t.stderr)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.callsServed == 1200)
        #expect(snap.lockCount == 1200)
        #expect(snap.ownerPID == 0 && snap.mutexWord.isFree)

        let own = scope.serviceName("cself")
        let r = scope.run(b.probe, ["selfserve", own], timeout: 30)
        #expect(r.exitStatus == 0, "\(r.stdout) \(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("self-connect ok"))
        #expect(lines.contains("self-call ok=1 reply=QUIET handled=1"), "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("second-loop fail code=19") && $0.contains("already running its loop") })
        #expect(lines.contains("loop-returned 1"))
        #expect(lines.contains { $0.hasPrefix("call-after-stop fail code=13") && $0.contains("stopped") }, "\(r.stdout)")
        #expect(lines.contains { $0.hasPrefix("loop-after-stop fail code=19") && $0.contains("shut down") })
        #expect(lines.contains("freed-while-running loop-returned 1"), "\(r.stdout)")
        #expect(!scope.objectExists(own), "both servers removed their section")
    }

    @Test("a C program built with the C library calls the Swift server and serves the Swift client")
    func cPeer() throws {
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let built = try CLib.require()  // Sources/MBVIPC and Tests/CLibrary, built with make, cc and c++

        // C client -> Swift server.
        let name = scope.serviceName("cclient")
        _ = scope.startEchoServer(name)
        let call = scope.run(built.probe, ["call", name, "7", "hello from C"], timeout: 10)
        #expect(call.stdout.contains("status=0 size=12 text=hello from C"), "\(call.stdout)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.trace.last?.function == 7)

        // Swift client -> C++ server.
        let name2 = scope.serviceName("cserver")
        let cserver = scope.spawn(built.echoServer, [name2, "own-buffer"])
        #expect(cserver.waitForOutput("serving", timeout: 10))
        let client = try Client(service: name2)
        #expect(try client.call(function: 1, payload: Array("from swift".utf8)).data == Array("own:from swift".utf8))
        #expect(try client.call(function: 2, payload: []).data == Array("own:".utf8))
        cserver.signal(SIGTERM)
        #expect(cserver.wait(timeout: 10) == 0)
        #expect(!scope.objectExists(name2))
    }
}
