// The tools beside `ipcscope` (the benchmark, the fuzzer, the torture driver, the tests' helper)
// parse their arguments with swift-argument-parser: a wrong flag or value gets its usage error
// (exit 64), and --help its generated help. A valued flag takes the next word as its value, as
// the hand-written parsers did, so `--samples -5` is "out of range", not "missing value". Their private child protocols (the bench's `--role`,
// the torture's `client`, the fuzzer's `--child`) are exercised by BenchTests, TortureTests and
// FuzzTests.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite("Tool usage", .serialized)
struct ToolUsageTests {
    @Test("a wrong flag or value: the parser's usage error, exit 64",
          arguments: [
            ("ipcscope-bench", ["--no-such-flag"], "Unknown option '--no-such-flag'"),
            ("ipcscope-bench", ["--runs"], "Missing value for '--runs <n>'"),
            ("ipcscope-bench", ["--instructions", "--calls", "0"], "--calls 0 is out of range: give 1.0 to 1000000.0"),
            ("ipcscope-fuzz", ["--no-such-flag"], "Unknown option '--no-such-flag'"),
            ("ipcscope-fuzz", ["--cases", "many"], "--cases must be a whole number, not 'many'"),
            ("ipcscope-fuzz", ["--target", "nothing", "--cases", "1"], "no target 'nothing'"),
            ("ipcscope-fuzz", ["--replay", "x"], "--replay needs --target NAME"),
            ("ipcscope-torture", ["--no-such-flag"], "Unknown option '--no-such-flag'"),
            ("ipcscope-torture", ["--clients", "0"], "--clients 0 is out of range: give 1 to 64"),
            ("ipcscope-torture", ["--seconds", "inf"], "--seconds inf is out of range"),
            ("ipcscope-torture", ["--seed", "-1"], "The value '-1' is invalid for '--seed <n>'"),
            ("ipcscope-torture", ["--grace-ms", "-1"], "--grace-ms -1 is out of range: give 0 to 60000"),
            ("ipcscope-bench", ["--samples", "-5"], "--samples -5 is out of range: give 100.0 to 10000000.0"),
            ("ipcscope-fuzz", ["--cases", "-3"], "--cases must be a whole number, not '-3'"),
            ("IPCScopeTestHelper", ["no-such-mode", "x"], "unexpected arguments: 'no-such-mode', 'x'"),
            ("IPCScopeTestHelper", ["call", "x"], "Missing expected argument '<function>'"),
            ("IPCScopeTestHelper", ["call-loop", "x", "many", "id"], "'<count>'"),
          ])
    func usageError(tool: String, arguments: [String], message: String) throws {
        let path = productPath(tool)
        try #require(access(path, X_OK) == 0, "build the package first: \(path) is missing")
        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(path, arguments, timeout: 30)
        #expect(run.exitStatus == 64, "\(tool) \(arguments): exit \(run.exitStatus.map(String.init) ?? "none"): \(run.stderr)")
        #expect(run.stderr.contains("Error: ") && run.stderr.contains(message), "\(tool) \(arguments): \(run.stderr)")
        #expect(run.stderr.contains("Usage: \(tool)"), "\(tool) \(arguments): \(run.stderr)")
    }

    @Test("--help prints every flag and exits 0",
          arguments: [
            ("ipcscope-bench", ["--runs", "--quick", "--json", "--with-reader", "--pin", "--server-spin-us",
                                "--client-spin-us", "--samples", "--instructions", "--calls"]),
            ("ipcscope-fuzz", ["--target", "--cases", "--live-cases", "--seed", "--corpus", "--hang-seconds", "--report",
                               "--verbose", "--replay", "--list"]),
            ("ipcscope-torture", ["--seconds", "--clients", "--seed", "--timeout-ms", "--grace-ms", "--verbose"]),
            ("IPCScopeTestHelper", ["hold-mutex", "call-loop", "call", "serve-slow", "read-lock"]),
          ])
    func help(tool: String, flags: [String]) throws {
        let path = productPath(tool)
        try #require(access(path, X_OK) == 0, "build the package first: \(path) is missing")
        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(path, ["--help"], timeout: 30)
        #expect(run.exitStatus == 0, "\(tool) --help: \(run.stderr)")
        for flag in flags { #expect(run.stdout.contains(flag), "\(tool) --help lacks \(flag):\n\(run.stdout)") }
        // The child protocols stay out of the help.
        for hidden in ["--role", "--child", "--slot"] { #expect(!run.stdout.contains(hidden), "\(tool) --help shows \(hidden)") }
    }
}
