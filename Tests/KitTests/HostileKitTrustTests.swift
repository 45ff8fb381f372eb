// Who may take over, use or fake a section: another user (nobody, through setpriv), modes that
// let others write, a mutex held by a thread that no longer exists, a reader's read lock.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("Hostile sections (trust)", .serialized)
struct HostileKitTrustTests {
    @Test("root never takes over a section of nobody's: it says whose it is, and touches nothing")
    func rootRefusesForeignSection() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        guard scope.canActAsNobody() else { return }
        let name = scope.serviceName("theirs")
        let theirs = scope.spawnAsNobody(ipcscopePath, ["serve", name, "--echo", "--quiet"])
        #expect(theirs.waitForOutput("serving", timeout: 10), "setpriv: \(theirs.stderr)")
        theirs.killAndReap()
        try #require(sectionOwnerAndMode(name)?.uid == 65534)
        let epoch: UInt32 = peekSection(name, at: Int(IPCSCOPE_OFF_SERVER_EPOCH))
        for extra in [[], ["--replace"]] {
            let mine = scope.ipcscope(["serve", name, "--echo"] + extra, timeout: 10)
            #expect(mine.exitStatus == 1, "\(extra): \(mine.stdout)")
            #expect(mine.stderr.contains("uid 65534 (nobody)") && mine.stderr.contains("pick another name"), "\(mine.stderr)")
        }
        do {
            _ = try Server(service: name)
            Issue.record("must refuse")
        } catch {
            #expect(error.code == .foreignOwner)
        }
        #expect(sectionOwnerAndMode(name)?.uid == 65534, "still theirs")
        #expect(peekSection(name, at: Int(IPCSCOPE_OFF_SERVER_EPOCH), as: UInt32.self) == epoch, "not taken over")

        // Ours by file owner but created by someone else: refused as well.
        let planted = scope.serviceName("creator")
        try #require(scope.staleSection(planted))
        pokeSection(planted, at: Int(IPCSCOPE_OFF_CREATOR_UID), value: UInt32(65534))
        let refused = scope.ipcscope(["serve", planted, "--echo"], timeout: 10)
        #expect(refused.exitStatus == 1 && refused.stderr.contains("created by uid 65534"), "\(refused.stderr)")
    }

    @Test("world-writable: serve --mode 666 needs --allow-world-writable; clients refuse it unless told to trust it; 660 is fine")
    func worldWritablePolicy() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("open")
        let refused = scope.ipcscope(["serve", name, "--echo", "--mode", "666"], timeout: 10)
        #expect(refused.exitStatus == 64 && refused.stderr.contains("--allow-world-writable"), "\(refused.stderr)")
        #expect(!scope.objectExists(name))
        var options = ServerOptions()
        options.mode = 0o646
        #expect(throws: IPCError.self) { _ = try Server(service: name, options: options) }

        let open = scope.startEchoServer(name, extra: ["--mode", "666", "--allow-world-writable", "--quiet"])
        #expect(sectionOwnerAndMode(name)?.mode == 0o666, "\(open.stderr)")
        do {
            _ = try Client(service: name)
            Issue.record("a world-writable section must be refused")
        } catch {
            #expect(error.code == .untrustedMode)
            #expect(error.message.contains("0666") && error.message.contains("--trust-world-writable"), "\(error.message)")
        }
        var trusting = ClientOptions()
        trusting.trustWorldWritable = true
        #expect(try Client(service: name, options: trusting).call(function: 0, payload: [6]).data == [6])

        // --mode applies on takeover too: 666, killed, then 600.
        open.killAndReap()
        let narrowed = scope.startEchoServer(name, extra: ["--mode", "600", "--quiet"])
        #expect(narrowed.stdout.contains("took over"), "\(narrowed.stdout) \(narrowed.stderr)")
        #expect(sectionOwnerAndMode(name)?.mode == 0o600)
        #expect(try Client(service: name).call(function: 0, payload: [7]).data == [7])
        narrowed.killAndReap()

        // Group sharing is the supported way: 660 needs no option.
        let shared = scope.startEchoServer(name, extra: ["--mode", "660", "--quiet"])
        #expect(sectionOwnerAndMode(name)?.mode == 0o660, "\(shared.stderr)")
        #expect(try Client(service: name).call(function: 0, payload: [8]).data == [8])
    }

    @Test("another user: a 600 section is closed to them; a 666 one is open, and their client refuses it")
    func otherUserAgainstModes() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        guard scope.canActAsNobody() else { return }
        let name = scope.serviceName("peek")
        let closed = scope.startEchoServer(name, extra: ["--quiet"])
        let denied = scope.spawnAsNobody(ipcscopePath, ["call", name, "--text", "password=hunter2", "--timeout", "2"])
        #expect(denied.wait(timeout: 10) == 1)
        #expect(denied.stderr.contains("permission denied"), "\(denied.stderr)")
        closed.signal(SIGTERM)
        #expect(closed.wait(timeout: 5) == 0)

        let open = scope.startEchoServer(name, extra: ["--quiet", "--mode", "666", "--allow-world-writable"])
        #expect(open.stdout.contains("serving"), "\(open.stderr)")
        let reader = scope.spawnAsNobody(helperPath, ["read-lock", name, "0"])
        #expect(reader.wait(timeout: 10) != nil)
        // It opens (the lock itself is refused: the live server holds the write lock).
        #expect(!reader.stdout.contains("error=open") && reader.stdout.contains("lock"), "nobody can open it: \(reader.stdout)")
        let refused = scope.spawnAsNobody(ipcscopePath, ["call", name, "--text", "x", "--timeout", "2"])
        #expect(refused.wait(timeout: 10) == 1)
        #expect(refused.stderr.contains("writable by every user"), "\(refused.stderr)")
    }

    @Test("a mutex held by a thread that no longer exists: clients say so, and a takeover recreates the section")
    func mutexHeldByDeadThread() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("wedged")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        let dead = deadThreadID(scope)
        try #require(!ProcessFacts.threadAlive(dead))
        #expect(ProcessFacts.threadAlive(getpid()))
        // The kernel word says "held by <dead tid>" without FUTEX_OWNER_DIED: a forged or orphaned lock.
        pokeSection(name, at: Int(IPCSCOPE_OFF_MUTEX), value: UInt32(bitPattern: dead))
        do {
            _ = try Client(service: name).call(function: 0, payload: [1], timeout: .milliseconds(300))
            Issue.record("the mutex cannot be taken")
        } catch {
            #expect(error.code == .timeout)
            #expect(error.message.contains("no longer exists") && error.message.contains("\(dead)"), "\(error.message)")
        }
        server.killAndReap()
        let start = now()
        let second = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(second.stdout.contains("serving"), "recreated, not stuck: \(second.stdout) \(second.stderr)")
        #expect(now() - start < 3)
        #expect(try Client(service: name).call(function: 0, payload: [2]).data == [2])
    }

    @Test("fake liveness: nobody's read lock on a stale 644 section is not a server; serve recreates it")
    func readLockIsNotLiveness() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        guard scope.canActAsNobody() else { return }
        let name = scope.serviceName("fake")
        try #require(scope.staleSection(name, extra: ["--mode", "644"]))
        let reader = scope.spawnAsNobody(helperPath, ["read-lock", name, "30"])
        #expect(reader.waitForOutput("locked", timeout: 10), "\(reader.stdout) \(reader.stderr)")
        let fd = try SectionObject.openReadOnly(try ServiceName(name))
        defer { close(fd) }
        #expect(!SectionObject.serverLockHeld(fd: fd))
        #expect(SectionObject.readerLockHeld(fd: fd))
        do {
            _ = try Client(service: name)
            Issue.record("a stale section must be refused")
        } catch {
            #expect(error.code == .serverNotRunning, "\(error.message)")
        }
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(server.stdout.contains("serving"), "not 'still running': \(server.stdout) \(server.stderr)")
        #expect(try Client(service: name).call(function: 0, payload: [4]).data == [4])
    }
}
