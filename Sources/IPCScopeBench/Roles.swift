// The processes the orchestrator starts: `ipcscope-bench --role <role> ...`.
//
//   --role server NAME SPIN_NS                   echo server; prints "ready pid=P"
//   --role client NAME SPIN_NS PAYLOAD COUNT WARMUP GAP_NS START_AT_NS DURATION_NS OUT
//       COUNT timed calls (or, when DURATION_NS > 0, as many as fit in that time, untimed),
//       samples to OUT; prints "ok calls=N elapsed_ns=E allocs=A"
//   --role reader NAME INTERVAL_MS               what `ipcscope attach` does: a snapshot every interval
//   --role idle NAME SECONDS                     connects, makes one call, then sleeps
//   --role pairs ...                             interleaved windows (see Pairs.swift)
//   --role counted-server / counted-client ...   instructions per call (see Instructions.swift)
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import IPCScopeKit
#if canImport(IPCScopeObserve)
import IPCScopeObserve
#endif
import CIPCScope

/// Function numbers the bench server understands besides echo (any other number).
enum BenchFunction {
    /// Answers two UInt64: this process's allocations since it started serving (UInt64.max when
    /// they are not counted: the malloc interposer is not preloaded), calls served so far.
    static let stats: UInt32 = 0xFFFF_FF00
    /// Stops the server.
    static let stop: UInt32 = 0xFFFF_FF01
}

enum Roles {
    static func run(_ a: [String]) -> Never {
        CIPCBench_die_with_parent()
        // IPCSCOPE_BENCH_PIN=1 (set by --pin): servers (Swift and C) on CPU 0, clients on CPU 1.
        if let pin = getenv("IPCSCOPE_BENCH_PIN"), String(cString: pin) == "1" {
            _ = CIPCBench_pin_cpu(a.first == "server" || a.first == "cserver" ? 0 : 1)
        }
        do {
            switch a.first ?? "" {
            case "server": try server(name: a[1], spinNS: UInt64(a[2])!)
            case "client":
                try client(name: a[1], spinNS: UInt64(a[2])!, payload: Int(a[3])!, count: Int(a[4])!, warmup: Int(a[5])!,
                           gapNS: UInt64(a[6])!, startAt: UInt64(a[7])!, durationNS: UInt64(a[8])!, out: a[9])
            case "reader":
                try reader(name: a[1], intervalMS: Int(a[2])!, startAt: a.count > 4 ? UInt64(a[3])! : 0,
                           windowNS: a.count > 4 ? UInt64(a[4])! : 0)
            case "idle": try idle(name: a[1], seconds: Double(a[2])!)
            case "cserver": try cserver(name: a[1])
            case "counted-server": try countedServer(name: a[1])
            case "counted-client": try countedClient(name: a[1], calls: Int(a[2])!)
            case "pairs":
                try pairs(kind: a[1], name: a[2], spinNS: UInt64(a[3])!, payload: Int(a[4])!, pairs: Int(a[5])!,
                          window: Int(a[6])!, gapNS: UInt64(a[7])!, other: a[8])
            default: say("error=unknown role"); exit(2)
            }
        } catch {
            say("error=\(error)")
            exit(1)
        }
        exit(0)
    }

    /// The echo server: copies the request payload into the response slot.
    static func server(name: String, spinNS: UInt64) throws {
        var options = ServerOptions()
        options.spin = .nanoseconds(Int64(spinNS))
        let server = try Server(service: name, options: options)
        Allocations.start()
        say("ready pid=\(getpid())")
        var served: UInt64 = 0
        server.run { request, response in
            served &+= 1
            switch request.function {
            case BenchFunction.stats:
                response.buffer.storeBytes(of: Allocations.count() ?? .max, toByteOffset: 0, as: UInt64.self)
                response.buffer.storeBytes(of: served, toByteOffset: 8, as: UInt64.self)
                response.count = 16
            case BenchFunction.stop:
                server.stop()
            default:
                try response.set(request.payload)
            }
            return 0
        }
    }

    /// A client making echo calls with a caller-supplied buffer.
    static func client(name: String, spinNS: UInt64, payload: Int, count: Int, warmup: Int, gapNS: UInt64,
                       startAt: UInt64, durationNS: UInt64, out: String) throws {
        var options = ClientOptions()
        options.spin = .nanoseconds(Int64(spinNS))
        let client = try Client(service: name, options: options)
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: max(payload, 1), alignment: 64)
        for i in 0..<request.count { request[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let response = UnsafeMutableRawBufferPointer.allocate(byteCount: client.responseCapacity, alignment: 64)
        let samples = UnsafeMutablePointer<UInt64>.allocate(capacity: max(count, 1))
        samples.initialize(repeating: 0, count: max(count, 1))  // prefault
        let req = UnsafeRawBufferPointer(rebasing: request[0..<payload])
        let timeout = Duration.seconds(20)

        for _ in 0..<warmup {
            let r = try client.call(function: 1, payload: req, into: response, timeout: timeout)
            guard r.status == 0, r.count == payload else { throw BenchError("bad echo: status \(r.status), \(r.count) bytes") }
        }
        while CIPCBench_now_ns() < startAt { CIPCBench_sleep_ns(min(startAt - CIPCBench_now_ns(), 1_000_000)) }

        // out = "windows:<ns>": count the calls of each window of that length since startAt.
        let windowNS = out.hasPrefix("windows:") ? UInt64(out.dropFirst(8)) ?? 0 : 0
        let windowCount = windowNS > 0 ? Int(durationNS / windowNS) : 0
        var perWindow = [Int](repeating: 0, count: max(windowCount, 1))
        var calls = 0
        var bad = 0
        Allocations.start()
        let t0 = CIPCBench_now_ns()
        if durationNS > 0 {
            let end = t0 + durationNS
            var window = 0, windowEnd = startAt &+ windowNS, inWindow = 0  // the reader uses the same schedule
            while true {
                let r = try client.call(function: 1, payload: req, into: response, timeout: timeout)
                if r.status != 0 || r.count != payload { bad += 1 }
                calls += 1
                inWindow += 1
                if calls & 15 == 0 {
                    let now = CIPCBench_now_ns()
                    if windowNS > 0 && now >= windowEnd {
                        if window < windowCount { perWindow[window] = inWindow }
                        window += 1
                        inWindow = 0
                        windowEnd &+= windowNS
                    }
                    if now >= end { break }
                }
            }
        } else {
            for i in 0..<count {
                if gapNS > 0 { CIPCBench_sleep_ns(gapNS) }
                let s = CIPCBench_now_ns()
                let r = try client.call(function: 1, payload: req, into: response, timeout: timeout)
                samples[i] = CIPCBench_now_ns() &- s
                if r.status != 0 || r.count != payload { bad += 1 }
            }
            calls = count
        }
        let elapsed = CIPCBench_now_ns() - t0
        let allocs = Allocations.count().map(String.init) ?? "-"
        // The counter's own check: the array-returning call allocates its answer, so these
        // calls must count at least one allocation each.
        let arrayPayload = Array(UnsafeRawBufferPointer(req))
        Allocations.start()
        for _ in 0..<100 { _ = try client.call(function: 1, payload: arrayPayload, timeout: timeout) }
        let arrayAllocs = Allocations.count().map(String.init) ?? "-"
        if payload > 0 && response[payload - 1] != request[payload - 1] { bad += 1 }
        guard bad == 0 else { throw BenchError("\(bad) calls answered wrongly") }
        if durationNS == 0 {
            let fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw BenchError("cannot write \(out)") }
            let n = write(fd, samples, count * 8)
            close(fd)
            guard n == count * 8 else { throw BenchError("short write to \(out)") }
        }
        say("ok calls=\(calls) elapsed_ns=\(elapsed) allocs=\(allocs) array_allocs=\(arrayAllocs)"
            + (windowCount > 0 ? " windows=" + perWindow.map(String.init).joined(separator: ",") : ""))
    }

    /// What `ipcscope attach` does at its default interval: a read-only snapshot every interval.
    /// With a window schedule (startAt, windowNS > 0) it reads only in odd windows and sleeps
    /// through even ones, so one client run gives paired with/without figures.
    static func reader(name: String, intervalMS: Int, startAt: UInt64 = 0, windowNS: UInt64 = 0) throws {
        #if canImport(IPCScopeObserve)
        let reader = try SectionReader(service: name)
        var n = 0
        while true {
            if windowNS > 0 && n > 0 {
                let now = CIPCBench_now_ns()
                let w = now < startAt ? -1 : Int((now - startAt) / windowNS)
                if w % 2 == 0 || w < 0 {  // an even window (or not started): sleep to the next odd one
                    let next = startAt &+ UInt64(w < 0 ? 1 : w + 1) &* windowNS
                    CIPCBench_sleep_ns(next &- now)
                    continue
                }
            }
            let snap = try reader.snapshot()
            if n == 0 { say("ready served=\(snap.callsServed) kind=model") }
            n += 1
            CIPCBench_sleep_ns(UInt64(intervalMS) * 1_000_000)
        }
        #else
        // Without the model: the same system calls a snapshot makes (O_RDONLY open, fstat,
        // F_OFD_GETLK, pread of the whole section), which is what touches the shared pages.
        let fd = open("/dev/shm/ipcscope." + name, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { throw BenchError("reader cannot open \(name)") }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var n = 0
        while true {
            var st = stat()
            fstat(fd, &st)
            var alive: Int32 = 0
            _ = CIPCScope_ofd_probe(fd, &alive)
            let size = min(Int(st.st_size), buf.count)
            let got = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
            if n == 0 { say("ready bytes=\(got) kind=raw") }
            n += 1
            CIPCBench_sleep_ns(UInt64(intervalMS) * 1_000_000)
        }
        #endif
    }

    /// A connected client between calls: one call, then it sleeps (bounded).
    static func idle(name: String, seconds: Double) throws {
        let client = try Client(service: name)
        _ = try client.call(function: 1, payload: [1, 2, 3])
        say("ready pid=\(getpid())")
        CIPCBench_sleep_ns(UInt64(seconds * 1e9))
        withExtendedLifetime(client) {}
    }
}
