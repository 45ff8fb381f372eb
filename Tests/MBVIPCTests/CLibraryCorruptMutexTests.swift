// The C library on a section whose mutex type word was rewritten (found by the coverage-guided
// fuzzer, fuzz/client_connect and fuzz/server_takeover): glibc trusts the type it finds in the
// mutex, and a priority-protect type with a ceiling out of range makes pthread_mutex_trylock
// assert and abort the process. A client must refuse such a section with a reason, and a server
// taking it over must recreate it, as the Swift framework does.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import Testing
import TestSupport

@Suite("C library: a corrupt mutex type word", .serialized)
struct CLibraryCorruptMutexTests {
    /// glibc's type word (`__data.__kind`) of the mutex at offset 128: 16 bytes in.
    static let kindOffset = Int(IPCSCOPE_OFF_MUTEX) + 16
    /// What the fuzzer found: priority-protect (64), process-shared (128); the ceiling kept in the
    /// lock word is then 0, outside SCHED_FIFO's 1...99. And priority-inheritance, robust,
    /// process-shared (32 | 16 | 128), which is not the section's type either.
    static let corruptKinds: [Int32] = [64 | 128, 32 | 16 | 128]

    /// Sets the mutex type word of `name`'s object; returns the old one.
    @discardableResult
    static func setKind(_ name: String, _ kind: Int32) throws -> Int32 {
        let fd = shm_open("/ipcscope." + name, O_RDWR, 0)
        try #require(fd >= 0, "open /dev/shm/ipcscope.\(name)")
        defer { close(fd) }
        let base = try #require(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        defer { munmap(base, 4096) }
        let word = base + kindOffset
        let old = word.load(as: Int32.self)
        word.storeBytes(of: kind, as: Int32.self)
        return old
    }

    @Test("a C client refuses a live section whose mutex type was changed, with a reason instead of a glibc abort")
    func clientRefuses() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("ckind")
        let s = CLibraryInteropTests.startCxxServer(scope, b, name)
        try #require(!s.hasExited, "\(s.stderr)")
        let good = scope.run(b.probe, ["call", name, "1", "before"], timeout: 10)
        try #require(good.stdout.contains("reply status=0 size=6 text=before"), "\(good.stdout)")
        for kind in Self.corruptKinds {
            let old = try Self.setKind(name, kind)
            let r = scope.run(b.probe, ["call", name, "1", "x", "4096", "2000"], timeout: 10)
            #expect(r.exitSignal == nil, "type \(kind): the client died by signal \(r.exitSignal ?? 0): \(r.stderr)")
            #expect(r.exitStatus == 1, "type \(kind): \(r.stdout) \(r.stderr)")
            #expect(r.stdout.contains("call fail code=16"), "type \(kind): \(r.stdout)")
            #expect(r.stdout.contains("the mutex of '\(name)' is not recoverable"), "type \(kind): \(r.stdout)")
            try Self.setKind(name, old)
        }
        let after = scope.run(b.probe, ["call", name, "1", "after"], timeout: 10)
        #expect(after.stdout.contains("reply status=0 size=5 text=after"), "the server is untouched: \(after.stdout)")
    }

    @Test("a C server taking over a dead section whose mutex type was changed recreates it instead of aborting")
    func serverRecreates() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        for kind in Self.corruptKinds {
            let name = scope.serviceName("skind")
            let first = CLibraryInteropTests.startCxxServer(scope, b, name)
            try #require(!first.hasExited, "\(first.stderr)")
            first.signal(SIGKILL)
            #expect(first.wait(timeout: 5) == 128 + SIGKILL)
            try Self.setKind(name, kind)
            let second = CLibraryInteropTests.startCxxServer(scope, b, name)
            #expect(second.exitSignal == nil, "type \(kind): the server died by signal \(second.exitSignal ?? 0): \(second.stderr)")
            #expect(second.stdout.contains("serving \(name)"), "type \(kind): \(second.stdout) \(second.stderr)")
            let snap = try SectionReader(service: name).snapshot()
            #expect(snap.serverPID == second.pid)
            #expect(snap.serverEpoch == 1, "type \(kind): a new section, not a takeover of the corrupt one")
            let r = scope.run(b.probe, ["call", name, "2", "new"], timeout: 10)
            #expect(r.stdout.contains("reply status=0 size=3 text=new"), "type \(kind): \(r.stdout)")
        }
    }
}
