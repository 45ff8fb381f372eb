// A helper process for the multi-process tests. Not installed for users.
//
//   IPCScopeTestHelper hold-mutex NAME [SECONDS]   lock the section's mutex, fill the owner record,
//                                                  print "held pid=P tid=T", sleep, release
//   IPCScopeTestHelper call-loop NAME COUNT ID     COUNT echo calls with unique payloads; "ok N" or "mismatch ..."
//   IPCScopeTestHelper call NAME FUNCTION TEXT TIMEOUT_MS   one call; "status=S size=N text=..." or
//                                                  "error=CODE elapsed_ms=E message=..."
//   IPCScopeTestHelper serve-slow NAME DELAY_MS    echo server whose handler sleeps DELAY_MS; prints "serving"
//   IPCScopeTestHelper read-lock NAME [SECONDS]    open the object read-only, take a READ lock on byte 0
//                                                  (what any reader can do), print "locked", sleep
//   read-lock-posix, create-section: see TestHelperSections.swift
//
// A failure prints "error=..." and exits 2; wrong arguments get the parser's usage error (exit 64).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CIPCScope
import Dispatch
import IPCScopeKit

func out(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

func die(_ s: String) -> Never {
    out("error=" + s)
    Glibc.exit(2)
}

@main
struct TestHelper: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "IPCScopeTestHelper",
        abstract: "A helper process for the multi-process tests.",
        subcommands: [HoldMutex.self, CallLoop.self, Call.self, ServeSlow.self, ReadLock.self, ReadLockPosix.self, CreateSection.self])
}

struct HoldMutex: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold-mutex", abstract: "Lock the section's mutex, fill the owner record, print \"held pid=P tid=T\", sleep, release.")
    @Argument var name: String
    @Argument var seconds: Double = 30

    func run() {
        let fd = shm_open("/ipcscope." + name, O_RDWR, 0)
        if fd < 0 { die("open \(errno)") }
        var st = stat()
        fstat(fd, &st)
        guard let base = mmap(nil, Int(st.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else { die("mmap") }
        let mutex = base + Int(IPCSCOPE_OFF_MUTEX)
        var r = CIPCScope_mutex_trylock(mutex)
        if r == EBUSY { r = CIPCScope_mutex_lock_until(mutex, CIPCScope_monotonic_ns() + 10_000_000_000) }
        if r == EOWNERDEAD {
            _ = CIPCScope_mutex_consistent(mutex)
            CIPCScope_add64(base + Int(IPCSCOPE_OFF_RECOVERED_COUNT), 1)
        } else if r != 0 { die("lock \(r)") }
        let tid = CIPCScope_gettid()
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_OWNER_PID), UInt32(bitPattern: getpid()))
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_OWNER_TID), UInt32(bitPattern: tid))
        CIPCScope_store64(base + Int(IPCSCOPE_OFF_OWNER_SINCE_NS), CIPCScope_monotonic_ns())
        CIPCScope_add64(base + Int(IPCSCOPE_OFF_LOCK_COUNT), 1)
        out("held pid=\(getpid()) tid=\(tid)")
        usleep(UInt32(seconds * 1_000_000))
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_OWNER_PID), 0)
        CIPCScope_store32(base + Int(IPCSCOPE_OFF_OWNER_TID), 0)
        _ = CIPCScope_mutex_unlock(mutex)
        out("released")
    }
}

struct CallLoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call-loop", abstract: "COUNT echo calls with unique payloads; \"ok N\" or \"mismatch ...\".")
    @Argument var name: String
    @Argument var count: Int
    @Argument var id: String

    func run() {
        do {
            let client = try Client(service: name)
            for i in 0..<count {
                // Vary the size so slot contents of different calls differ in length too.
                let body = "\(id):\(i):" + String(repeating: "x", count: i % 97)
                let payload = Array(body.utf8)
                let reply = try client.call(function: UInt32(i % 7), payload: payload, timeout: .seconds(20))
                if reply.status != 0 || reply.data != payload {
                    die("mismatch at \(i): status \(reply.status), got \(String(decoding: reply.data, as: UTF8.self))")
                }
            }
            out("ok \(count)")
        } catch {
            die("\(error.code) \(error.message)")
        }
    }
}

struct Call: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "call", abstract: "One call; \"status=S size=N text=...\" or \"error=CODE elapsed_ms=E message=...\".")
    @Argument var name: String
    @Argument var function: UInt32
    @Argument var text: String
    @Argument(help: ArgumentHelp(valueName: "timeout-ms")) var timeoutMS: Int64

    func run() {
        let start = monotonicNanoseconds()
        do {
            let client = try Client(service: name)
            out("connected")
            let reply = try client.call(function: function, payload: Array(text.utf8), timeout: .milliseconds(timeoutMS))
            out("status=\(reply.status) size=\(reply.data.count) text=\(String(decoding: reply.data, as: UTF8.self))")
        } catch {
            let elapsed = (monotonicNanoseconds() - start) / 1_000_000
            out("error=\(error.code) elapsed_ms=\(elapsed) message=\(error.message)")
            Glibc.exit(1)
        }
    }
}

struct ServeSlow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-slow", abstract: "Echo server whose handler sleeps DELAY_MS; prints \"serving\".")
    @Argument var name: String
    @Argument(help: ArgumentHelp(valueName: "delay-ms")) var delayMS: UInt32

    func run() {
        let delay = delayMS
        do {
            let server = try Server(service: name)
            // SIGTERM stops the server cleanly (a handler in progress gives up with status -4).
            signal(SIGTERM, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: DispatchQueue(label: "sig"))
            source.setEventHandler { @Sendable in server.stop() }
            source.resume()
            out("serving epoch=\(server.epoch) tookover=\(server.tookOver)")
            server.run { request, response in
                let until = monotonicNanoseconds() + UInt64(delay) * 1_000_000
                while monotonicNanoseconds() < until {
                    if server.isStopping { return -4 }
                    usleep(1000)
                }
                try response.set(request.payload)
                return 0
            }
            source.cancel()
        } catch {
            die("\(error.code) \(error.message)")
        }
    }
}

struct ReadLock: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-lock",
        abstract: "Open the object read-only, take a READ lock on byte 0 (what any reader can do), print \"locked\", sleep.")
    @Argument var name: String
    @Argument var seconds: Double = 30

    func run() {
        let fd = shm_open("/ipcscope." + name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0)
        if fd < 0 { die("open \(errno)") }
        var fl = flock()
        fl.l_type = Int16(F_RDLCK)
        fl.l_whence = Int16(SEEK_SET)
        fl.l_start = 0
        fl.l_len = 1
        let ofdSetLock: Int32 = 37  // F_OFD_SETLK (Linux; Glibc hides it without _GNU_SOURCE)
        if fcntl(fd, ofdSetLock, &fl) != 0 { die("lock \(errno)") }
        out("locked")
        usleep(UInt32(seconds * 1_000_000))
    }
}
