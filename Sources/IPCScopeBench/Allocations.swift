// Heap allocations, counted with ordo-one/malloc-interposer (the MallocInterposerSwift product).
//
// On Linux its libMallocInterposerSwift.so replaces the malloc family when it comes before libc
// in the symbol search: linking it does that here (the executable names it before libc), and
// LD_PRELOAD does it in any process. The bench checks with one counted allocation; when linking
// was not enough, it re-executes itself with the library (built beside this binary) preloaded,
// and every role process inherits it. `ipcscope serve` is started with it preloaded. Counting
// itself is off until a role turns it on around what it measures.
//
// `ipcscope serve` is not linked against the interposer: it reads the interposer's counters
// through CIPCScope's allocation probe (dlsym, only when the library is preloaded and the
// bench set IPCSCOPE_ALLOCATION_PROBE), which writes them to a file every 10 ms.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import IPCScopeKit
import MallocInterposerSwift

enum Allocations {
    static let library = "libMallocInterposerSwift.so"
    private static let marker = "IPCSCOPE_BENCH_PRELOADED"

    /// The interposer library beside this binary, if it is there.
    static let libraryPath: String? = {
        let path = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.startIndex)]) + "/" + library
        return access(path, R_OK) == 0 ? path : nil
    }()

    /// Whether the interposer replaces malloc in this process: one counted allocation proves it.
    static let active: Bool = {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        // malloc as the symbol search finds it, called through a pointer: a direct malloc/free
        // (or strdup/free) pair is removed by the optimiser.
        typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
        if let sym = dlsym(nil, "malloc") { free(unsafeBitCast(sym, to: Malloc.self)(24)) }
        MallocInterposerSwift.unhook()
        let n = MallocInterposerSwift.getStatistics().mallocCount
        MallocInterposerSwift.reset()
        return n > 0
    }()

    /// Re-executes this binary with the interposer preloaded, once, when it is not active and
    /// the library sits beside the binary. Returns when there is nothing to do (the bench then
    /// reports the allocations as not counted).
    static func preloadOrReexecute() {
        guard !active, getenv(marker) == nil, let path = libraryPath else { return }
        setenv("LD_PRELOAD", preloading(path), 1)
        setenv(marker, "1", 1)
        let argv = ([selfPath] + CommandLine.arguments.dropFirst()).map { strdup($0) } + [nil]
        execv(selfPath, argv)
        complain("ipcscope-bench: cannot re-execute with \(library) preloaded (errno \(errno)): allocations are not counted")
    }

    /// LD_PRELOAD with `path` first.
    static func preloading(_ path: String) -> String {
        let existing = getenv("LD_PRELOAD").map { String(cString: $0) } ?? ""
        return existing.isEmpty ? path : path + ":" + existing
    }

    /// Zeroes the counters and starts counting (all threads of this process).
    static func start() {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
    }

    /// Allocations counted since `start()`, or nil when the interposer is not active.
    static func count() -> UInt64? {
        active ? UInt64(clamping: MallocInterposerSwift.getStatistics().mallocCount) : nil
    }
}

/// The counts another process's allocation probe writes (see CIPCScopeProbe's allocation_probe.c).
struct ProbeFile {
    let path: String

    /// Generation, allocations of the whole process, allocations of its serving thread.
    func read() -> (generation: UInt64, total: UInt64, serving: UInt64)? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 128)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 127, 0) }
        guard n > 0 else { return nil }
        let fields = String(decoding: buf[0..<n], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 3, let g = UInt64(fields[0]), let t = UInt64(fields[1]), let s = UInt64(fields[2]) else { return nil }
        return (g, t, s)
    }

    /// A snapshot written after this call began (two generations later), within `seconds`.
    func fresh(within seconds: Double = 5) -> (total: UInt64, serving: UInt64)? {
        let end = CIPCBench_now_ns() &+ UInt64(seconds * 1e9)
        var first: UInt64?
        while CIPCBench_now_ns() < end {
            if let r = read() {
                if let f = first, r.generation >= f &+ 2 { return (r.total, r.serving) }
                if first == nil { first = r.generation }
            }
            CIPCBench_sleep_ns(5_000_000)
        }
        return nil
    }
}

extension Bench {
    /// The script `serve --script` is counted with: one rule, fixed bytes for function 2, the
    /// request echoed for everything else (what a mock server of a simple service looks like).
    static let simpleScript = """
        rules:
          - match: { function: 2 }
            reply: { status: 0, text: "pong" }
          - match: any
            reply: { status: 0, echo: true }
        """

    /// Heap allocations per call of an `ipcscope serve NAME ARGUMENTS...` process, counted by
    /// its allocation probe: on its serving thread, and in the whole process (log thread
    /// included). Nil when the interposer library or `ipcscope` is not beside the bench.
    static func serveAllocations(_ c: Config, name: String, arguments: [String], tag: String)
        throws -> (serving: Double, process: Double)? {
        let dir = String(selfPath[..<(selfPath.lastIndex(of: "/") ?? selfPath.startIndex)])
        guard let library = Allocations.libraryPath, access(dir + "/ipcscope", X_OK) == 0 else { return nil }
        let probe = ProbeFile(path: (Cleanup.directory ?? "/tmp") + "/\(tag).allocations")
        Cleanup.services.append(name)
        defer {
            _ = shm_unlink("/ipcscope." + name)
            Cleanup.services.removeAll { $0 == name }
        }
        // Only this child gets the probe's file and the preloaded interposer.
        let preload = getenv("LD_PRELOAD").map { String(cString: $0) }
        setenv("IPCSCOPE_ALLOCATION_PROBE", probe.path, 1)
        setenv("LD_PRELOAD", Allocations.preloading(library), 1)
        let spawned = Result { () throws(BenchError) in
            try Child(executable: dir + "/ipcscope", arguments: ["serve", name] + arguments, tag: tag)
        }
        unsetenv("IPCSCOPE_ALLOCATION_PROBE")
        if let preload { setenv("LD_PRELOAD", preload, 1) } else { unsetenv("LD_PRELOAD") }
        let serve = try spawned.get()
        defer { serve.kill() }
        _ = try serve.waitForLine("serving", within: 20, what: "ipcscope serve")
        let client = try Client(service: name)
        let request = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 64)
        defer { request.deallocate() }
        for i in 0..<64 { request[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        let response = UnsafeMutableRawBufferPointer.allocate(byteCount: client.responseCapacity, alignment: 64)
        defer { response.deallocate() }
        let calls = c.quick ? 2_000 : 20_000
        func callAll(_ n: Int) throws {
            for i in 0..<n {
                // Every fourth call takes the fixed-bytes rule of `simpleScript`.
                let r = try client.call(function: i & 3 == 0 ? 2 : 1, payload: UnsafeRawBufferPointer(request),
                                        into: response, timeout: .seconds(20))
                guard r.status == 0 else { throw BenchError("serve \(tag) answered status \(r.status)") }
            }
        }
        try callAll(1_000)                // warm-up: first-call work and the log thread's buffers
        CIPCBench_sleep_ns(100_000_000)   // the log thread catches up
        guard let before = probe.fresh() else { throw BenchError("serve \(tag) wrote no allocation counts") }
        try callAll(calls)
        CIPCBench_sleep_ns(100_000_000)
        guard let after = probe.fresh() else { throw BenchError("serve \(tag) wrote no allocation counts") }
        try serve.terminate(within: 10, what: "ipcscope serve")
        return (Double(after.serving &- before.serving) / Double(calls), Double(after.total &- before.total) / Double(calls))
    }
}
