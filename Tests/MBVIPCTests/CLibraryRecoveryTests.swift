// The C library when processes die and sections go bad: a client killed holding the mutex,
// a server killed mid-call and taken over, stale, foreign and invalid objects, and every
// bad input through the API (a reason, never a crash); then all of it under ASan and UBSan.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import Foundation
import Testing
import TestSupport

@Suite("C library: recovery and bad input", .serialized)
struct CLibraryRecoveryTests {
    /// Waits until a snapshot of `name` satisfies `condition` (5 s at most).
    static func waitForSnapshot(_ name: String, _ condition: (Snapshot) -> Bool) -> Bool {
        waitUntil(timeout: 5) { (try? SectionReader(service: name).snapshot()).map(condition) ?? false }
    }

    @Test("a C client killed while holding the mutex is recovered by the next C caller")
    func killedClientHoldingMutex() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cdies")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name, "slow=1000")
        try #require(!s.hasExited, "\(s.stderr)")
        let victim = scope.spawn(b.probe, ["call", name, "1", "victim", "4096", "10000"])
        #expect(Self.waitForSnapshot(name) { $0.ownerPID == victim.pid && $0.state == .processing })
        victim.signal(SIGKILL)
        #expect(victim.wait(timeout: 5) == 128 + SIGKILL)

        let next = scope.run(b.probe, ["call", name, "2", "next", "4096", "10000"], timeout: 15)
        #expect(next.stdout.contains("reply status=0 size=4 text=next"), "\(next.stdout)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.recoveredCount == 1, "EOWNERDEAD repaired once")
        #expect(snap.ownerPID == 0)
        #expect(snap.mutexWord.isFree)
        #expect(snap.trace.last?.function == 2)
        #expect(snap.trace.last?.afterRecovery == true, "the server marks the first call after a recovery")
    }

    @Test("the C++ server killed mid-call: the waiting C client fails promptly, a new C++ server takes over")
    func killedServerTakenOver() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("sdies")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name, "slow=20000")
        try #require(!s.hasExited, "\(s.stderr)")
        let caller = scope.spawn(b.probe, ["call", name, "1", "never answered", "4096", "30000"])
        #expect(Self.waitForSnapshot(name) { $0.state == .processing })
        s.signal(SIGKILL)
        let killed = now()
        #expect(caller.wait(timeout: 5) == 1)
        let took = now() - killed
        #expect(took < 1.5, "the client noticed the death after \(took) s")
        #expect(caller.stdout.contains("fail code=13"), "\(caller.stdout)")
        #expect(caller.stdout.contains("the server of '\(name)' died"), "\(caller.stdout)")

        // Stale now: a connect says so.
        let stale = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(stale.stdout.contains("fail code=4"), "\(stale.stdout)")
        #expect(stale.stdout.contains("no server is running (stale)"), "\(stale.stdout)")

        let s2 = CLibraryInteropTests.startCxxServer(scope, b, name)
        #expect(s2.stdout.contains("serving \(name)"), "\(s2.stdout) \(s2.stderr)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.serverPID == s2.pid)
        #expect(snap.serverEpoch == 2, "a takeover, not a new section")
        let r = scope.run(b.probe, ["call", name, "3", "after takeover"], timeout: 10)
        #expect(r.stdout.contains("reply status=0 size=14 text=after takeover"), "\(r.stdout)")
    }

    @Test("a call's timeout: it fails on time, and the next call waits out the abandoned one and gets its own answer")
    func callTimeout() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("ctimeout")
        _ = CLibraryInteropTests.startCxxServer(scope, b, name, "slow=1000")
        let started = now()
        let late = scope.run(b.probe, ["call", name, "1", "too slow", "4096", "200"], timeout: 10)
        let took = now() - started
        #expect(late.stdout.contains("call fail code=12"), "\(late.stdout)")
        #expect(late.stdout.contains("timed out waiting for the answer"), "\(late.stdout)")
        #expect(took < 0.9, "MBV_IPCCallTimeout(200 ms) returned after \(took) s")
        let next = scope.run(b.probe, ["call", name, "2", "mine", "4096", "5000"], timeout: 10)
        #expect(next.stdout.contains("reply status=0 size=4 text=mine"), "\(next.stdout)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.callsServed == 2, "the abandoned call was still answered, into the slot")
    }

    @Test("stale, foreign, world-writable and invalid objects are refused with a reason")
    func refusedObjects() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        // Another user's section (we are root: chown a live one), and one anyone may write.
        let name = scope.serviceName("foreign")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name)
        try #require(!s.hasExited)
        let path = "/dev/shm/ipcscope." + name
        #expect(chown(path, 65534, 65534) == 0)
        let foreign = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(foreign.stdout.contains("fail code=5"), "\(foreign.stdout)")
        #expect(foreign.stdout.contains("belongs to uid 65534"), "\(foreign.stdout)")
        #expect(chown(path, 0, 0) == 0 && chmod(path, 0o666) == 0)
        let open = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(open.stdout.contains("fail code=5"), "\(open.stdout)")
        #expect(open.stdout.contains("writable by every user (mode 666)"), "\(open.stdout)")
        #expect(chmod(path, 0o600) == 0)
        #expect(scope.run(b.probe, ["connect", name], timeout: 10).stdout == "connected 4096/4096\n")

        // A server never takes over a dead section that is not its user's.
        s.signal(SIGKILL)
        s.wait(timeout: 5)
        #expect(chown(path, 65534, 65534) == 0)
        let squat = scope.run(b.echoServer, [name], timeout: 10)
        #expect(squat.exitStatus == 1)
        #expect(squat.stderr.contains("belongs to uid 65534"), "\(squat.stderr)")

        // Junk: too short, a bad magic, a FIFO (must not hang), a symbolic link.
        let junk = scope.serviceName("junk"), zeros = scope.serviceName("zeros")
        let fifo = scope.serviceName("fifo"), link = scope.serviceName("link")
        let fd1 = Glibc.open("/dev/shm/ipcscope." + junk, O_CREAT | O_WRONLY, 0o600)
        _ = write(fd1, "not a section", 13)
        close(fd1)
        let fd2 = Glibc.open("/dev/shm/ipcscope." + zeros, O_CREAT | O_WRONLY, 0o600)
        _ = ftruncate(fd2, 28672)
        close(fd2)
        #expect(mkfifo("/dev/shm/ipcscope." + fifo, 0o600) == 0)
        #expect(symlink("/dev/shm/ipcscope." + zeros, "/dev/shm/ipcscope." + link) == 0)
        for (n, text) in [(junk, "not a regular file of a section's size"), (zeros, "bad magic"),
                          (fifo, "not a regular file of a section's size"), (link, "not a regular file")] {
            let r = scope.run(b.probe, ["connect", n], timeout: 5)
            #expect(r.exitStatus == 1)
            #expect(r.stdout.contains("fail code=6") && r.stdout.contains(text), "\(n): \(r.stdout)")
        }
        let onJunk = scope.run(b.echoServer, [zeros], timeout: 10)
        #expect(onJunk.exitStatus == 1)
        #expect(onJunk.stderr.contains("bad magic") && onJunk.stderr.contains("code 6"), "\(onJunk.stderr)")
    }

    @Test("headers that lie (version, sizes, truncation) are refused; a request_size over capacity is answered -1")
    func lyingSections() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        var version = validSectionHeader(); version[8] = 9
        var sizes = validSectionHeader(); sizes[28] = 0xff; sizes[29] = 0xff; sizes[30] = 0xff
        let cases: [(String, [UInt8], Int, String)] = [
            ("version", version, 28672, "fail code=7"), ("sizes", sizes, 28672, "inconsistent sizes"),
            ("truncated", validSectionHeader(), 4096, "truncated"),
        ]
        for (label, bytes, size, words) in cases {
            let name = scope.serviceName(label)
            plantSection(name, bytes: bytes, size: size)
            let r = scope.run(b.probe, ["connect", name], timeout: 10)
            #expect(r.exitStatus == 1 && r.stdout.contains(words), "\(label): \(r.stdout)")
        }

        // A hand-made request whose request_size lies: the C++ server answers -1 and traces it
        // (raw size, zero head, flag bit 0), without reading past the slot.
        let name = scope.serviceName("liar")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name)
        try #require(!s.hasExited)
        let fd = shm_open("/ipcscope." + name, O_RDWR, 0)
        try #require(fd >= 0)
        defer { close(fd) }
        let base = try #require(mmap(nil, 28672, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        defer { munmap(base, 28672) }
        let mutex = base + Int(IPCSCOPE_OFF_MUTEX)
        try #require(CIPCScope_mutex_lock_until(mutex, CIPCScope_monotonic_ns() + 5_000_000_000) == 0)
        let seq = CIPCScope_add64(base + Int(IPCSCOPE_OFF_NEXT_SEQ), 1)
        let req = base + 512
        (req + Int(IPCSCOPE_REQ_DATA)).storeBytes(of: 0x41414141, as: UInt32.self)
        (req + Int(IPCSCOPE_REQ_SIZE)).storeBytes(of: UInt32(5000), as: UInt32.self)
        (req + Int(IPCSCOPE_REQ_FUNCTION)).storeBytes(of: UInt32(3), as: UInt32.self)
        CIPCScope_store64(req + Int(IPCSCOPE_REQ_SEQ), seq)
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_STATE), UInt32(IPCSCOPE_STATE_REQUEST_READY))
        _ = CIPCScope_add32(base + Int(IPCSCOPE_OFF_REQUEST_EVENT), 1)
        _ = CIPCScope_futex_wake(base + Int(IPCSCOPE_OFF_REQUEST_EVENT), Int32.max)
        let answered = waitUntil(timeout: 5) {
            CIPCScope_load32(base + Int(IPCSCOPE_OFF_STATE)) == UInt32(IPCSCOPE_STATE_RESPONSE_READY)
        }
        let rsp = base + 4672
        let status = (rsp + Int(IPCSCOPE_RSP_STATUS)).load(as: Int32.self)
        let size = (rsp + Int(IPCSCOPE_RSP_SIZE)).load(as: UInt32.self)
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_STATE), UInt32(IPCSCOPE_STATE_IDLE))
        _ = CIPCScope_mutex_unlock(mutex)
        #expect(answered)
        #expect(status == -1 && size == 0)
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.callsRejected == 1)
        let record = try #require(snap.trace.last)
        #expect(record.rejected && record.requestSize == 5000 && record.status == -1)
        #expect(record.requestHead == [UInt8](repeating: 0, count: 16), "a rejected request's head stays zero")
        // And the server still serves.
        let r = scope.run(b.probe, ["call", name, "1", "still here"], timeout: 10)
        #expect(r.stdout.contains("reply status=0 size=10 text=still here"), "\(r.stdout)")
    }

    @Test("bad input through the C API: each fails with a code and a reason, and the connection still works")
    func badInput() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("badin")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name)
        try #require(!s.hasExited)
        let r = scope.run(b.probe, ["bad", name], timeout: 20)
        #expect(r.exitStatus == 0, "no crash: \(r.stderr)")
        let server = scope.run(b.probe, ["badserver", name], timeout: 20)
        #expect(server.exitStatus == 0, "no crash: \(server.stderr)")
        Self.checkBadInputLines(r.stdout + server.stdout, name: name, serverPID: s.pid)

        // A handler that claims more than the response capacity: status -2, never the bytes.
        let over = scope.serviceName("overflow")
        _ = CLibraryInteropTests.startCxxServer(scope, b, over, "overflow")
        let o = scope.run(b.probe, ["call", over, "1", "x"], timeout: 10)
        #expect(o.stdout.contains("call fail code=14 status=-2"), "\(o.stdout)")
        #expect(o.stdout.contains("handler failed or answered more than the response capacity"), "\(o.stdout)")
        let snap = try SectionReader(service: over).snapshot()
        #expect(snap.trace.last?.status == -2 && snap.trace.last?.responseSize == 0)
    }

    /// The probe's `bad` and `badserver` lines: case name, then the expected code and words.
    static func checkBadInputLines(_ out: String, name: String, serverPID: Int32) {
        let expected: [(String, String)] = [
            ("null-name fail code=1", "service name is NULL"),
            ("null-name-narrow fail code=1", "service name is NULL"),
            ("empty-name fail code=2", "service name is empty"),
            ("bad-name fail code=2", "invalid service name"),
            ("dot-name fail code=2", "not starting with . or -"),
            ("long-name fail code=2", "invalid service name"),
            ("wide-name fail code=2", "invalid service name"),
            ("null-conn fail code=1", "conn is NULL"),
            ("unknown fail code=3", "no service 'no-such-service-mbvipc'"),
            ("call-null-conn fail code=1", "conn is NULL"),
            ("call-unconnected fail code=11", "not connected"),
            ("connect-live ok", ""),
            ("connect-twice fail code=1", "already connected"),
            ("connect-twice-kept ok", ""),
            ("null-size fail code=1", "response_size is NULL"),
            ("null-request fail code=1", "request is NULL but request_size is 5"),
            ("null-response fail code=1", "response is NULL"),
            ("too-large fail code=9", "request of 4097 bytes exceeds the request capacity of 4096 bytes of service '\(name)'"),
            ("too-small fail code=10 status=0 needed=100", "is 100 bytes and does not fit the buffer of 16 bytes"),
            ("still-works ok", ""),
            ("after-disconnect fail code=11", "not connected"),
            ("disconnect-twice ok", ""),
            ("last-error-after-success ok", ""),
            ("server-null-name fail code=1", "NULL"),
            ("server-bad-name fail code=2", "invalid service name"),
            ("server-null-handler fail code=1", "the handler is NULL"),
            ("server-live-name fail code=8", "served by pid \(serverPID), still running"),
            ("server-bad-trace fail code=1", "power of two"),
            ("server-bad-capacity fail code=1", "out of range"),
            ("loop-null fail code=1", "the server is NULL"),
            ("stop-free-null ok", ""),
        ]
        let lines = out.split(separator: "\n").map(String.init)
        for (head, words) in expected {
            let line = lines.first { $0.hasPrefix(head) }
            #expect(line != nil, "no line '\(head)' in:\n\(out)")
            if let line { #expect(words.isEmpty || line.contains(words), "\(line)") }
        }
    }

    @Test("under -fsanitize=address,undefined: bad input, sizes 0 to capacity, threads, an overflowing handler, stops")
    func sanitizers() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let dir = scope.directory, lib = dir + "/asan"
        let san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
        let make = scope.run("/usr/bin/make", ["-s", "-C", CLib.sources, "O=" + lib, "CFLAGS=-O1 -g",
                                               "EXTRA_CFLAGS=" + san.joined(separator: " "),
                                               "LDFLAGS=" + san.joined(separator: " ")], timeout: 240)
        try #require(make.exitStatus == 0, "\(make.stderr)")
        for (compiler, source, out) in [("/usr/bin/c++", "echo_server.cpp", "echo_server"), ("/usr/bin/cc", "c_probe.c", "c_probe")] {
            let std = compiler.hasSuffix("c++") ? "-std=c++11" : "-std=c99"
            let c = scope.run(compiler, [std] + CLib.warnings + san + CLib.includes +
                              ["-o", dir + "/" + out, CLib.root + "/Tests/CLibrary/" + source, lib + "/libmbvipc.a", "-lpthread"],
                              timeout: 240)
            try #require(c.exitStatus == 0, "\(source): \(c.stderr)")
        }
        _ = b
        let env = ["ASAN_OPTIONS": "abort_on_error=0:exitcode=99", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"]
        let name = scope.serviceName("asan")
        let s = scope.spawn(dir + "/echo_server", [name], environment: env)
        #expect(waitUntil(timeout: 20) { s.stdout.contains("serving") || s.hasExited }, "\(s.stderr)")
        var outputs: [ChildProcess] = []
        let bad = scope.run(dir + "/c_probe", ["bad", name], timeout: 60, environment: env)
        let badServer = scope.run(dir + "/c_probe", ["badserver", name], timeout: 60, environment: env)
        #expect(bad.exitStatus == 0 && badServer.exitStatus == 0, "\(bad.stderr) \(badServer.stderr)")
        Self.checkBadInputLines(bad.stdout + badServer.stdout, name: name, serverPID: s.pid)
        outputs += [bad, badServer]
        for n in [0, 1, 4095, 4096] {
            let r = scope.run(dir + "/c_probe", ["size", name, String(n)], timeout: 30, environment: env)
            #expect(r.stdout.contains("reply status=0 size=\(n) "), "\(r.stdout) \(r.stderr)")
            outputs.append(r)
        }
        let threads = scope.run(dir + "/c_probe", ["threads", name, "4", "100"], timeout: 60, environment: env)
        #expect(threads.stdout == "threads 4 calls 100 failures 0\n", "\(threads.stdout) \(threads.stderr)")
        let own = scope.serviceName("asanself")
        let selfServe = scope.run(dir + "/c_probe", ["selfserve", own], timeout: 60, environment: env)
        #expect(selfServe.exitStatus == 0 && selfServe.stdout.contains("freed-while-running loop-returned 1"),
                "\(selfServe.stdout) \(selfServe.stderr)")
        outputs += [threads, selfServe]
        let tooBig = scope.run(dir + "/c_probe", ["size", name, "4097"], timeout: 30, environment: env)
        #expect(tooBig.stdout.contains("fail code=9"), "\(tooBig.stdout)")
        let over = scope.serviceName("asanover")
        let o = scope.spawn(dir + "/echo_server", [over, "overflow"], environment: env)
        #expect(waitUntil(timeout: 20) { o.stdout.contains("serving") || o.hasExited })
        let oc = scope.run(dir + "/c_probe", ["call", over, "1", "x"], timeout: 30, environment: env)
        #expect(oc.stdout.contains("status=-2"), "\(oc.stdout)")
        outputs += [tooBig, oc]
        for server in [s, o] {
            server.signal(SIGTERM)
            #expect(server.wait(timeout: 10) == 0, "\(server.stderr)")
            outputs.append(server)
        }
        for p in outputs {
            #expect(!p.stderr.contains("Sanitizer") && !p.stderr.contains("runtime error"), "\(p.arguments): \(p.stderr)")
        }
    }
}
