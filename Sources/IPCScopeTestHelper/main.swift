// A helper process for the multi-process tests. Not installed for users.
//
//   IPCScopeTestHelper hold-mutex NAME SECONDS     lock the section's mutex, fill the owner record,
//                                                  print "held pid=P tid=T", sleep, release
//   IPCScopeTestHelper call-loop NAME COUNT ID     COUNT echo calls with unique payloads; "ok N" or "mismatch ..."
//   IPCScopeTestHelper call NAME FUNCTION TEXT TIMEOUT_MS   one call; "status=S size=N text=..." or
//                                                  "error=CODE elapsed_ms=E message=..."
//   IPCScopeTestHelper serve-slow NAME DELAY_MS    echo server whose handler sleeps DELAY_MS; prints "serving"
//   IPCScopeTestHelper read-lock NAME SECONDS      open the object read-only, take a READ lock on byte 0
//                                                  (what any reader can do), print "locked", sleep
//   IPCScopeTestHelper read-lock-posix NAME SECONDS   the same with a classic POSIX lock (F_SETLK),
//                                                  whose holder F_OFD_GETLK names by pid
//   IPCScopeTestHelper create-section NAME LOCK_MS HEADER_MS   a server's creation, slowed down:
//                                                  O_EXCL ("created"), LOCK_MS later the liveness
//                                                  lock ("locked"), HEADER_MS later the whole section,
//                                                  magic last, as a live server ("serving"); then
//                                                  sleeps holding it. -1: never that step (sleeps).
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import Dispatch
import IPCScopeKit

func out(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

func die(_ s: String) -> Never {
    out("error=" + s)
    exit(2)
}

let args = CommandLine.arguments
guard args.count >= 3 else { die("usage") }

switch args[1] {
case "hold-mutex":
    let name = args[2]
    let seconds = Double(args.count > 3 ? args[3] : "30") ?? 30
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

case "call-loop":
    guard args.count >= 5, let count = Int(args[3]) else { die("usage") }
    let id = args[4]
    do {
        let client = try Client(service: args[2])
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

case "call":
    guard args.count >= 6, let function = UInt32(args[3]), let ms = Int64(args[5]) else { die("usage") }
    let start = monotonicNanoseconds()
    do {
        let client = try Client(service: args[2])
        out("connected")
        let reply = try client.call(function: function, payload: Array(args[4].utf8), timeout: .milliseconds(ms))
        out("status=\(reply.status) size=\(reply.data.count) text=\(String(decoding: reply.data, as: UTF8.self))")
    } catch {
        let elapsed = (monotonicNanoseconds() - start) / 1_000_000
        out("error=\(error.code) elapsed_ms=\(elapsed) message=\(error.message)")
        exit(1)
    }

case "serve-slow":
    guard args.count >= 4, let delay = UInt32(args[3]) else { die("usage") }
    do {
        let server = try Server(service: args[2])
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

case "read-lock", "read-lock-posix":
    let seconds = Double(args.count > 3 ? args[3] : "30") ?? 30
    let fd = shm_open("/ipcscope." + args[2], O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0)
    if fd < 0 { die("open \(errno)") }
    var fl = flock()
    fl.l_type = Int16(F_RDLCK)
    fl.l_whence = Int16(SEEK_SET)
    fl.l_start = 0
    fl.l_len = 1
    let ofdSetLock: Int32 = 37  // F_OFD_SETLK (Linux; Glibc hides it without _GNU_SOURCE)
    if fcntl(fd, args[1] == "read-lock" ? ofdSetLock : F_SETLK, &fl) != 0 { die("lock \(errno)") }
    out("locked")
    usleep(UInt32(seconds * 1_000_000))

case "create-section":
    guard args.count >= 5, let lockMS = Int(args[3]), let headerMS = Int(args[4]) else { die("usage") }
    let name = args[2]
    // A real section's bytes to copy, from a server that made one and stopped (kept, then removed).
    var keep = ServerOptions()
    keep.keepOnExit = true
    let model = name + ".model"
    do { try Server(service: model, options: keep).shutdown() } catch { die("model \(error.message)") }
    let mfd = shm_open("/ipcscope." + model, O_RDONLY, 0)
    var mst = stat()
    guard mfd >= 0, fstat(mfd, &mst) == 0 else { die("model open \(errno)") }
    var image = [UInt8](repeating: 0, count: Int(mst.st_size))
    let got = image.withUnsafeMutableBytes { pread(mfd, $0.baseAddress, $0.count, 0) }
    close(mfd)
    guard got == image.count else { die("model read") }
    _ = shm_unlink("/ipcscope." + model)
    guard image.count >= Int(IPCSCOPE_HEADER_SIZE) else { die("model image") }
    func put32<O: BinaryInteger>(_ offset: O, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { image[Int(offset) + i] = b } } }
    put32(IPCSCOPE_OFF_SERVER_FLAGS, UInt32(IPCSCOPE_SERVER_TRACING))   // not shutting down
    put32(IPCSCOPE_OFF_SERVER_PID, UInt32(bitPattern: getpid()))         // a live server: this process

    let fd = shm_open("/ipcscope." + name, O_RDWR | O_CREAT | O_EXCL, 0o600)
    if fd < 0 { die("create \(errno)") }
    out("created")
    func sleepForever() -> Never {
        while true { sleep(60) }
    }
    if lockMS < 0 { sleepForever() }
    usleep(UInt32(lockMS) * 1000)
    if CIPCScope_ofd_trylock(fd) != 0 { die("lock") }
    out("locked")
    if headerMS < 0 { sleepForever() }
    usleep(UInt32(headerMS) * 1000)
    ftruncate(fd, off_t(image.count))
    _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress! + 8, $0.count - 8, 8) }
    _ = image.withUnsafeBytes { pwrite(fd, $0.baseAddress!, 8, 0) }
    out("serving")
    sleepForever()

default:
    die("unknown mode \(args[1])")
}
