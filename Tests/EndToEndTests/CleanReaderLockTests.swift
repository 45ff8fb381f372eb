// `ipcscope clean NAME` on a stale section that a reader holds a read lock on: only a write lock
// is a server's (amendment 2, item 1), so clean must say a reader blocks it, never "a live server".
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("clean and a reader's read lock", .serialized)
struct CleanReaderLockTests {
    /// A stale section: a real `ipcscope serve` SIGKILLed (the object stays, no lock on it).
    static func staleSection(_ scope: TestScope, _ name: String) throws {
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(server.stdout.contains("serving"), "serve: \(server.stderr)")
        server.killAndReap()
        try #require(scope.objectExists(name))
    }

    @Test("an open-file-description read lock (as readers take): clean says a reader holds it, without a pid, and keeps it")
    func ofdReadLock() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rdlock")
        try Self.staleSection(scope, name)
        let reader = scope.spawn(helperPath, ["read-lock", name, "30"])
        try #require(reader.waitForOutput("locked", timeout: 10), "\(reader.stdout) \(reader.stderr)")

        let clean = scope.ipcscope(["clean", name])
        #expect(clean.exitStatus == 1)
        #expect(!clean.stderr.contains("live server"), "no server is there: \(clean.stderr)")
        #expect(clean.stderr.contains("a reader holds a read lock"), "\(clean.stderr)")
        #expect(clean.stderr.contains("pid -1") && !clean.stderr.contains("pid \(reader.pid)"),
                "the kernel names no pid for an OFD lock, and clean says so: \(clean.stderr)")
        #expect(scope.objectExists(name), "kept while the reader holds it")
        let json = try #require(jsonObject(scope.ipcscope(["clean", name, "--json"]).stdout))
        let kept = (json["kept"] as? [[String: Any]])?.first
        #expect(kept?["name"] as? String == name && kept?["reason"] as? String == "read lock", "\(json)")

        // Once the reader is gone, the same command removes it.
        reader.killAndReap()
        let again = scope.ipcscope(["clean", name])
        #expect(again.exitStatus == 0, "\(again.stderr)")
        #expect(!scope.objectExists(name))
    }

    @Test("a classic POSIX read lock: clean names the reader's pid")
    func posixReadLock() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rdlockp")
        try Self.staleSection(scope, name)
        let reader = scope.spawn(helperPath, ["read-lock-posix", name, "30"])
        try #require(reader.waitForOutput("locked", timeout: 10), "\(reader.stdout) \(reader.stderr)")

        let clean = scope.ipcscope(["clean", name])
        #expect(clean.exitStatus == 1)
        #expect(!clean.stderr.contains("live server"), "\(clean.stderr)")
        #expect(clean.stderr.contains("a reader holds a read lock on it: pid \(reader.pid)"), "\(clean.stderr)")
        #expect(scope.objectExists(name))
        // (clean without NAME takes the same path, but would remove every stale section on the
        // machine, other tests' too: not run here.)
    }
}
