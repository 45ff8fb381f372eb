import ArgumentParser
import Histogram
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeProcess
import IPCScopeDemo
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drive calls at a service and print throughput and latency percentiles.",
            discussion: """
                Makes --count calls (or calls for --duration seconds) of --size bytes, from \
                --threads threads in each of --processes processes (more than one process: \
                ipcscope starts copies of itself and merges their histograms). Latency is \
                measured around each call (hdrhistogram, 3 significant digits): p50, p90, p99, \
                p99.9, max. The service answers whatever it answers (try 'serve --echo').

                Exit status: 0 when every call was answered, 1 when a call failed (the first \
                failure is printed).

                Examples:
                  ipcscope bench MyService --count 100000 --size 64
                  ipcscope bench MyService --duration 5 --threads 2 --processes 2 --json
                """)

        @Argument(help: "The service name.")
        var name: String

        @Option(name: [.short, .long], help: "The function index.")
        var function: UInt32 = 0

        @Option(help: "Payload size in bytes.")
        var size = 64

        @Option(help: "Total calls (split over threads and processes).")
        var count = 10_000

        @Option(help: "Call for this many seconds instead of --count calls (\(Seconds.rangeText)).", transform: Seconds.parse)
        var duration: Seconds?

        @Option(help: "Threads per process (one shared client).")
        var threads = 1

        @Option(help: "Processes (more than 1: copies of ipcscope, each with --threads threads).")
        var processes = 1

        @Option(help: "Calls per thread before measuring.")
        var warmup = 100

        @Option(help: "Seconds to wait for each answer (default 5; \(Seconds.rangeText)).", transform: Seconds.parse)
        var timeout = Seconds(5)!

        @Flag(help: "Print one JSON object.")
        var json = false

        @OptionGroup var trust: TrustOptions

        @Flag(help: .hidden)
        var worker = false

        @Option(help: .hidden)
        var parent: Int32?

        func validate() throws {
            guard size >= 0 else { throw ValidationError("--size must be 0 or more bytes") }
            guard count >= 1 else { throw ValidationError("--count must be 1 or more") }
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1 to 256") }
            guard (1...64).contains(processes) else { throw ValidationError("--processes must be 1 to 64") }
            guard (0...1_000_000).contains(warmup) else { throw ValidationError("--warmup must be 0 to 1000000 calls") }
        }

        func run() throws {
            if worker {
                // A worker ends with its bench: the kernel sends SIGTERM when the parent dies.
                if let parent, !endWithParent(parent) { throw ExitCode(1) }
                let r = try measure(calls: count)
                printOut(r.encoded())
                return
            }
            let total: BenchResult
            if processes == 1 {
                total = try measure(calls: count)
            } else {
                total = try spawnWorkers()
            }
            report(total)
            if total.errors > 0 { throw ExitCode(1) }
        }

        // MARK: - measuring in this process

        private func measure(calls: Int) throws -> BenchResult {
            let client: Client
            do { client = try Client(service: name, options: trust.clientOptions) } catch { throw fail(error) }
            guard size <= client.requestCapacity else {
                throw usageFailure("--size \(size) exceeds the request capacity of '\(name)' (\(client.requestCapacity) bytes): use a smaller --size")
            }
            return BenchResult.drive(client, function: function, size: size, calls: calls, threads: threads,
                                     warmup: warmup, timeout: timeout.duration, for: duration?.nanoseconds)
        }

        // MARK: - processes

        private func spawnWorkers() throws -> BenchResult {
            WorkerSignals.install()
            var kids: [StartedProcess] = []
            for k in 0..<processes {
                let share = count / processes + (k < count % processes ? 1 : 0)
                var args = ["bench", name, "--worker", "--function", String(function), "--size", String(size),
                            "--count", String(max(share, 1)), "--threads", String(threads), "--warmup", String(warmup),
                            "--timeout", String(timeout.value), "--parent", String(getpid())] + trust.arguments
                if let duration { args += ["--duration", String(duration.value)] }
                // A worker's errors go to this terminal; its result comes back through the pipe.
                do {
                    let kid = try StartedProcess.start(Launch(ownExecutablePath, args, standardOutput: .pipe, standardError: .inherit,
                                                              argumentZero: "ipcscope"))
                    kids.append(kid)
                    WorkerSignals.add(kid.pid)
                } catch {
                    for kid in kids { kid.kill() }
                    printError("bench '\(name)': \(error); try --processes 1")
                    throw ExitCode(1)
                }
            }
            var parts: [BenchResult] = []
            var failed = false
            for kid in kids {
                // The output ends when the worker does; --duration or --count bounds that, not this read.
                let text = String(decoding: kid.readOutput(timeout: .infinity) ?? [], as: UTF8.self)
                if kid.wait(timeout: 30) == nil { kid.kill() }
                if let r = BenchResult(decoding: text) { parts.append(r) } else { failed = true }
            }
            if failed && parts.isEmpty {
                printError("the worker processes failed (see their errors above)")
                throw ExitCode(1)
            }
            var merged = BenchResult.merge(parts)
            if failed { merged.errors += 1 }
            return merged
        }

        // MARK: - report

        private func report(_ r: BenchResult) {
            let secs = r.endNS > r.startNS ? Double(r.endNS - r.startNS) / 1e9 : 0
            let rate = secs > 0 ? Double(r.calls) / secs : 0
            let h = r.histogram
            let pct: [(String, String, UInt64)] = [("p50", "p50", h.valueAtPercentile(50)), ("p90", "p90", h.valueAtPercentile(90)),
                                                   ("p99", "p99", h.valueAtPercentile(99)), ("p99.9", "p99_9", h.valueAtPercentile(99.9)),
                                                   ("max", "max", h.totalCount > 0 ? h.max : 0)]
            if json {
                printJSON(.object([
                    ("service", .string(name)), ("function", .number(function)), ("payload_size", .number(size)),
                    ("threads", .number(threads)), ("processes", .number(processes)),
                    ("calls", .number(r.calls)), ("errors", .number(r.errors)), ("seconds", .double(secs)),
                    ("calls_per_second", .double(rate.rounded())),
                    ("latency_ns", .object([("min", .uint(h.totalCount > 0 ? h.min : 0)), ("mean", .double(h.totalCount > 0 ? h.mean.rounded() : 0))]
                                           + pct.map { ($0.1, .uint($0.2)) })),
                    ("first_error", r.firstError.map { .string($0) } ?? .null),
                ]))
            } else {
                printLine("bench '\(name)': \(r.calls) calls of \(size) bytes (function \(function)), \(processes) process\(processes == 1 ? "" : "es") × \(threads) thread\(threads == 1 ? "" : "s"), \(Units.fixed(secs, 3)) s")
                printLine("throughput  \(Int(rate.rounded())) calls/s")
                printLine("latency     " + pct.map { "\($0.0) \(Units.duration(ns: $0.2))" }.joined(separator: "  "))
            }
            if let e = r.firstError { printError("\(r.errors) call\(r.errors == 1 ? "" : "s") failed; first: \(e)") }
        }
    }
}

/// SIGTERM and SIGHUP sent to a multi-process bench reach its workers too: the handler passes
/// the signal on to every worker, then lets it end this process as it would have.
/// Async-signal-safe: a fixed table of pids, `kill`, `signal`, `raise`.
enum WorkerSignals {
    nonisolated(unsafe) private static var pids = [pid_t](repeating: 0, count: 64)
    nonisolated(unsafe) private static var count = 0

    /// Records a worker (at most 64, as --processes allows); call before it can matter.
    static func add(_ pid: pid_t) {
        guard count < pids.count else { return }
        pids[count] = pid
        count += 1
    }

    /// Installs the forwarding handlers (table allocated before, so the handler never allocates).
    static func install() {
        for sig in [SIGTERM, SIGHUP, SIGINT] {
            signal(sig) { sig in
                WorkerSignals.pids.withUnsafeBufferPointer { p in
                    for i in 0..<WorkerSignals.count where p[i] > 0 { kill(p[i], sig) }
                }
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }
}
