// A client connecting while a section is being created, each moment made on purpose by a helper
// process that creates the object the way a server does, slowed down (IPCScopeTestHelper
// create-section): between O_EXCL and the liveness lock, holding the lock without a header, and
// a creator that died before writing anything. Starting sections are waited for (amendment 2,
// item 2); a dead creator's empty object is "too short to be a section".
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import Testing
import TestSupport

@Suite("Hostile objects: sections being created", .serialized)
struct HostileKitStartingTests {
    /// Starts the helper and waits for `step` ("created", "locked", "serving").
    static func creator(_ scope: TestScope, _ name: String, lockMS: Int, headerMS: Int, until step: String = "created") throws -> ChildProcess {
        let p = scope.spawn(helperPath, ["create-section", name, lockMS < 0 ? "never" : String(lockMS), headerMS < 0 ? "never" : String(headerMS)])
        try #require(p.waitForOutput(step, timeout: 10), "helper: \(p.stdout) \(p.stderr)")
        return p
    }

    @Test("alive, between O_EXCL and its lock (an empty, unlocked object): the client waits and connects")
    func beforeTheLock() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("prelock")
        let creator = try Self.creator(scope, name, lockMS: 300, headerMS: 300)
        let start = now()
        let client = try Client(service: name)
        let waited = now() - start
        #expect(waited > 0.4 && waited < 1.0, "waited \(waited) s for the lock, then the header")
        #expect(client.requestCapacity == 4096)
        #expect(creator.stdout.contains("serving"))
    }

    @Test("alive, holding the lock, no header yet: the client waits and connects; never finished: 'starting'")
    func holdingTheLock() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("locked")
        _ = try Self.creator(scope, name, lockMS: 0, headerMS: 300, until: "locked")
        let start = now()
        let client = try Client(service: name)
        #expect(now() - start > 0.15 && now() - start < 1.0)
        #expect(client.responseCapacity == 4096)

        let never = scope.serviceName("never")
        _ = try Self.creator(scope, never, lockMS: 0, headerMS: -1, until: "locked")
        var quick = ClientOptions()
        quick.startingWait = .milliseconds(300)
        let t0 = now()
        do {
            _ = try Client(service: never, options: quick)
            Issue.record("must not connect to a section without a header")
        } catch {
            #expect(error.code == .serverStarting && error.message.contains("is starting"), "\(error.message)")
            #expect(!error.message.contains("too short"))
        }
        #expect(now() - t0 >= 0.29 && now() - t0 < 1.0)
    }

    @Test("dead before writing anything (after or before its lock): 'is 0 bytes, too short to be a section'", arguments: [0, -1])
    func creatorDied(lockMS: Int) throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("died")
        let creator = try Self.creator(scope, name, lockMS: lockMS, headerMS: -1, until: lockMS < 0 ? "created" : "locked")
        creator.killAndReap()
        // The empty object is young: the client gives its creator the starting wait to lock it,
        // then says what it is. (Once it is older than that, it says so at once.)
        var quick = ClientOptions()
        quick.startingWait = .milliseconds(300)
        for _ in 0..<2 {
            let t0 = now()
            do {
                _ = try Client(service: name, options: quick)
                Issue.record("must not connect")
            } catch {
                #expect(error.code == .corruptSection, "\(error.message)")
                #expect(error.message.contains("is 0 bytes, too short to be a section"), "\(error.message)")
            }
            #expect(now() - t0 < 0.6)
        }
        #expect(scope.objectExists(name), "a client never removes anything")
    }
}
