// Stopping and starting under pressure: a handler that never returns, a SIGTERM right as the
// section appears, clients meeting a section that is still being created, waiting clients
// killed, and hundreds of signals under load.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import IPCScopeKit
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("Hostile sections (signals and starting)", .serialized)
struct HostileKitSignalTests {
    // (A regex bomb no longer sticks a handler: scripts match with a linear-time engine, see
    // ScriptRegexTests. A handler that never returns on its own is covered by
    // stopWhileLogPipeFull and shutdownNowAbandonsHandler.)
    @Test("a handler in a long delay: SIGTERM and SIGINT still stop serve within about 1 s, the call gets -4, the section goes")
    func stopWhileHandlerStuck() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        for sig in [SIGTERM, SIGINT] {
            let name = scope.serviceName("bomb")
            let server = scope.startScriptedServer(name, script: """
                rules:
                  - match: {regex: "^(a+)+b$"}
                    reply: {text: y}
                    delay_ms: 60000
                  - reply: {status: 1}
                """)
            #expect(server.stdout.contains("serving"), "\(server.stderr)")
            let caller = scope.spawn(helperPath, ["call", name, "1", String(repeating: "a", count: 40) + "b", "20000"])
            #expect(waitUntil(timeout: 10) { peekSection(name, at: Int(IPCSCOPE_OFF_STATE), as: UInt32.self) == 2 || caller.hasExited })
            server.signal(sig)
            let stoppedAt = now()
            // Within about a second: the call answered and the section removed (then the process
            // exits; a sanitizer's exit-time report can take longer, so that is checked apart).
            let stopped = waitUntil(timeout: 5, interval: 0.005) { !scope.objectExists(name) && caller.hasExited }
            #expect(stopped && now() - stoppedAt < 1.5, "stopped after \(now() - stoppedAt) s")
            let code = server.wait(timeout: 5)
            #expect(code == 0, "signal \(sig): \(String(describing: code)) \(server.stderr)")
            #expect(caller.stdout.contains("status=-4") || caller.stdout.contains("status=-2") || caller.stdout.contains("error=serverGone"),
                    "\(caller.stdout)")
        }
    }

    @Test("a server whose log goes to a pipe nobody reads: calls go on, SIGTERM still stops it within about 1 s")
    func stopWhileLogPipeFull() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("pipe")
        let fifo = scope.directory + "/log.fifo"
        try #require(mkfifo(fifo, 0o600) == 0)
        let holder = open(fifo, O_RDWR | O_NONBLOCK)  // a reader that never reads
        try #require(holder >= 0)
        defer { close(holder); unlink(fifo) }
        let server = scope.spawn("/bin/sh", ["-c", "exec '\(ipcscopePath)' serve \(name) --echo > '\(fifo)'"])
        #expect(waitUntil(timeout: 10) { scope.objectExists(name) && peekSection(name, at: Int(IPCSCOPE_OFF_SERVER_PID), as: Int32.self) != 0 })
        // The log is written by its own thread: a full pipe drops log lines, never a call.
        let client = try Client(service: name)
        var failed = 0
        for i in 0..<5000 {
            do {
                _ = try client.call(function: 0, payload: Array("call \(i) with a log line".utf8), timeout: .milliseconds(300))
            } catch {
                failed += 1
            }
        }
        #expect(failed == 0, "calls are not held up by a log pipe nobody reads")
        server.signal(SIGTERM)
        let stoppedAt = now()
        #expect(waitUntil(timeout: 5, interval: 0.005) { !scope.objectExists(name) })
        #expect(now() - stoppedAt < 1.5, "section removed after \(now() - stoppedAt) s")
        #expect(server.wait(timeout: 5) == 0, "\(server.stderr)")
    }

    @Test("shutdownNow from another thread while the handler sleeps: the client gets -4 at once, the object is gone")
    func shutdownNowAbandonsHandler() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("now")
        let server = try Server(service: name)
        let task = try OSThread {
            server.run { request, response in
                usleep(2_000_000)  // deaf to stop()
                try response.set([9, 9, 9])
                return 0
            }
        }
        let caller = scope.spawn(helperPath, ["call", name, "1", "hi", "20000"])
        #expect(waitUntil(timeout: 10) { peekSection(name, at: Int(IPCSCOPE_OFF_STATE), as: UInt32.self) == 2 })
        let start = now()
        #expect(server.shutdownNow())
        #expect(caller.wait(timeout: 5) == 0)
        #expect(now() - start < 0.5)
        #expect(caller.stdout.contains("status=-4 size=0"), "\(caller.stdout)")
        #expect(!scope.objectExists(name))
        #expect(!server.shutdownNow(), "once")
        task.join()  // the handler's late answer is dropped, nothing touches unmapped memory
    }

    @Test("SIGTERM the moment the section appears: a clean stop every time, never death by signal")
    func sigtermAsSectionAppears() {
        let scope = TestScope()
        defer { scope.cleanup() }
        for i in 0..<15 {
            let name = scope.serviceName("early")
            let server = scope.spawn(ipcscopePath, ["serve", name, "--echo", "--quiet"])
            let appeared = waitUntil(timeout: 10, interval: 0) { scope.objectExists(name) || server.hasExited }
            if i % 3 != 0 { usleep(UInt32(i * 150)) }  // 0 µs to 2 ms after it appears
            server.signal(SIGTERM)
            #expect(appeared)
            #expect(server.wait(timeout: 5) == 0, "round \(i): \(String(describing: server.exitSignal)) \(server.stderr)")
            #expect(!scope.objectExists(name), "round \(i): the section was removed")
        }
    }

    @Test("a section being created (lock held, no magic yet): clients wait and connect, or say 'starting'; servers say so")
    func startingSection() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        // A finished image of a real section, to write the way a creator does: magic last.
        let model = scope.serviceName("model")
        var keep = ServerOptions()
        keep.keepOnExit = true
        try Server(service: model, options: keep).shutdown()
        let mfd = open("/dev/shm/ipcscope." + model, O_RDONLY)
        let image = preadBytes(mfd, at: 0, count: 28672)
        close(mfd)
        try #require(image.count == 28672)

        let name = scope.serviceName("starting")
        let fd = shm_open("/ipcscope." + name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(CIPCScope_ofd_trylock(fd) == 0)
        #expect(SectionObject.isStarting(fd: fd) == false, "our own lock is not another's")
        let rfd = try SectionObject.openReadOnly(try ServiceName(name))
        defer { close(rfd) }
        #expect(SectionObject.isStarting(fd: rfd))

        // Never finished: the client says "starting" after its wait, not "too short".
        var quick = ClientOptions()
        quick.startingWait = .milliseconds(200)
        do {
            _ = try Client(service: name, options: quick)
            Issue.record("must not connect")
        } catch {
            #expect(error.code == .serverStarting && error.message.contains("is starting"), "\(error.message)")
        }
        let server = scope.ipcscope(["serve", name, "--echo"], timeout: 10)
        #expect(server.exitStatus == 1 && server.stderr.contains("being started"), "\(server.stderr)")

        // Finished 300 ms later: the client that was waiting connects. (On a thread of its own:
        // a task may wait for a pool thread that the blocked client holds, on a 2-core machine.)
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            usleep(300_000)
            ftruncate(fd, 28672)
            _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 8, 28672 - 8, 8) }
            _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress, 8, 0) }
            finished.signal()
        }
        let start = now()
        let client = try Client(service: name)
        #expect(now() - start > 0.2 && now() - start < 1.0)
        #expect(client.requestCapacity == 4096)
        finished.wait()
        #expect(!SectionObject.isStarting(fd: rfd))
    }

    @Test("waiting clients SIGKILLed one after another: client_waiting is repaired, never counts the dead")
    func clientWaitingRepaired() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("waiting")
        let server = scope.spawn(helperPath, ["serve-slow", name, "800"])
        #expect(server.waitForOutput("serving", timeout: 10))
        let offset = Int(IPCSCOPE_OFF_CLIENT_WAITING)
        for round in 0..<3 {
            let caller = scope.spawn(helperPath, ["call", name, "1", "r\(round)", "20000"])
            #expect(caller.waitForOutput("connected", timeout: 10))
            #expect(waitUntil(timeout: 5) { peekSection(name, at: offset, as: UInt32.self) == 1 }, "round \(round)")
            caller.killAndReap()
            #expect(peekSection(name, at: offset, as: UInt32.self) <= 1, "round \(round): only the dead holder's count")
        }
        // The next caller recovers the mutex and the count with it.
        let reply = try Client(service: name).call(function: 0, payload: [5], timeout: .seconds(10))
        #expect(reply.data == [5])
        #expect(peekSection(name, at: offset, as: UInt32.self) == 0)
        #expect(peekSection(name, at: Int(IPCSCOPE_OFF_RECOVERED_COUNT), as: UInt64.self) >= 1)
    }

    @Test("hundreds of signals under load: SIGHUP reloads never lose the stop; SIGINT still stops cleanly")
    func signalStormUnderLoad() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        for round in 0..<3 {
            let name = scope.serviceName("storm")
            let server = scope.startScriptedServer(name, script: "rules:\n  - reply: {echo: true}\n", extra: ["--quiet"])
            #expect(server.stdout.contains("serving"), "\(server.stderr)")
            let clients = (0..<3).map { scope.spawn(helperPath, ["call-loop", name, "100000", "c\(round)-\($0)"]) }
            #expect(waitUntil(timeout: 10) { peekSection(name, at: Int(IPCSCOPE_OFF_CALLS_SERVED), as: UInt64.self) >= 300 })
            let before = peekSection(name, at: Int(IPCSCOPE_OFF_CALLS_SERVED), as: UInt64.self)
            for _ in 0..<300 {
                server.signal(SIGHUP)
                usleep(500)
            }
            let served = peekSection(name, at: Int(IPCSCOPE_OFF_CALLS_SERVED), as: UInt64.self)
            #expect(server.stdout.contains("reloaded"), "the script was reloaded")
            server.signal(round == 1 ? SIGTERM : SIGINT)
            let stoppedAt = now()
            let code = server.wait(timeout: 5)
            #expect(code == 0, "round \(round): \(String(describing: code)) \(server.stderr)")
            #expect(now() - stoppedAt < 1.5)
            #expect(!scope.objectExists(name))
            #expect(served > before, "calls went on during the storm: \(before) → \(served)")
            for c in clients {
                #expect(c.wait(timeout: 10) != nil)
                // Every answer is right; the call pending at the stop may get -4 (shutting down).
                let out = c.stdout
                #expect(!out.contains("mismatch") || out.contains("status -4, got \n"), "\(out)")
                #expect(["serverGone", "noSuchService", "ok ", "status -4"].contains { out.contains($0) }, "\(out)")
            }
        }
    }
}
