// ipcscope-bench: the framework's round trip measured against this machine's floor.
//
//   ipcscope-bench [--runs N] [--quick] [--json] [--with-reader]
//                  [--server-spin-us N] [--client-spin-us N] [--samples N]
//
// Build and run in release mode: swift build -c release && .build/release/ipcscope-bench --runs 5
// See docs/performance.md for what each row means and the figures on the reference machine.
#if canImport(Glibc)
import Glibc
#endif
import CIPCBench

// Allocations are counted by ordo-one/malloc-interposer, which must be preloaded: without it,
// this re-executes itself with it (see Allocations.swift); roles inherit it.
Allocations.preloadOrReexecute()
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "--role" { Roles.run(Array(arguments.dropFirst())) }

var config = Config()
var rest = arguments[...]
func value(_ flag: String, _ rest: inout ArraySlice<String>) -> String {
    guard let v = rest.popFirst() else { complain("ipcscope-bench: \(flag) needs a value"); exit(64) }
    return v
}
/// A number in `range`, or exit 64 saying the range (never a trap on inf, nan or 1e300).
func number(_ flag: String, _ rest: inout ArraySlice<String>, in range: ClosedRange<Double>) -> Double {
    let text = value(flag, &rest)
    guard let v = Double(text), v.isFinite, range.contains(v) else {
        complain("ipcscope-bench: \(flag) \(text) is out of range: give \(range.lowerBound) to \(range.upperBound)")
        exit(64)
    }
    return v
}
while let a = rest.popFirst() {
    switch a {
    case "--quick": config.makeQuick()
    case "--json": config.json = true
    case "--with-reader": config.withReader = true
    case "--pin": setenv("IPCSCOPE_BENCH_PIN", "1", 1)  // diagnostic: server on CPU 0, clients on CPU 1
    case "--runs": config.runs = Int(number(a, &rest, in: 1...1000))
    case "--samples": config.samples = Int(number(a, &rest, in: 100...10_000_000))
    case "--server-spin-us": config.serverSpinNS = UInt64(number(a, &rest, in: 0...1_000_000) * 1000)
    case "--client-spin-us": config.clientSpinNS = UInt64(number(a, &rest, in: 0...1_000_000) * 1000)
    case "-h", "--help":
        print("""
            usage: ipcscope-bench [--runs N] [--quick] [--json] [--with-reader]
                                  [--server-spin-us N] [--client-spin-us N] [--samples N]
              --runs N           repeat the whole measurement N times; print medians and spread (default 1)
              --quick            short run (for tests): 2000 samples, 2 s idle window
              --json             print JSON instead of the table
              --with-reader      keep an `attach`-like reader polling during every framework row
              --server-spin-us   ServerOptions.spin for the bench server (default 50)
              --client-spin-us   ClientOptions.spin for the bench clients (default 100)
            """)
        exit(0)
    default:
        complain("ipcscope-bench: unknown argument \(a) (see --help)")
        exit(64)
    }
}

#if DEBUG
complain("ipcscope-bench: warning: a debug build; build with -c release for meaningful figures")
#endif

var template = Array("/tmp/ipcscope-bench-XXXXXX".utf8CString)
guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
    complain("ipcscope-bench: mkdtemp failed")
    exit(1)
}
Cleanup.directory = String(cString: dir)
Cleanup.install()

var results: [RunResult] = []
do {
    for r in 1...config.runs { results.append(try Bench.measure(config, run: r)) }
} catch {
    complain("ipcscope-bench: \(error)")
    Cleanup.run()
    exit(1)
}
Cleanup.run()
print(config.json ? Report.json(results, config) : Report.table(results, config))
