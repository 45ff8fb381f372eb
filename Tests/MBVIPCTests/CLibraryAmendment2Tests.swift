// The C library and amendment 2 of the format, as the Swift framework follows it. Item 2: a
// section being created, each moment made on purpose by IPCScopeTestHelper create-section (a
// server's creation, slowed down): the C client waits for a starting section and says
// "starting" when it never finishes; the C server says "being started" instead of naming pid 0.
// Item 1: a reader's read lock on a stale section is not a live server. Item 4: client_waiting
// left by a dead client is reset. (Item 5, the mutex's type word: CLibraryCorruptMutexTests.)
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import IPCScopeObserve
import Testing
import TestSupport

@Suite("C library: amendment 2 (starting sections, read locks, client_waiting)", .serialized)
struct CLibraryAmendment2Tests {
    static func creator(_ scope: TestScope, _ name: String, lockMS: Int, headerMS: Int, until step: String) throws -> ChildProcess {
        try #require(access(helperPath, X_OK) == 0, "\(helperPath) is built by swift build --build-tests")
        let p = scope.spawn(helperPath, ["create-section", name, lockMS < 0 ? "never" : String(lockMS), headerMS < 0 ? "never" : String(headerMS)])
        try #require(p.waitForOutput(step, timeout: 10), "helper: \(p.stdout) \(p.stderr)")
        return p
    }

    @Test("C client: the creator holds the lock, the header comes 300 ms later: it waits and connects")
    func waitsForTheHeader() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cstart")
        _ = try Self.creator(scope, name, lockMS: 0, headerMS: 300, until: "locked")
        let t0 = now()
        let r = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(r.stdout == "connected 4096/4096\n", "\(r.stdout)")
        #expect(now() - t0 > 0.15, "it waited for the header")
    }

    @Test("C client: the creator between O_EXCL and its lock (an empty object): it waits and connects")
    func waitsForTheLock() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cprelock")
        _ = try Self.creator(scope, name, lockMS: 300, headerMS: 200, until: "created")
        let r = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(r.stdout == "connected 4096/4096\n", "\(r.stdout)")
    }

    @Test("C client: never finished: 'starting' (code 20) after about a second; the creator dead: not a section (code 6)")
    func neverFinishedOrDead() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cnever")
        let creator = try Self.creator(scope, name, lockMS: 0, headerMS: -1, until: "locked")
        let t0 = now()
        let r = scope.run(b.probe, ["connect", name], timeout: 10)
        let waited = now() - t0
        #expect(r.stdout.contains("fail code=20") && r.stdout.contains("'\(name)' is starting"), "\(r.stdout)")
        #expect(waited > 0.9 && waited < 3, "waited \(waited) s")

        // Killed before writing anything: the kernel drops its lock; the empty object is no section.
        creator.killAndReap()
        let dead = scope.run(b.probe, ["connect", name], timeout: 10)
        #expect(dead.stdout.contains("fail code=6") && dead.stdout.contains("not a regular file of a section's size"), "\(dead.stdout)")
        #expect(scope.objectExists(name))
    }

    @Test("C server: a section being created is 'being started by another process', not 'served by pid 0'")
    func serverMeetsAStartingSection() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("csrvstart")
        _ = try Self.creator(scope, name, lockMS: 0, headerMS: -1, until: "locked")
        let s = scope.run(b.echoServer, [name], timeout: 10)
        #expect(s.exitStatus == 1)
        #expect(s.stderr.contains("is being started by another process"), "\(s.stderr)")
        #expect(!s.stderr.contains("pid 0"), "\(s.stderr)")
    }

    @Test("C server: a stale section that a reader holds a read lock on is recreated (a read lock is no server)")
    func serverRecreatesPastAReadLock() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("crdlock")
        let first = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(first.stdout.contains("serving"), "\(first.stderr)")
        first.killAndReap()
        let reader = scope.spawn(helperPath, ["read-lock", name, "30"])
        try #require(reader.waitForOutput("locked", timeout: 10), "\(reader.stdout) \(reader.stderr)")
        let server = CLibraryInteropTests.startCxxServer(scope, b, name)
        #expect(server.stdout.contains("serving"), "not 'served by pid 0': \(server.stderr)")
        let r = scope.run(b.probe, ["call", name, "1", "past a read lock"], timeout: 10)
        #expect(r.stdout.contains("reply status=0 size=16 text=past a read lock"), "\(r.stdout)")
    }

    @Test("a C client killed while it waits for its answer: the next C client (EOWNERDEAD) resets client_waiting")
    func clientWaitingReset() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cwaiting")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name, "slow=1500")
        try #require(!s.hasExited, "\(s.stderr)")
        let victim = scope.spawn(b.probe, ["call", name, "1", "victim", "4096", "10000"])
        // Past its spin, the victim sleeps on response_event, counted in client_waiting.
        #expect(CLibraryRecoveryTests.waitForSnapshot(name) { $0.ownerPID == victim.pid && $0.clientWaiting == 1 })
        victim.signal(SIGKILL)
        #expect(victim.wait(timeout: 5) == 128 + SIGKILL)
        #expect(try SectionReader(service: name).snapshot().clientWaiting == 1, "the dead client's count is left behind")
        let next = scope.run(b.probe, ["call", name, "2", "next", "4096", "10000"], timeout: 15)
        #expect(next.stdout.contains("reply status=0 size=4 text=next"), "\(next.stdout)")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.recoveredCount == 1)
        #expect(snap.clientWaiting == 0, "reset by the client that recovered the mutex")
    }
}
