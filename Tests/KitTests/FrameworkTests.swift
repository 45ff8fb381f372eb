// The framework as a user meets it: real processes, real /dev/shm objects.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("Framework", .serialized)
struct FrameworkTests {
    // MARK: - calls

    @Test("echo of 0, 1, 100 and 4096 bytes; 4097 refused before anything is sent")
    func echoSizes() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("echo")
        let server = scope.startEchoServer(name)
        #expect(server.stdout.contains("serving"))
        let client = try Client(service: name)
        for size in [0, 1, 100, 4096] {
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let reply = try client.call(function: 2, payload: payload, timeout: .seconds(10))
            #expect(reply.status == 0)
            #expect(reply.data == payload, "echo of \(size) bytes")
        }
        // The trace record and the count follow the answer: wait for the fourth.
        #expect(waitUntil(timeout: 5) { (try? SectionReader(service: name).snapshot().callsServed) == 4 })
        let before = try SectionReader(service: name).snapshot()
        #expect(throws: IPCError.self) { _ = try client.call(function: 2, payload: [UInt8](repeating: 1, count: 4097)) }
        do {
            _ = try client.call(function: 2, payload: [UInt8](repeating: 1, count: 4097))
        } catch {
            #expect(error.code == .payloadTooLarge)
            #expect(error.message.contains("4097") && error.message.contains("4096"))
        }
        let after = try SectionReader(service: name).snapshot()
        #expect(after.nextSeq == before.nextSeq, "nothing was sent")
        #expect(after.lockCount == before.lockCount, "the mutex was not even taken")
        #expect(after.callsServed == 4)
        #expect(after.trace.count == 4)
        #expect(after.trace.last?.requestSize == 4096)
    }

    @Test("4 client processes x 2,000 calls each, all answered correctly")
    func fourClientProcesses() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("many")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let clients = (0..<4).map { scope.spawn(helperPath, ["call-loop", name, "2000", "client\($0)"]) }
        for c in clients {
            let code = c.wait(timeout: 120)
            #expect(code == 0, "client exit \(String(describing: code)): \(c.stdout) \(c.stderr)")
            #expect(c.stdout.contains("ok 2000"), "\(c.stdout)")
        }
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.callsServed == 8000)
        #expect(snap.nextSeq == 8000)
        #expect(snap.lockCount == 8000)
        #expect(snap.state == .idle)
    }

    @Test("one client shared by 4 threads: calls are serialised, none mixed up")
    func threadsShareOneClient() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("threads")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let client = try Client(service: name)
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<4 {
                group.addTask {
                    var bad = 0
                    for i in 0..<500 {
                        let p = Array("t\(t)-\(i)".utf8)
                        let r = try client.call(function: UInt32(t), payload: p, timeout: .seconds(20))
                        if r.data != p || r.status != 0 { bad += 1 }
                    }
                    return bad
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
        #expect(try SectionReader(service: name).snapshot().callsServed == 2000)
    }

    // MARK: - failures

    @Test("a client SIGKILLed while holding the mutex: the next call recovers it")
    func clientDiesHoldingMutex() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("ownerdead")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let holder = scope.spawn(helperPath, ["hold-mutex", name, "60"])
        #expect(holder.waitForOutput("held pid=", timeout: 10))
        let held = try SectionReader(service: name).snapshot()
        #expect(held.ownerPID == holder.pid)
        #expect(held.mutexWord.ownerTID == held.ownerTID)
        holder.killAndReap()
        let dead = try SectionReader(service: name).snapshot()
        #expect(dead.mutexWord.ownerDied, "the kernel marks the owner dead: word \(dead.mutexWord.raw)")
        let client = try Client(service: name)
        let reply = try client.call(function: 1, payload: Array("after".utf8), timeout: .seconds(5))
        #expect(reply.data == Array("after".utf8))
        // The server writes the trace record just after the answer: wait for it.
        #expect(waitUntil(timeout: 5) { (try? SectionReader(service: name).snapshot().trace.last?.seq) == reply.seq })
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.recoveredCount == 1)
        #expect(snap.mutexWord.isFree && !snap.mutexWord.ownerDied)
        #expect(snap.trace.last?.afterRecovery == true)
        // And it stays healthy.
        #expect(try client.call(function: 1, payload: [1]).data == [1])
    }

    @Test("a server SIGKILLed during a call: 'server gone' at once; a new server takes over")
    func serverDiesMidCall() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("srvdead")
        let server = scope.spawn(helperPath, ["serve-slow", name, "30000"])
        #expect(server.waitForOutput("serving epoch=1", timeout: 10))
        let caller = scope.spawn(helperPath, ["call", name, "1", "hi", "10000"])
        #expect(caller.waitForOutput("connected", timeout: 10))
        #expect(waitUntil(timeout: 10) { (try? SectionReader(service: name).snapshot().state) == .processing })
        server.killAndReap()
        let killedAt = now()
        let code = caller.wait(timeout: 5)
        let elapsed = now() - killedAt
        #expect(code == 1)
        #expect(caller.stdout.contains("error=serverGone"), "\(caller.stdout)")
        #expect(elapsed < 1.0, "server gone noticed after \(elapsed) s, not after the 10 s timeout")
        // Stale: the liveness lock is free, the object still there.
        let stale = try SectionReader(service: name).snapshot()
        #expect(!stale.serverAlive)
        #expect(throws: IPCError.self) { _ = try Client(service: name) }
        // Take over: epoch + 1, and calls work again.
        let second = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(second.stdout.contains("took over"), "\(second.stdout) \(second.stderr)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.serverEpoch == 2)
        #expect(snap.serverPID == second.pid)
        #expect(snap.state == .idle)
        #expect(try Client(service: name).call(function: 1, payload: [9, 9]).data == [9, 9])
    }

    @Test("a client survives a takeover between calls (same object, new epoch)")
    func clientAcrossTakeover() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("across")
        let first = scope.spawn(helperPath, ["serve-slow", name, "0"])
        #expect(first.waitForOutput("serving", timeout: 10))
        let client = try Client(service: name)
        #expect(try client.call(function: 0, payload: [1]).data == [1])
        first.killAndReap()
        let second = scope.spawn(helperPath, ["serve-slow", name, "0"])
        #expect(second.waitForOutput("serving epoch=2 tookover=true", timeout: 10))
        #expect(try client.call(function: 0, payload: [2]).data == [2])
    }

    @Test("clean shutdown: SIGTERM unlinks the object; a waiting client hears it promptly")
    func cleanShutdown() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        // ipcscope serve: Ctrl-C and SIGTERM stop it cleanly, exit 0, object removed.
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            let name = scope.serviceName("shutdown")
            let server = scope.startEchoServer(name)
            let c = try Client(service: name)
            #expect(try c.call(function: 0, payload: [7]).data == [7])
            server.signal(sig)
            #expect(server.wait(timeout: 10) == 0, "ipcscope serve exits 0 on signal \(sig): \(server.stderr)")
            #expect(!scope.objectExists(name), "a clean shutdown removes /dev/shm/ipcscope.\(name)")
            let start = now()
            do {
                _ = try c.call(function: 0, payload: [7], timeout: .seconds(10))
                Issue.record("a call to a stopped server must fail")
            } catch {
                #expect(error.code == .serverGone)
                #expect(error.message.contains("stopped"))
            }
            #expect(now() - start < 1)
        }
        // A client waiting on a call in progress when the server stops hears it at once,
        // as "server gone" or as status -4 (shutting down), never after its timeout.
        let name = scope.serviceName("midcall")
        let slow = scope.spawn(helperPath, ["serve-slow", name, "30000"])
        #expect(slow.waitForOutput("serving", timeout: 10))
        let caller = scope.spawn(helperPath, ["call", name, "1", "hi", "20000"])
        #expect(waitUntil(timeout: 10) { (try? SectionReader(service: name).snapshot().state) == .processing })
        slow.signal(SIGTERM)
        let stoppedAt = now()
        #expect(caller.wait(timeout: 5) != nil)
        #expect(now() - stoppedAt < 1)
        #expect(caller.stdout.contains("status=-4") || caller.stdout.contains("error=serverGone"), "\(caller.stdout)")
        #expect(slow.wait(timeout: 5) == 0)
        #expect(!scope.objectExists(name))
    }

    @Test("a script server reloads on SIGHUP from a shell, but stops when its terminal hangs up")
    func serverStopsWhenTerminalHangsUp() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hangup")
        let script = scope.file("hup.yaml", "rules:\n  - match: {function: any}\n    reply: {echo: true}\n")
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) serve \(name) --script \(script)")
        let (ok, screen) = tmux.waitFor("serving")
        #expect(ok, "\(screen)")
        #expect(scope.objectExists(name))
        tmux.kill()  // the terminal goes away: SIGHUP, and no controlling terminal any more
        #expect(waitUntil(timeout: 10) { !scope.objectExists(name) }, "the server stopped cleanly and removed its section")
    }

    @Test("a call to a server dead for over 2 s fails at once, before anything is sent")
    func staleHeartbeatProbedAtCallStart() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("stale")
        let server = scope.spawn(helperPath, ["serve-slow", name, "0"])
        #expect(server.waitForOutput("serving", timeout: 10))
        let client = try Client(service: name)
        #expect(try client.call(function: 0, payload: [1]).data == [1])
        server.killAndReap()
        sleepSeconds(2.2)  // the heartbeat is now older than 2 s
        let before = try SectionReader(service: name).snapshot()
        let start = now()
        do {
            _ = try client.call(function: 0, payload: [2], timeout: .seconds(10))
            Issue.record("a call to a dead server must fail")
        } catch {
            #expect(error.code == .serverGone)
            #expect(error.message.contains("died"))
        }
        #expect(now() - start < 0.05, "one fcntl at call start, not a 100 ms slice")
        let after = try SectionReader(service: name).snapshot()
        #expect(after.nextSeq == before.nextSeq, "nothing was sent to the dead server")
        #expect(after.state == .idle)
    }

    @Test("the cached thread id is the caller's, and a forked child gets its own")
    func threadIDCacheAcrossFork() async throws {
        let other = await Task.detached { (CIPCScope_thread_id(), CIPCScope_gettid()) }.value
        #expect(other.0 == other.1)
        // No suspension point from here on: the cache is filled on the thread that forks.
        #expect(CIPCScope_thread_id() == CIPCScope_gettid())
        let pid = fork()
        if pid == 0 {
            // The child: only async-signal-safe work, then _exit.
            _exit(CIPCScope_thread_id() == CIPCScope_gettid() ? 0 : 1)
        }
        try #require(pid > 0)
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(status == 0, "the child's cached id was cleared by the atfork handler")
    }

    @Test("an in-process server: stop from another thread, then stop and shutdown again, are safe")
    func inProcessStopIsIdempotent() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("inproc")
        let server = try Server(service: name)
        let thread = try OSThread { server.run { request, response in try response.set(request.payload); return 0 } }
        let client = try Client(service: name)
        #expect(try client.call(function: 0, payload: [4, 2]).data == [4, 2])
        server.stop()
        thread.join()
        #expect(!scope.objectExists(name), "run() shuts down and unlinks when it returns")
        server.stop()          // after the mapping is gone: must not touch it
        server.setStepMode(true)
        server.shutdown()
        #expect(throws: IPCError.self) { _ = try client.call(function: 0, payload: [1], timeout: .seconds(1)) }
    }

    @Test("a second server on a live name fails and names the first one's pid")
    func secondServerRefused() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("twice")
        let first = scope.startEchoServer(name)
        let second = scope.ipcscope(["serve", name, "--echo"], timeout: 10)
        #expect(second.exitStatus == 1)
        #expect(second.stderr.contains("pid \(first.pid)"), "\(second.stderr)")
        #expect(second.stderr.contains("still running"))
        do {
            _ = try Server(service: name)
            Issue.record("in-process second server must fail")
        } catch {
            #expect(error.code == .nameInUse)
            #expect(error.pid == first.pid)
        }
        // The first still serves.
        #expect(try Client(service: name).call(function: 0, payload: [3]).data == [3])
    }

    // MARK: - bad input

    @Test("bad names are refused before any system call", arguments: [
        "", ".hidden", "-dash", "a/b", "white space", "ünï", String(repeating: "x", count: 129), "semi;colon",
    ])
    func badNames(_ name: String) throws {
        #expect(throws: IPCError.self) { _ = try ServiceName(name) }
        do {
            _ = try Client(service: name)
        } catch {
            #expect(error.code == .badName)
            #expect(error.message.contains("A-Z a-z 0-9 . _ -") || error.message.contains("start it with"))
        }
        do {
            _ = try Server(service: name)
        } catch {
            #expect(error.code == .badName)
        }
    }

    @Test("good names are accepted", arguments: ["a", "My.Service_2-x", "_x", String(repeating: "y", count: 128)])
    func goodNames(_ name: String) throws {
        #expect(try ServiceName(name).objectName == "/ipcscope." + name)
    }

    @Test("garbage, truncated, wrong magic, wrong version: clear errors, no crash")
    func corruptObjects() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var cases: [(String, [UInt8], Int, IPCError.Code, String)] = []
        cases.append(("garbage", (0..<28672).map { UInt8(truncatingIfNeeded: $0 &* 31) }, 28672, .corruptSection, "bad magic"))
        cases.append(("empty", [], 0, .corruptSection, "too short"))
        var truncated = validSectionHeader()
        truncated = Array(truncated.prefix(512))
        cases.append(("truncated", truncated, 4096, .corruptSection, "truncated"))
        var version = validSectionHeader(); version[8] = 9
        cases.append(("version", version, 28672, .incompatibleSection, "version 9"))
        var magic = validSectionHeader(); magic[0] = UInt8(ascii: "X")
        cases.append(("magic", magic, 28672, .corruptSection, "bad magic"))
        var sizes = validSectionHeader(); sizes[28] = 0xff; sizes[29] = 0xff; sizes[30] = 0xff
        cases.append(("sizes", sizes, 28672, .corruptSection, "inconsistent"))
        for (label, bytes, size, code, phrase) in cases {
            let name = scope.serviceName(label)
            plantSection(name, bytes: bytes, size: size)
            do {
                _ = try Client(service: name)
                Issue.record("\(label): client must refuse")
            } catch {
                #expect(error.code == code, "\(label): \(error.message)")
                #expect(error.message.contains(phrase), "\(label): \(error.message)")
                #expect(error.message.contains("ipcscope clean"), "\(label) says what to do: \(error.message)")
            }
            // A server refuses it too, unless asked to replace it.
            #expect(throws: IPCError.self) { _ = try Server(service: name) }
            #expect(scope.objectExists(name), "\(label): nothing is destroyed without --replace")
            // The read-only reader decodes what it can and lists the problems.
            let snap = try SectionReader(service: name).snapshot()
            #expect(!snap.isValid, "\(label)")
            #expect(!snap.problems.isEmpty, "\(label)")
            // The CLI says it in one line.
            let call = scope.ipcscope(["call", name, "--text", "x"], timeout: 10)
            #expect(call.exitStatus == 1)
            #expect(call.stderr.split(separator: "\n").count == 1, "\(label): \(call.stderr)")
            // --replace takes the name back.
            var options = ServerOptions()
            options.replaceInvalid = true
            let server = try Server(service: name, options: options)
            #expect(!server.tookOver)
            server.shutdown()
            #expect(!scope.objectExists(name))
        }
    }

    @Test("a section owned by another uid is refused by clients")
    func foreignOwner() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("foreign")
        _ = scope.startEchoServer(name)
        let other: uid_t = geteuid() == 0 ? 65534 : geteuid() + 1
        guard chown("/dev/shm/ipcscope." + name, other, UInt32.max) == 0 else {
            return  // not root: cannot give the object away; nothing to test here
        }
        do {
            _ = try Client(service: name)
            Issue.record("must refuse")
        } catch {
            #expect(error.code == .foreignOwner)
            #expect(error.message.contains("uid \(other)"))
            #expect(error.message.contains("--trust-uid"))
        }
        var options = ClientOptions()
        options.trustedUID = other
        #expect(try Client(service: name, options: options).call(function: 0, payload: [5]).data == [5])
    }

    @Test("a hung server: the call times out at its deadline, and the next caller waits for the slot")
    func timeoutLeavesSlotProtected() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hung")
        let server = scope.spawn(helperPath, ["serve-slow", name, "1500"])
        #expect(server.waitForOutput("serving", timeout: 10))
        let client = try Client(service: name)
        let start = now()
        do {
            _ = try client.call(function: 0, payload: Array("first".utf8), timeout: .milliseconds(300))
            Issue.record("must time out")
        } catch {
            #expect(error.code == .timeout)
        }
        #expect(now() - start < 1.2)
        // The server still holds "first"; the next call must not overwrite it, and gets its own answer.
        let reply = try client.call(function: 0, payload: Array("second".utf8), timeout: .seconds(10))
        #expect(reply.data == Array("second".utf8))
    }

    // MARK: - layout and other languages

    @Test("default layout is the document's: 28672 bytes")
    func defaultLayout() throws {
        let l = try SectionLayout()
        #expect(l.requestOffset == 512)
        #expect(l.responseOffset == 4672)
        #expect(l.traceOffset == 8832)
        #expect(l.sectionSize == 28672)
        #expect(throws: IPCError.self) { _ = try SectionLayout(requestCapacity: 1_048_577) }
        #expect(throws: IPCError.self) { _ = try SectionLayout(traceCapacity: 100) }
        #expect(MemoryLayout<ipcscope_header_t>.size == 512)
    }

}
