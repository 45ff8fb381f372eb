// The framework against sections someone else controls: values, files and locks planted in
// /dev/shm as an attacker would, another user through setpriv, real ipcscope processes.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("Hostile sections (framework)", .serialized)
struct HostileKitTests {
    /// An in-process echo server on `name` (taking over when the section is stale); stops at the end of `body`.
    func withEchoServer(_ name: String, _ body: (Server) throws -> Void) async throws {
        let server = try Server(service: name)
        let task = try OSThread { server.run { request, response in try response.set(request.payload); return 0 } }
        defer { server.stop() }
        try body(server)
        server.stop()
        task.join()
    }

    @Test("header line 0 at extreme values (section_size 2^63 …): Client and Server refuse, --replace reclaims, nothing traps")
    func extremeIdentityValues() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let fields: [(offset: Int, width: Int)] = [(8, 4), (12, 4), (16, 8), (24, 4), (28, 4), (32, 4), (36, 4), (40, 4), (44, 4), (48, 4), (52, 4)]
        let extremes: [UInt64] = [0, 1, 0x7fff_ffff, 0xffff_ffff, 1 << 63, .max]
        for (offset, width) in fields {
            for x in extremes {
                let name = scope.serviceName("hdr")
                var h = validIdentityBytes()
                withUnsafeBytes(of: x.littleEndian) { for i in 0..<width { h[offset + i] = $0[i] } }
                plantObject(name, bytes: h, size: 4096)
                #expect(throws: IPCError.self, "field at \(offset) = \(x)") { _ = try Client(service: name) }
                #expect(throws: IPCError.self, "field at \(offset) = \(x)") { _ = try Server(service: name) }
                var options = ServerOptions()
                options.replaceInvalid = true
                let server = try Server(service: name, options: options)
                #expect(!server.tookOver)
                server.shutdown()
            }
        }
        // The reported case through the binary: serve explains in one line; serve --replace takes the name back.
        let name = scope.serviceName("huge")
        plantObject(name, bytes: validIdentityBytes(sectionSize: 1 << 63), size: 4096)
        let refused = scope.ipcscope(["serve", name, "--echo"], timeout: 10)
        #expect(refused.exitStatus == 1, "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1 && refused.stderr.contains("--replace"), "\(refused.stderr)")
        let call = scope.ipcscope(["call", name, "--text", "x", "--timeout", "2"], timeout: 10)
        #expect(call.exitStatus == 1 && call.stderr.contains("inconsistent sizes"), "\(call.stderr)")
        let replaced = scope.startEchoServer(name, extra: ["--replace", "--quiet"])
        #expect(replaced.stdout.contains("serving"), "\(replaced.stdout) \(replaced.stderr)")
        #expect(try Client(service: name).call(function: 0, payload: [1]).data == [1])
        replaced.signal(SIGTERM)
        #expect(replaced.wait(timeout: 5) == 0)
    }

    @Test("server and protocol fields at extreme values: a takeover serves and calls are answered, nothing traps")
    func extremeRuntimeValues() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let u32Fields = [68, 88, 256, 260, 264, 268, 272, 512 + 20, 4672 + 12, 4672 + 8]
        let u64Fields = [72, 80, 96, 104, 112, 120, 200, 208, 216, 224, 280, 288, 512, 4672]
        var cases: [(Int, [UInt8])] = []
        for o in u32Fields { for v: UInt32 in [.max, 1 << 31] { cases.append((o, withUnsafeBytes(of: v.littleEndian) { Array($0) })) } }
        for o in u64Fields { for v: UInt64 in [.max, 1 << 63] { cases.append((o, withUnsafeBytes(of: v.littleEndian) { Array($0) })) } }
        for (offset, bytes) in cases {
            let name = scope.serviceName("rt")
            var keep = ServerOptions()
            keep.keepOnExit = true
            try Server(service: name, options: keep).shutdown()  // a stale section of ours
            pokeSection(name, at: offset, bytes)
            try await withEchoServer(name) { server in
                #expect(server.tookOver, "offset \(offset)")
                let client = try Client(service: name)
                for i in 0..<3 {
                    let reply = try client.call(function: 1, payload: [UInt8(i)], timeout: .seconds(5))
                    #expect(reply.status == 0 && reply.data == [UInt8(i)], "offset \(offset)")
                }
            }
        }
    }

    @Test("trace_head = 2^64-1: a server that takes over answers and the head wraps to 0, 1, 2")
    func traceHeadWraps() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("head")
        try #require(scope.staleSection(name))
        pokeSection(name, at: Int(IPCSCOPE_OFF_TRACE_HEAD), value: UInt64.max)
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(server.stdout.contains("took over"), "\(server.stdout) \(server.stderr)")
        let client = try Client(service: name)
        for i in 0..<3 {
            #expect(try client.call(function: 0, payload: [UInt8(i)], timeout: .seconds(5)).data == [UInt8(i)])
        }
        #expect(waitUntil(timeout: 2) { peekSection(name, at: Int(IPCSCOPE_OFF_TRACE_HEAD), as: UInt64.self) == 2 })
        #expect(!server.hasExited, "the server lives on: \(server.stderr)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 5) == 0)
    }

    @Test("a mutated mutex type word: call says 'corrupt' (no glibc abort); a new server recreates the section")
    func mutatedMutexType() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("mutex")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        let kindOffset = Int(IPCSCOPE_OFF_MUTEX) + 16  // glibc's __kind
        let kind: Int32 = peekSection(name, at: kindOffset)
        pokeSection(name, at: kindOffset, value: kind | 64)  // PTHREAD_MUTEX_PRIO_PROTECT_NP
        let call = scope.ipcscope(["call", name, "--text", "x", "--timeout", "2"], timeout: 10)
        #expect(call.exitStatus == 1, "no abort (134): \(String(describing: call.exitStatus)) \(String(describing: call.exitSignal))")
        #expect(call.stderr.contains("mutex") && call.stderr.contains("corrupt"), "\(call.stderr)")
        #expect(call.stderr.split(separator: "\n").count == 1, "\(call.stderr)")
        do {
            _ = try Client(service: name).call(function: 0, payload: [1], timeout: .seconds(1))
            Issue.record("the call must be refused")
        } catch {
            #expect(error.code == .corruptSection)
        }
        server.killAndReap()
        let second = scope.startEchoServer(name, extra: ["--quiet"])
        #expect(second.stdout.contains("serving"), "recreated, not taken over: \(second.stdout) \(second.stderr)")
        #expect(try Client(service: name).call(function: 0, payload: [2]).data == [2])
    }

    @Test("a FIFO or a directory under the name: call, Client and serve answer at once, naming what it is")
    func fifoAndDirectory() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let fifo = scope.serviceName("fifo")
        try #require(mkfifo("/dev/shm/ipcscope." + fifo, 0o666) == 0)
        let dir = scope.serviceName("dir")
        try #require(mkdir("/dev/shm/ipcscope." + dir, 0o755) == 0)
        defer { rmdir("/dev/shm/ipcscope." + dir) }
        for (name, what) in [(fifo, "FIFO"), (dir, "directory")] {
            let start = now()
            let call = scope.ipcscope(["call", name, "--text", "x", "--timeout", "1"], timeout: 10)
            #expect(now() - start < 2, "\(what): answered at once")
            #expect(call.exitStatus == 1 && call.stderr.contains(what), "\(what): \(call.stderr)")
            do {
                _ = try Client(service: name)
                Issue.record("\(what) must be refused")
            } catch {
                #expect(error.code == .corruptSection && error.message.contains(what), "\(error.message)")
            }
            let serve = scope.ipcscope(["serve", name, "--echo"], timeout: 10)
            #expect(serve.exitStatus == 1 && serve.stderr.contains(what), "\(what): \(serve.stderr)")
            #expect(throws: IPCError.self) { _ = try SectionObject.openReadOnly(try ServiceName(name)) }
        }
    }

    @Test("a section truncated under its live server: it dies (same-uid writers are trusted); the next serve explains, --replace reclaims")
    func truncatedLiveSection() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("trunc")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        let fd = open("/dev/shm/ipcscope." + name, O_RDWR)
        try #require(fd >= 0)
        ftruncate(fd, 0)
        close(fd)
        // Documented in docs/reliability.md: same-uid writers are trusted. (Under ASan, its
        // handler reports the BUS and exits 1.)
        let code = server.wait(timeout: 10)
        #expect(code == 128 + SIGBUS || (code == 1 && server.stderr.contains("BUS")), "\(String(describing: code)) \(server.stderr)")
        let again = scope.ipcscope(["serve", name, "--echo"], timeout: 10)
        #expect(again.exitStatus == 1 && again.stderr.contains("too short"), "\(again.stderr)")
        #expect(throws: IPCError.self) { _ = try Client(service: name) }
        let replaced = scope.startEchoServer(name, extra: ["--replace", "--quiet"])
        #expect(replaced.stdout.contains("serving"), "\(replaced.stderr)")
        #expect(try Client(service: name).call(function: 0, payload: [3]).data == [3])
    }
}
