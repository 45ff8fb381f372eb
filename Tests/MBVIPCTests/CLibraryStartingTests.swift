// The C library meeting a section that is being created (amendment 2, item 2), each moment made
// on purpose by IPCScopeTestHelper create-section (a server's creation, slowed down): its client
// waits for a starting section as the Swift client does, and says "starting" when it never
// finishes; its server says "being started" instead of naming pid 0. And amendment 2, item 1 on
// the C server: a reader's read lock on a stale section is not a live server.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("C library: starting sections and read locks", .serialized)
struct CLibraryStartingTests {
    static func creator(_ scope: TestScope, _ name: String, lockMS: Int, headerMS: Int, until step: String) throws -> ChildProcess {
        try #require(access(helperPath, X_OK) == 0, "\(helperPath) is built by swift build --build-tests")
        let p = scope.spawn(helperPath, ["create-section", name, String(lockMS), String(headerMS)])
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
}
