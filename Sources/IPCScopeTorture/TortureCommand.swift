// ipcscope-torture: the framework under chaos, every answer checked. See docs/reliability.md.
//
//   ipcscope-torture [--seconds S] [--clients N] [--seed N] [--timeout-ms MS] [--grace-ms MS] [--verbose]
//
// Starts `ipcscope serve NAME --echo` and N client processes that call it with unique payloads,
// then for S seconds SIGKILLs and SIGSTOPs clients and servers (also mid-call and holding the
// mutex), restarts servers (takeover), runs `ipcscope call`, `status` and `list` on the side.
// Prints one figure a line; exits 0 when no answer was wrong or late, nothing crashed, the
// service recovered and nothing was left behind; 1 when one of them failed; 64 on a usage error.
//
// The client processes are this binary started as `ipcscope-torture client NAME ID TIMEOUT_MS
// GRACE_MS COUNTERS_FILE`: those arguments are read before the parser sees them (exit 2 when
// they are malformed).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import IPCScopePOSIX

@main
struct TortureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipcscope-torture",
        abstract: "The framework under chaos, every answer checked.",
        discussion: """
            Starts `ipcscope serve NAME --echo` and N client processes, then SIGKILLs and SIGSTOPs \
            clients and servers, restarts servers and runs the CLI on the side. Exits 0 when no \
            answer was wrong or late, nothing crashed, the service recovered and nothing was left \
            behind. See docs/reliability.md.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("How long the chaos lasts (above 0, at most 86400).", valueName: "s"))
    var seconds = TortureOptions().seconds
    @Option(parsing: .unconditional, help: ArgumentHelp("Client processes (1 to 64).", valueName: "n"))
    var clients = TortureOptions().clients
    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the chaos.", valueName: "n"))
    var seed = TortureOptions().seed
    @Option(name: .customLong("timeout-ms"), parsing: .unconditional, help: ArgumentHelp("Each client call's deadline (1 to 60000).", valueName: "ms"))
    var timeoutMS = TortureOptions().timeoutMS
    @Option(name: .customLong("grace-ms"), parsing: .unconditional,
            help: ArgumentHelp("How much later than its deadline a call may return before it counts as late (0 to 60000).",
                               valueName: "ms"))
    var graceMS = TortureOptions().graceMS
    @Flag(help: "Print every event.")
    var verbose = false

    /// A client process runs the driver's private protocol, not the command line.
    static func main() {
        let argv = Array(CommandLine.arguments.dropFirst())
        if argv.first == "client" {
            // client NAME ID TIMEOUT_MS GRACE_MS COUNTERS_FILE (started by the driver)
            guard argv.count == 6, let id = Int(argv[2]), let t = Int(argv[3]), let g = Int(argv[4]) else { Glibc.exit(2) }
            runClient(service: argv[1], id: id, timeoutMS: t, graceMS: g, countersPath: argv[5])
        }
        main(argv)
    }

    func validate() throws {
        guard seconds.isFinite, seconds > 0, seconds <= 86_400 else {
            throw ValidationError("--seconds \(seconds) is out of range: give more than 0 and at most 86400")
        }
        guard (1...64).contains(clients) else { throw ValidationError("--clients \(clients) is out of range: give 1 to 64") }
        guard (1...60_000).contains(timeoutMS) else {
            throw ValidationError("--timeout-ms \(timeoutMS) is out of range: give 1 to 60000")
        }
        guard (0...60_000).contains(graceMS) else { throw ValidationError("--grace-ms \(graceMS) is out of range: give 0 to 60000") }
    }

    func run() throws {
        var options = TortureOptions()
        options.seconds = seconds
        options.clients = clients
        options.seed = seed
        options.timeoutMS = timeoutMS
        options.graceMS = graceMS
        options.verbose = verbose
        signal(SIGPIPE, SIG_IGN)
        printLine("torture: \(options.clients) clients, \(Int(options.seconds)) s, seed \(options.seed), "
                 + "call deadline \(options.timeoutMS) ms + \(options.graceMS) ms grace")
        let figures = Torture(options).run()
        figures.lines().forEach(printLine)
        Glibc.exit(figures.passed ? 0 : 1)
    }
}
