// The read-only verbs (list, clean, status, watch) against what any local user can put in
// /dev/shm: absurd header fields, a wrapped trace head, FIFOs and friends, names with escape
// sequences, objects of another user, a section still being created. Each verb runs as the
// real binary with a deadline: a hang is a failing test, never a hung suite.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Foundation
import Testing
import TestSupport

/// `/dev/shm/ipcscope.<raw>` as a C path (any bytes).
func shmCPath(_ raw: [UInt8]) -> [CChar] {
    Array("/dev/shm/ipcscope.".utf8).map { CChar(bitPattern: $0) } + raw.map { CChar(bitPattern: $0) } + [0]
}

/// A header of the default layout (4096/4096/256) with `sectionSize` in its size field.
func craftedHeader(sectionSize: UInt64) -> [UInt8] {
    var b = [UInt8](repeating: 0, count: 4096)
    func put<T: FixedWidthInteger>(_ o: Int, _ v: T) { withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[o + i] = x } } }
    b.replaceSubrange(0..<8, with: Array("IPCSCOPE".utf8))
    put(8, UInt32(1)); put(12, UInt32(512)); put(16, sectionSize)
    put(24, UInt32(512)); put(28, UInt32(4096)); put(32, UInt32(4672)); put(36, UInt32(4096))
    put(40, UInt32(8832)); put(44, UInt32(256)); put(48, UInt32(128))
    return b
}

/// Writes `value` at `offset` of the object of `name` (a test playing the attacker).
func poke<T: FixedWidthInteger>(_ name: String, _ offset: Int, _ value: T) {
    let fd = open("/dev/shm/ipcscope." + name, O_RDWR)
    withUnsafeBytes(of: value.littleEndian) { _ = pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
    close(fd)
}

/// Runs `ipcscope` as `nobody` (no groups).
func asNobody(_ scope: TestScope, _ arguments: [String]) -> ChildProcess {
    scope.run("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", otherUserRunnable(ipcscopePath)] + arguments, timeout: 10)
}

/// The JSON `list` entry named `name`.
func listEntry(_ scope: TestScope, _ name: String) -> [String: Any]? {
    let sections = jsonObject(scope.ipcscope(["list", "--json"], timeout: 10).stdout)?["sections"] as? [[String: Any]]
    return sections?.first { $0["name"] as? String == name }
}

/// Exited by itself (not killed at the deadline, not by a signal).
func finished(_ c: ChildProcess) -> Bool { c.exitStatus != nil && c.exitSignal == nil }

@Suite("Hostile objects in /dev/shm", .serialized)
struct HostileReaderTests {
    @Test("section_size 2^63: every reader refuses it with a message, none traps")
    func hugeSectionSize() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("huge")
        writeBytes("/dev/shm/ipcscope." + name, craftedHeader(sectionSize: 1 << 63))
        for verb in [["list"], ["list", "--json"], ["clean", "--dry-run"], ["clean", "--dry-run", "--json"]] {
            let r = scope.ipcscope(verb, timeout: 10)
            #expect(r.exitStatus == 0, "\(verb): \(r.stderr)")
            #expect(r.stdout.contains(name), "\(verb) shows it")
        }
        #expect(listEntry(scope, name)?["condition"] as? String == "stale")
        let status = scope.ipcscope(["status", name], timeout: 10)
        #expect(status.exitStatus == 2 && status.stdout.contains("9223372036854775808"), "\(status.stdout)\(status.stderr)")
        let watch = scope.ipcscope(["watch", name, "--timeout", "1"], timeout: 10)
        #expect(watch.exitStatus == 1 && watch.stderr.contains("inconsistent sizes"), "\(watch.stderr)")
        let clean = scope.ipcscope(["clean", name], timeout: 10)
        #expect(clean.exitStatus == 0 && !scope.objectExists(name), "\(clean.stderr)")
    }

    @Test("trace_head 2^64-1: watch --from-start and status read the ring without overflowing")
    func wrappedTraceHead() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("wrap")
        CLIInspectTests.makeStale(scope, name, calls: 3)
        poke(name, 120, UInt64.max)
        let watch = scope.ipcscope(["watch", name, "--from-start", "--json", "--timeout", "0.3"], timeout: 10)
        #expect(watch.exitStatus == 0, "\(watch.stderr)")
        #expect(jsonLines(watch.stdout).filter { $0["event"] as? String == "call" }.count == 3)
        let status = scope.ipcscope(["status", name, "--trace", "all"], timeout: 10)
        #expect(finished(status) && status.stdout.contains("head 18446744073709551615"), "\(status.stderr)")
        #expect(status.stdout.contains("req=6"), "the records are still decoded")
    }

    @Test("a FIFO, directory, socket or symlink named ipcscope.X never hangs a reader")
    func notRegularFiles() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var made: [(String, String)] = []
        let fifo = scope.serviceName("fifo"), dir = scope.serviceName("dir"), sock = scope.serviceName("sock")
        let link = scope.serviceName("link"), fifoLink = scope.serviceName("fifolink")
        #expect(mkfifo("/dev/shm/ipcscope." + fifo, 0o666) == 0); made.append((fifo, "FIFO"))
        #expect(mkdir("/dev/shm/ipcscope." + dir, 0o755) == 0); made.append((dir, "directory"))
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let sockPath = Array(("/dev/shm/ipcscope." + sock).utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in sockPath.enumerated() { p[i] = b } }
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0); made.append((sock, "socket"))
        defer { close(s) }
        #expect(symlink("/dev/zero", "/dev/shm/ipcscope." + link) == 0); made.append((link, "symbolic link"))
        #expect(symlink("/dev/shm/ipcscope." + fifo, "/dev/shm/ipcscope." + fifoLink) == 0); made.append((fifoLink, "symbolic link"))
        defer { for (n, _) in made { removeTree("/dev/shm/ipcscope." + n) } }

        let list = scope.ipcscope(["list"], timeout: 10)
        #expect(list.exitStatus == 0, "list finished: \(list.stderr)")
        let dry = scope.ipcscope(["clean", "--dry-run", "--json"], timeout: 10)
        #expect(dry.exitStatus == 0)
        let wouldRemove = (jsonObject(dry.stdout)?["removed"] as? [String]) ?? []
        for (name, kind) in made {
            #expect(list.stdout.contains("not a regular file (\(kind))"), "list names the \(kind)")
            let e = listEntry(scope, name)
            #expect(e?["condition"] as? String == "not a regular file" && e?["file_type"] as? String == kind)
            #expect(!wouldRemove.contains(name), "clean without NAME leaves the \(kind)")
            let status = scope.ipcscope(["status", name], timeout: 10)
            #expect(status.exitStatus == 2 && status.stderr.contains("not a regular file (\(kind))"), "status: \(status.stderr)")
            let t0 = now()
            let watch = scope.ipcscope(["watch", name, "--timeout", "1"], timeout: 10)
            #expect(watch.exitStatus == 1 && now() - t0 < 5, "watch refuses at once: \(watch.stderr)")
        }
        let plain = scope.ipcscope(["clean"], timeout: 10)
        #expect(finished(plain) && plain.stdout.contains("kept \(fifo): not a regular file (FIFO), not removed: remove it with 'ipcscope clean \(fifo)'"))
        for (name, kind) in made {
            let c = scope.ipcscope(["clean", name], timeout: 10)
            #expect(c.exitStatus == 0 && c.stdout.contains("removed \(name) (not a regular file (\(kind)))"), "\(kind): \(c.stderr)")
            var st = stat()
            #expect(lstat("/dev/shm/ipcscope." + name, &st) != 0, "the \(kind) is gone")
        }
    }

    @Test("names with escape sequences, newlines or invalid UTF-8 are printed escaped and never removed")
    func hostileNames() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let tag = "\(getpid())x\(UInt32.random(in: 0...UInt32.max))"
        let raws: [[UInt8]] = [Array("esc\u{1b}[2J\u{1b}]0;pwned\u{07}\(tag)".utf8),
                               Array("nl\(tag)\nforged  1  ipcscope  yes  IDLE".utf8),
                               Array("bad".utf8) + [0xff, 0xfe] + Array(tag.utf8)]
        defer { for r in raws { _ = unlink(shmCPath(r)) } }
        for r in raws {  // by raw bytes: a String path would turn invalid UTF-8 into U+FFFD
            let fd = open(shmCPath(r), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            #expect(fd >= 0)
            _ = write(fd, Array(repeating: UInt8(0x41), count: 100), 100)
            close(fd)
        }
        for verb in [["list"], ["clean", "--dry-run"]] {
            let r = scope.ipcscope(verb, timeout: 10)
            #expect(finished(r))
            let out = Array(r.stdout.utf8) + Array(r.stderr.utf8)
            #expect(!out.contains(0x1b) && !out.contains(0x07), "\(verb): no raw ESC or BEL reaches the terminal")
            #expect(!r.stdout.split(separator: "\n").contains { $0.hasPrefix("forged") }, "\(verb): a newline forges no row")
            #expect(r.stdout.contains("esc\\x1b[2J\\x1b]0;pwned\\x07\(tag)"))
            #expect(r.stdout.contains("nl\(tag)\\x0aforged"))
            #expect(r.stdout.contains("bad\\xff\\xfe\(tag)"))
            #expect(!r.stdout.contains { $0 == "\u{FFFD}" })
        }
        let list = scope.ipcscope(["list"], timeout: 10).stdout
        let badRow = list.split(separator: "\n").first { $0.hasPrefix("bad\\xff") }.map(String.init) ?? ""
        #expect(badRow.contains("invalid name") && badRow.contains("root") && badRow.hasSuffix("0644"), "real owner and mode: \(badRow)")
        let dry = scope.ipcscope(["clean", "--dry-run"], timeout: 10).stdout
        #expect(!dry.split(separator: "\n").contains { $0.hasPrefix("would remove") && $0.contains(tag) })
        for r in raws { #expect(access(shmCPath(r), F_OK) == 0) }
    }

    @Test("a server whose process name holds escape sequences is shown escaped by list and status")
    func hostileProcessName() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("comm")
        let evil = scope.directory + "/ev\u{1b}[2J\u{07}"  // the kernel takes comm from the file name
        #expect(symlink(ipcscopePath, evil) == 0)
        let server = scope.spawn(evil, ["serve", name, "--echo", "--quiet"])
        #expect(server.waitForOutput("serving", timeout: 10))
        for args in [["list"], ["list", "--json"], ["status", name], ["status", name, "--json"]] {
            let r = scope.ipcscope(args, timeout: 10)
            #expect(!Array(r.stdout.utf8).contains(0x1b) && !Array(r.stdout.utf8).contains(0x07), "\(args)")
            #expect(r.stdout.contains("ev\\x1b[2J\\x07") || r.stdout.contains("ev\\\\x1b[2J\\\\x07"), "\(args): \(r.stdout)")
        }
    }

    @Test("another user's unreadable section: 'not readable by you', and clean says it cannot judge")
    func unreadableForAnotherUser() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("private")
        _ = scope.startEchoServer(name, extra: ["--quiet"])
        let list = asNobody(scope, ["list"])
        #expect(list.exitStatus == 0 && !list.stdout.contains("\(name)  -    -        stale"))
        #expect(list.stdout.contains("\(name): not readable by you (owner root, mode 0600)"), "\(list.stdout)")
        let sections = jsonObject(asNobody(scope, ["list", "--json"]).stdout)?["sections"] as? [[String: Any]]
        #expect(sections?.first { $0["name"] as? String == name }?["condition"] as? String == "unreadable")
        let dry = asNobody(scope, ["clean", "--dry-run"])
        #expect(!dry.stdout.contains("would remove \(name)"))
        #expect(dry.stdout.contains("kept \(name): not readable by you (owner root, mode 0600): clean cannot tell whether it is served"), "\(dry.stdout)")
        let status = asNobody(scope, ["status", name])
        #expect(status.exitStatus == 1 && status.stderr.contains("is not readable by you (owner root, mode 0600)"), "\(status.stderr)")
        #expect(scope.objectExists(name))
    }

    @Test("a section whose creator holds the lock but wrote no header yet is 'starting', never removed")
    func startingSection() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("starting")
        let fd = open("/dev/shm/ipcscope." + name, O_RDWR | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(CIPCScope_ofd_trylock(fd) == 0, "the test plays a server that has just created its object")
        let e = listEntry(scope, name)
        #expect(e?["condition"] as? String == "starting", "\(String(describing: e))")
        #expect(scope.ipcscope(["list"], timeout: 10).stdout.split(separator: "\n").contains { $0.hasPrefix(name + " ") && $0.contains("starting") })
        let dry = jsonObject(scope.ipcscope(["clean", "--dry-run", "--json"], timeout: 10).stdout)
        let wouldRemove = (dry?["removed"] as? [String]) ?? []
        #expect(dry != nil && !wouldRemove.contains(name))
        let clean = scope.ipcscope(["clean", name], timeout: 10)
        #expect(clean.exitStatus == 1 && clean.stderr.contains("creating it right now"), "\(clean.stderr)")
        #expect(scope.objectExists(name))
        let status = scope.ipcscope(["status", name], timeout: 10)
        #expect(status.exitStatus == 2 && status.stdout.contains("starting"), "\(status.stdout)")
        let watch = scope.ipcscope(["watch", name, "--timeout", "1"], timeout: 10)
        #expect(watch.exitStatus == 1 && watch.stderr.contains("is starting"), "\(watch.stderr)")
    }

    @Test("a mutex word naming a dead thread and a leaked client_waiting are shown for what they are")
    func deadOwnerThread() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("deadowner")
        CLIInspectTests.makeStale(scope, name, calls: 1)
        let gone = scope.run("/bin/true", [])
        poke(name, 128, UInt32(bitPattern: gone.pid) | 0x8000_0000)  // owner tid + FUTEX_WAITERS
        poke(name, 256, UInt32(0))  // IDLE
        poke(name, 272, UInt32(3))  // client_waiting
        let status = scope.ipcscope(["status", name], timeout: 10)
        #expect(status.exitStatus == 2)
        #expect(status.stdout.contains("owner tid \(gone.pid), waiters, owner thread is dead"), "\(status.stdout)")
        #expect(status.stdout.contains("client waiting is 3 while IDLE: counts clients killed while waiting"))
        let json = jsonObject(scope.ipcscope(["status", name, "--json"], timeout: 10).stdout)
        #expect((json?["mutex"] as? [String: Any])?["owner_thread_alive"] as? Bool == false)
    }

    @Test("status is a health check: 0 healthy, 1 missing or unreadable, 2 empty, garbage, truncated or stale")
    func statusExitCodes() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let live = scope.serviceName("healthy")
        _ = scope.startEchoServer(live, extra: ["--quiet"])
        let ok = scope.ipcscope(["status", live], timeout: 10)
        #expect(ok.exitStatus == 0 && ok.stdout.contains("health            healthy"))
        #expect(scope.ipcscope(["status", scope.serviceName("missing")], timeout: 10).exitStatus == 1)
        #expect(asNobody(scope, ["status", live]).exitStatus == 1)

        let empty = scope.serviceName("empty")
        writeBytes("/dev/shm/ipcscope." + empty, [])
        let e = scope.ipcscope(["status", empty], timeout: 10)
        #expect(e.exitStatus == 2 && e.stdout.contains("empty: the object is 0 bytes"), "\(e.stdout)")

        let garbage = scope.serviceName("garbage")
        writeBytes("/dev/shm/ipcscope." + garbage, [0xde, 0xad, 0xbe, 0xef] + Array(repeating: 0x5a, count: 200))
        let g = scope.ipcscope(["status", garbage], timeout: 10)
        #expect(g.exitStatus == 2 && g.stdout.contains("garbage: bad magic"))
        #expect(g.stdout.contains("00000000  de ad be ef 5a 5a 5a 5a  5a 5a 5a 5a 5a 5a 5a 5a  |....ZZZZZZZZZZZZ|"), "\(g.stdout)")
        #expect(g.stdout.contains("00000030  5a") && !g.stdout.contains("00000040  "), "the first 64 bytes only")
        #expect(!g.stdout.contains("created") && !g.stdout.contains("mutex"), "nothing decoded from garbage")

        // Hung: a live server that neither waits nor answers (stopped) lets its heartbeat age past 5 s.
        let stopped = scope.serviceName("hung")
        let server = scope.startEchoServer(stopped, extra: ["--quiet"])
        server.signal(SIGSTOP)
        defer { server.signal(SIGCONT) }
        sleepSeconds(5.6)
        let h = scope.ipcscope(["status", stopped], timeout: 10)
        #expect(h.exitStatus == 2 && h.stdout.contains("hung: heartbeat"), "\(h.stdout)")
        server.signal(SIGCONT)

        let truncated = scope.serviceName("truncated")
        CLIInspectTests.makeStale(scope, truncated, calls: 0)
        #expect(truncate("/dev/shm/ipcscope." + truncated, 4096) == 0)
        let t = scope.ipcscope(["status", truncated], timeout: 10)
        #expect(t.exitStatus == 2 && t.stdout.contains("truncated?"), "\(t.stdout)")
    }
}
