// ipcscope-bench: the framework's round trip measured against this machine's floor.
//
//   ipcscope-bench [--runs N] [--quick] [--json] [--with-reader] [--pin]
//                  [--server-spin-us N] [--client-spin-us N] [--samples N]
//   ipcscope-bench --instructions [--calls N] [--json]
//
// Build and run in release mode: swift build -c release && .build/release/ipcscope-bench --runs 5
// See docs/performance.md for what each row means and the figures on the reference machine.
// The processes it starts are this binary with a hidden `--role` (Roles.swift): those arguments
// are read before the parser sees them.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CIPCBench

@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipcscope-bench",
        abstract: "The framework's round trip measured against this machine's floor.",
        discussion: """
            Starts the server and every client in its own process, and prints a table, the interleaved \
            pairs and a PASS/MISS per target. Build with -c release for meaningful figures. With \
            --instructions, counts the instructions per call of each side under valgrind's callgrind \
            instead. See docs/performance.md.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("Repeat the whole measurement N times; print medians and spread.", valueName: "n"))
    var runs = "1"
    @Flag(help: "Short run (for tests): 2000 samples, 2 s idle window.")
    var quick = false
    @Flag(help: "Print JSON instead of the table.")
    var json = false
    @Flag(name: .customLong("with-reader"), help: "Keep an `attach`-like reader polling during every framework row.")
    var withReader = false
    @Flag(help: "Diagnostic: servers on CPU 0, clients on CPU 1.")
    var pin = false
    @Option(name: .customLong("server-spin-us"), parsing: .unconditional, help: ArgumentHelp("ServerOptions.spin for the bench server.", valueName: "us"))
    var serverSpinUS = "50"
    @Option(name: .customLong("client-spin-us"), parsing: .unconditional, help: ArgumentHelp("ClientOptions.spin for the bench clients.", valueName: "us"))
    var clientSpinUS = "100"
    @Option(parsing: .unconditional, help: ArgumentHelp("Samples per framework row (default: 100000; 2000 with --quick).", valueName: "n"))
    var samples: String?
    @Flag(help: "Count instructions per call on the hot path under valgrind (needs valgrind and objcopy).")
    var instructions = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Calls counted on each side with --instructions.", valueName: "n"))
    var calls = "2000"

    /// The processes the bench starts run a role, not the command line (see Roles.swift).
    static func main() {
        // Allocations are counted by ordo-one/malloc-interposer, which must be preloaded: without
        // it, this re-executes itself with it (see Allocations.swift); roles inherit it.
        Allocations.preloadOrReexecute()
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--role" { Roles.run(Array(arguments.dropFirst())) }
        main(arguments)
    }

    /// A number in `range`, or a usage error saying the range (never a trap on inf, nan or 1e300).
    static func number(_ flag: String, _ text: String, in range: ClosedRange<Double>) throws -> Double {
        guard let v = Double(text), v.isFinite, range.contains(v) else {
            throw ValidationError("\(flag) \(text) is out of range: give \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    func config() throws -> Config {
        var config = Config()
        if quick { config.makeQuick() }
        config.json = json
        config.withReader = withReader
        config.runs = Int(try Self.number("--runs", runs, in: 1...1000))
        if let samples { config.samples = Int(try Self.number("--samples", samples, in: 100...10_000_000)) }
        config.serverSpinNS = UInt64(try Self.number("--server-spin-us", serverSpinUS, in: 0...1_000_000) * 1000)
        config.clientSpinNS = UInt64(try Self.number("--client-spin-us", clientSpinUS, in: 0...1_000_000) * 1000)
        return config
    }

    func validate() throws {
        _ = try config()
        _ = try Self.number("--calls", calls, in: 1...1_000_000)
    }

    func run() throws {
        let config = try config()
        if pin { setenv("IPCSCOPE_BENCH_PIN", "1", 1) }

        #if DEBUG
        if !instructions { complain("ipcscope-bench: warning: a debug build; build with -c release for meaningful figures") }
        #endif

        var template = Array("/tmp/ipcscope-bench-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            complain("ipcscope-bench: mkdtemp failed")
            Glibc.exit(1)
        }
        Cleanup.directory = String(cString: dir)
        Cleanup.install()

        if instructions {
            do {
                let counts = try Bench.instructions(calls: Int(try Self.number("--calls", calls, in: 1...1_000_000)))
                Cleanup.run()
                print(json ? counts.json : counts.table)
            } catch {
                complain("ipcscope-bench: \(error)")
                Cleanup.run()
                Glibc.exit(1)
            }
            return
        }

        var results: [RunResult] = []
        do {
            for r in 1...config.runs { results.append(try Bench.measure(config, run: r)) }
        } catch {
            complain("ipcscope-bench: \(error)")
            Cleanup.run()
            Glibc.exit(1)
        }
        Cleanup.run()
        print(config.json ? Report.json(results, config) : Report.table(results, config))
    }
}
