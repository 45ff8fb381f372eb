// One measurement run: the baselines, then the framework with its server and clients in
// separate processes, side by side. `Bench.measure()` returns everything as rows and scalars.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench
import IPCScopeKit

/// What a run measures and how long.
struct Config {
    var quick = false
    var json = false
    var runs = 1
    var withReader = false
    var serverSpinNS: UInt64 = 50_000
    var clientSpinNS: UInt64 = 100_000
    var payloads = [0, 64, 1024, 4096]
    var samples = 100_000
    var warmup = 2_000
    var blockingCalls = 2_000
    var gapNS: UInt64 = 2_000_000
    var throughputNS: UInt64 = 2_000_000_000
    var readerWindows = 20            // pairs of windows: without, then with the reader
    var readerWindowNS: UInt64 = 250_000_000
    var readerIntervalMS = 50
    var idleSeconds = 10.0
    var pairs = 20                    // interleaved pairs of windows (baseline, framework)
    var spinWindow = 2_000            // round trips per window, hot path and serve rows
    var futexWindow = 25              // spaced calls per window, blocking path

    mutating func makeQuick() {
        quick = true
        samples = 2_000; warmup = 200; blockingCalls = 100
        throughputNS = 300_000_000; readerWindows = 3; readerWindowNS = 100_000_000; idleSeconds = 2
        spinWindow = 200; futexWindow = 4
    }
}

/// One row of round trips, by a stable key.
struct Row {
    var key: String
    var label: String
    var latency: Latency
}

/// Everything one run measured.
struct RunResult {
    var rows: [Row] = []
    var scalars: [String: Double] = [:]
    /// Interleaved measurements by kind: "spin", "futex", "serve", "reader".
    var pairs: [String: Pairs] = [:]

    func row(_ key: String) -> Latency? { rows.first { $0.key == key }?.latency }
}

enum Bench {
    /// Runs every measurement once.
    static func measure(_ c: Config, run: Int) throws -> RunResult {
        var result = RunResult()
        let progress = { (s: String) in if !c.json { complain("  [run \(run)] \(s)") } }

        // MARK: baselines (C, forked, same sample counts and percentile method)
        progress("baselines")
        // The spin and futex baselines are measured again right before the framework rows they
        // are compared with (this host's cross-CPU latency changes phase over seconds); the row
        // shown is the lower of the two p50s, i.e. the stricter floor.
        var spinRows: [Int: Latency] = [:]
        for p in c.payloads {
            spinRows[p] = try cSamples(c.samples, c.warmup) { CIPCBench_spin_pingpong($0, $1, Int32(p), $2) }
        }
        var futexRow = try cSamples(c.samples, c.warmup) { CIPCBench_futex_pingpong($0, $1, 64, $2) }
        let spinIndex = result.rows.count
        result.rows.append(Row(key: "futex-spaced-64", label: "raw futex, spaced \(c.gapNS / 1_000_000) ms, 64 B",
                               latency: try cSamples(c.blockingCalls, 5) { CIPCBench_futex_spaced($0, $1, 64, c.gapNS, $2) }))
        result.rows.append(Row(key: "unix-64", label: "unix-socket echo, 64 B",
                               latency: try cSamples(c.samples, c.warmup) { CIPCBench_unix_echo($0, $1, 64, $2) }))

        // MARK: the framework
        let name = "bench-\(getpid())-\(run)"
        Cleanup.services.append(name)
        let server = try Child(role: ["server", name, String(c.serverSpinNS)], tag: "server-\(run)")
        let serverLine = try server.waitForLine("ready", within: 10, what: "bench server")
        _ = serverLine
        var reader: Child?
        if c.withReader {
            reader = try Child(role: ["reader", name, String(c.readerIntervalMS)], tag: "reader-all-\(run)")
            _ = try reader!.waitForLine("ready", within: 10, what: "reader")
        }
        let stats = try Client(service: name)
        let s0 = try serverStats(stats)

        for p in c.payloads {
            progress("framework, 1 client, \(p) B")
            let again = try cSamples(c.samples, c.warmup) { CIPCBench_spin_pingpong($0, $1, Int32(p), $2) }
            if again.p50 < spinRows[p]!.p50 { spinRows[p] = again }
            let l = try clients(c, name: name, n: 1, payload: p, count: c.samples, tag: "c1-\(p)-\(run)")
            result.rows.append(Row(key: "call1-\(p)", label: "ipcscope call, 1 client, \(p) B", latency: l.latency))
            if p == 64, let a = l.allocs { result.scalars["alloc_client"] = Double(a) / Double(l.calls) }
            if p == 64, let a = l.arrayAllocs { result.scalars["alloc_client_array"] = Double(a) / 100 }
        }
        let s1 = try serverStats(stats)
        // The stats call itself is one of the calls served in between.
        if s0.allocs != .max && s1.allocs != .max {
            result.scalars["alloc_server"] = Double(s1.allocs &- s0.allocs) / Double(max(1, s1.served &- s0.served))
        }

        for p in c.payloads {
            progress("framework, 4 clients, \(p) B")
            let l = try clients(c, name: name, n: 4, payload: p, count: c.samples / 4, tag: "c4-\(p)-\(run)")
            result.rows.append(Row(key: "call4-\(p)", label: "ipcscope call, 4 clients, \(p) B", latency: l.latency))
        }

        result.rows.insert(contentsOf: c.payloads.map { p in Row(key: "spin-\(p)", label: "raw spin ping-pong, \(p) B", latency: spinRows[p]!) },
                           at: spinIndex)

        progress("blocking path")
        let futexAgain = try cSamples(c.samples / 4, c.warmup) { CIPCBench_futex_pingpong($0, $1, 64, $2) }
        if futexAgain.p50 < futexRow.p50 { futexRow = futexAgain }
        result.rows.insert(Row(key: "futex-64", label: "raw futex ping-pong, 64 B", latency: futexRow), at: spinIndex + c.payloads.count)
        let b = try clients(c, name: name, n: 1, payload: 64, count: c.blockingCalls, warmup: 5, gapNS: c.gapNS, tag: "block-\(run)")
        result.rows.append(Row(key: "block-64", label: "ipcscope call, spaced \(c.gapNS / 1_000_000) ms (blocking), 64 B",
                               latency: b.latency))

        progress("interleaved pairs: hot path 64 B vs raw spin")
        result.pairs["spin"] = try pairs(c, kind: "spin", name: name, window: c.spinWindow, tag: "pairs-spin-\(run)")
        progress("interleaved pairs: blocking 64 B vs raw futex, spaced")
        result.pairs["futex"] = try pairs(c, kind: "futex", name: name, window: c.futexWindow, gapNS: c.gapNS, tag: "pairs-futex-\(run)")
        let serveName = name + "-serve"
        Cleanup.services.append(serveName)
        if let serve = try startServe(serveName, tag: "serve-\(run)") {
            progress("interleaved pairs: ipcscope serve --echo vs the bench server")
            result.pairs["serve"] = try pairs(c, kind: "serve", name: serveName, other: name, window: c.spinWindow, tag: "pairs-serve-\(run)")
            try serve.terminate(within: 10, what: "ipcscope serve")
        } else {
            complain("ipcscope-bench: no ipcscope binary beside this one: the serve --echo row is left out")
        }
        _ = shm_unlink("/ipcscope." + serveName)
        Cleanup.services.removeAll { $0 == serveName }

        progress("heap allocations of ipcscope serve --echo and --script")
        if let a = try serveAllocations(c, name: name + "-alloc-echo", arguments: ["--echo"], tag: "alloc-echo-\(run)") {
            result.scalars["alloc_serve_echo"] = a.serving
            result.scalars["alloc_serve_echo_process"] = a.process
        }
        let script = (Cleanup.directory ?? "/tmp") + "/simple-script.yaml"
        guard let f = fopen(script, "w") else { throw BenchError("cannot write \(script)") }
        let written = fputs(simpleScript, f) >= 0
        guard fclose(f) == 0, written else { throw BenchError("cannot write \(script)") }
        if let a = try serveAllocations(c, name: name + "-alloc-script", arguments: ["--script", script, "--quiet"],
                                        tag: "alloc-script-\(run)") {
            result.scalars["alloc_serve_script"] = a.serving
            result.scalars["alloc_serve_script_process"] = a.process
        }
        if let a = try serveAllocations(c, name: name + "-alloc-scriptlog", arguments: ["--script", script],
                                        tag: "alloc-scriptlog-\(run)") {
            result.scalars["alloc_serve_script_logged"] = a.serving
            result.scalars["alloc_serve_script_logged_process"] = a.process
        }

        let cName = name + "-c"
        Cleanup.services.append(cName)
        do {
            let cServer = try Child(role: ["cserver", cName], tag: "cserver-\(run)")
            _ = try cServer.waitForLine("ready", within: 10, what: "C library server")
            progress("interleaved pairs: the C library (client and server) vs the framework")
            result.pairs["c"] = try pairs(c, kind: "c", name: name, other: cName, window: c.spinWindow, tag: "pairs-c-\(run)")
            cServer.kill()
        }
        _ = shm_unlink("/ipcscope." + cName)
        Cleanup.services.removeAll { $0 == cName }

        progress("throughput")
        result.scalars["tput1"] = try throughput(c, name: name, n: 1, tag: "t1-\(run)")
        result.scalars["tput4"] = try throughput(c, name: name, n: 4, tag: "t4-\(run)")

        if reader == nil {
            progress("throughput with a reader (attach) every \(c.readerIntervalMS) ms, alternate windows")
            let rw = try readerWindows(c, name: name, tag: "rw-\(run)")
            result.pairs["reader"] = rw
            result.scalars["tput_reader_off"] = median(rw.base)
            result.scalars["tput_reader_on"] = median(rw.framework)
            // Per pair: the loss in a window with the reader against the window just before it.
            result.scalars["reader_overhead_pct"] = median(rw.ratios.map { (1 - $0) * 100 })
        }
        reader?.kill()

        progress("idle CPU over \(fixed(c.idleSeconds, 0)) s")
        let idle = try Child(role: ["idle", name, String(c.idleSeconds + 20)], tag: "idle-\(run)")
        _ = try idle.waitForLine("ready", within: 10, what: "idle client")
        CIPCBench_sleep_ns(200_000_000)  // let the server pass its spin budget
        let hz = Double(CIPCBench_ticks_per_second())
        let sv0 = CIPCBench_cpu_ticks(server.pid), cl0 = CIPCBench_cpu_ticks(idle.pid), t0 = CIPCBench_now_ns()
        CIPCBench_sleep_ns(UInt64(c.idleSeconds * 1e9))
        let sv1 = CIPCBench_cpu_ticks(server.pid), cl1 = CIPCBench_cpu_ticks(idle.pid), t1 = CIPCBench_now_ns()
        let wall = Double(t1 - t0) / 1e9
        guard sv0 >= 0, sv1 >= 0, cl0 >= 0, cl1 >= 0 else { throw BenchError("cannot read /proc/<pid>/stat") }
        result.scalars["idle_server_pct"] = Double(sv1 - sv0) / hz / wall * 100
        result.scalars["idle_client_pct"] = Double(cl1 - cl0) / hz / wall * 100
        idle.kill()

        // Stop the server cleanly; it unlinks its object.
        _ = try control(stats, BenchFunction.stop)
        stats.disconnect()
        try server.finish(within: 10, what: "bench server")
        _ = shm_unlink("/ipcscope." + name)
        Cleanup.services.removeAll { $0 == name }
        return result
    }

    /// Runs a C baseline into a sample array.
    static func cSamples(_ count: Int, _ warmup: Int,
                         _ body: (Int32, Int32, UnsafeMutablePointer<UInt64>) -> Int32) throws -> Latency {
        var samples = [UInt64](repeating: 0, count: count)
        let r = samples.withUnsafeMutableBufferPointer { body(Int32(count), Int32(warmup), $0.baseAddress!) }
        guard r == 0 else { throw BenchError("baseline failed: errno \(r)") }
        return Latency(samples: samples)
    }

    /// Asks the bench server for its allocation count and calls served.
    static func serverStats(_ client: Client) throws -> (allocs: UInt64, served: UInt64) {
        let r = try control(client, BenchFunction.stats)
        guard r.count == 16 else { throw BenchError("stats call answered \(r.count) bytes") }
        return r.withUnsafeBytes { ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
    }

    /// One call of a control function with no payload; returns the response bytes.
    static func control(_ client: Client, _ function: UInt32) throws -> [UInt8] {
        let b = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)
        defer { b.deallocate() }
        let r = try client.call(function: function, payload: UnsafeRawBufferPointer(start: nil, count: 0), into: b, timeout: .seconds(5))
        return Array(b[0..<r.count])
    }

    /// Runs `n` client processes of `count` timed calls each; merges their samples.
    static func clients(_ c: Config, name: String, n: Int, payload: Int, count: Int, warmup: Int? = nil,
                        gapNS: UInt64 = 0, tag: String) throws -> (latency: Latency, allocs: UInt64?, calls: Int, arrayAllocs: UInt64?) {
        let startAt = CIPCBench_now_ns() + 400_000_000
        var kids: [Child] = []
        for i in 0..<n {
            let out = (Cleanup.directory ?? "/tmp") + "/\(tag)-\(i).samples"
            kids.append(try Child(role: ["client", name, String(c.clientSpinNS), String(payload), String(count),
                                         String(warmup ?? c.warmup), String(gapNS), String(startAt), "0", out],
                                  tag: "\(tag)-\(i)"))
        }
        var all: [UInt64] = []
        var allocs: UInt64? = 0, calls = 0, arrayAllocs: UInt64? = 0
        let budget = 60 + Double(count) * (Double(gapNS) / 1e9 + 200e-6) * Double(n)
        for (i, k) in kids.enumerated() {
            try k.finish(within: budget, what: "client \(tag)-\(i)")
            let f = fields(k.output.split(separator: "\n").last.map(String.init) ?? "")
            let counted = UInt64(f["allocs"] ?? "")  // "-": the interposer is not preloaded
            allocs = allocs.flatMap { a in counted.map { a + $0 } }
            let countedArray = UInt64(f["array_allocs"] ?? "")
            arrayAllocs = arrayAllocs.flatMap { a in countedArray.map { a + $0 } }
            calls += Int(f["calls"] ?? "") ?? 0
            let s = readSamples((Cleanup.directory ?? "/tmp") + "/\(tag)-\(i).samples")
            guard s.count == count else { throw BenchError("client \(tag)-\(i) wrote \(s.count) samples, not \(count)") }
            all += s
        }
        return (Latency(samples: all), allocs, calls, arrayAllocs)
    }

    /// One client calling back to back through 2 × `readerWindows` windows; a reader polls in the
    /// odd ones only. Returns the calls/s of each pair: base = without, framework = with the reader.
    static func readerWindows(_ c: Config, name: String, tag: String) throws -> Pairs {
        let startAt = CIPCBench_now_ns() + 600_000_000
        let windows = 2 * c.readerWindows
        let reader = try Child(role: ["reader", name, String(c.readerIntervalMS), String(startAt), String(c.readerWindowNS)],
                               tag: "\(tag)-reader")
        defer { reader.kill() }
        let client = try Child(role: ["client", name, String(c.clientSpinNS), "64", "0", String(c.warmup), "0",
                                      String(startAt), String(UInt64(windows) * c.readerWindowNS), "windows:\(c.readerWindowNS)"],
                               tag: "\(tag)-client")
        try client.finish(within: 60 + Double(windows) * Double(c.readerWindowNS) / 1e9, what: "client \(tag)")
        let f = fields(client.output.split(separator: "\n").last.map(String.init) ?? "")
        let counts = (f["windows"] ?? "").split(separator: ",").compactMap { Double($0) }
        guard counts.count == windows else { throw BenchError("client \(tag) reported \(counts.count) windows, not \(windows)") }
        let perSecond = counts.map { $0 / (Double(c.readerWindowNS) / 1e9) }
        let off = perSecond.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        let on = perSecond.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        return Pairs(base: off, framework: on)
    }

    /// Calls per second of `n` clients calling back to back for the configured time (64 B).
    static func throughput(_ c: Config, name: String, n: Int, tag: String) throws -> Double {
        let startAt = CIPCBench_now_ns() + 400_000_000
        var kids: [Child] = []
        for i in 0..<n {
            kids.append(try Child(role: ["client", name, String(c.clientSpinNS), "64", "0", String(c.warmup), "0",
                                         String(startAt), String(c.throughputNS), "-"], tag: "\(tag)-\(i)"))
        }
        var total = 0.0
        for (i, k) in kids.enumerated() {
            try k.finish(within: 60 + Double(c.throughputNS) / 1e9, what: "client \(tag)-\(i)")
            let f = fields(k.output.split(separator: "\n").last.map(String.init) ?? "")
            guard let calls = Double(f["calls"] ?? ""), let ns = Double(f["elapsed_ns"] ?? ""), ns > 0 else {
                throw BenchError("client \(tag)-\(i) printed no result: \(k.output)")
            }
            total += calls / (ns / 1e9)
        }
        return total
    }
}
