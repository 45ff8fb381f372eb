// The benchmark runs and prints its table. No timing thresholds here: the figures live in
// docs/performance.md; a test only checks that `ipcscope-bench --quick` works end to end
// (server and clients in their own processes, baselines, cleanup of /dev/shm).
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite("Benchmark", .serialized)
struct BenchTests {
    /// The built `ipcscope-bench`, beside the test binary.
    var benchPath: String { productPath("ipcscope-bench") }

    /// Objects in /dev/shm that the bench names ("ipcscope.bench-<pid>-<run>").
    func benchObjects() -> Set<String> {
        var out = Set<String>()
        guard let d = opendir("/dev/shm") else { return out }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix("ipcscope.bench-") { out.insert(name) }
        }
        return out
    }

    @Test("ipcscope-bench --quick prints the table, the ratios and a verdict per target, and cleans up")
    func quickTable() throws {
        try #require(access(benchPath, X_OK) == 0, "build the package first (swift build): \(benchPath) is missing")
        let scope = TestScope()
        defer { scope.cleanup() }
        let before = benchObjects()
        let run = scope.run(benchPath, ["--quick"], timeout: 180)
        #expect(run.exitStatus == 0, "exit \(String(describing: run.exitStatus)) / signal \(String(describing: run.exitSignal)): \(run.stderr)")
        let out = run.stdout
        for row in ["raw spin ping-pong, 64 B", "raw futex ping-pong, 64 B", "unix-socket echo, 64 B",
                    "ipcscope call, 1 client, 0 B", "ipcscope call, 1 client, 4096 B", "ipcscope call, 4 clients, 64 B",
                    "(blocking), 64 B", "reader every 50 ms (attach)", "connected client between calls",
                    "client call(function:payload:into:)", "server run loop", "serve --echo: serving thread",
                    "serve --script --quiet: serving thread", "serve --script (logged): serving thread"] {
            #expect(out.contains(row), "missing row '\(row)' in:\n\(out)")
        }
        let targetLines = out.split(separator: "\n").filter { $0.hasSuffix("PASS") || $0.hasSuffix("MISS") }
        #expect(targetLines.count == 11, "one verdict per target:\n\(out)")
        for pair in ["hot path, 64 B: call / raw spin", "blocking, 64 B: spaced call / raw futex spaced",
                     "ipcscope serve --echo / bench server", "attach reader: throughput lost"] {
            #expect(out.contains(pair) && out.contains("20 pairs"), "missing interleaved '\(pair)' in:\n\(out)")
        }
        #expect(out.contains("p50") && out.contains("p99.9"))
        #expect(benchObjects().subtracting(before).isEmpty, "the bench left objects in /dev/shm")

        // Allocations are counted (ordo-one/malloc-interposer, preloaded into `ipcscope serve`):
        // the array-returning call must count its answer, so the zeros below are measured ones.
        func perCall(_ label: String) -> Double? {
            guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("  " + label) }) else { return nil }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        let check = perCall("client call(function:payload:) (check")
        #expect(check.map { $0 >= 1 } == true, "the allocation counter counted no allocation:\n\(out)")
        var zeros = ["client call(function:payload:into:)", "server run loop", "serve --echo: serving thread"]
        #if !DEBUG
        // The scripted path is allocation-free once optimised; a debug build allocates in it.
        zeros.append("serve --script --quiet: serving thread")
        #endif
        for zero in zeros {
            #expect(perCall(zero) == 0, "'\(zero)' allocates per call:\n\(out)")
        }
        #expect(perCall("serve --script (logged): serving thread").map { $0 > 0 } == true,
                "a logged script call keeps its record for the log thread: counted\n\(out)")
    }

    @Test("ipcscope-bench --quick --json prints rows, scalars and targets")
    func quickJSON() throws {
        try #require(access(benchPath, X_OK) == 0, "build the package first (swift build): \(benchPath) is missing")
        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(benchPath, ["--quick", "--json"], timeout: 180)
        #expect(run.exitStatus == 0, "\(run.stderr)")
        let out = run.stdout
        #expect(out.hasPrefix("{") && out.contains("\"rows\"") && out.contains("\"targets\"") && out.contains("\"call1-64\""))
        #expect(out.contains("\"alloc_serve_echo\"") && out.contains("\"alloc_client_array\""), "\(out)")
    }

    @Test("ipcscope-bench refuses an unknown argument")
    func badArgument() throws {
        try #require(access(benchPath, X_OK) == 0, "build the package first (swift build): \(benchPath) is missing")
        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(benchPath, ["--no-such-flag"], timeout: 30)
        #expect(run.exitStatus == 64)
        #expect(run.stderr.contains("Unknown option '--no-such-flag'"), "\(run.stderr)")
    }
}
