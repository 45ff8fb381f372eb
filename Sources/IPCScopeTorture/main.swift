// ipcscope-torture: the framework under chaos, every answer checked. See docs/reliability.md.
//
//   ipcscope-torture [--seconds S] [--clients N] [--seed N] [--timeout-ms MS] [--grace-ms MS] [--verbose]
//
// Starts `ipcscope serve NAME --echo` and N client processes that call it with unique payloads,
// then for S seconds SIGKILLs and SIGSTOPs clients and servers (also mid-call and holding the
// mutex), restarts servers (takeover), runs `ipcscope call`, `status` and `list` on the side.
// Prints one figure a line; exits 0 when no answer was wrong or late, nothing crashed, the
// service recovered and nothing was left behind.
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

let usage = "usage: ipcscope-torture [--seconds S] [--clients N] [--seed N] [--timeout-ms MS] [--grace-ms MS] [--verbose]"

func parseOptions(_ args: [String]) -> TortureOptions? {
    var o = TortureOptions()
    var a = args[...]
    while let k = a.popFirst() {
        if k == "--verbose" { o.verbose = true; continue }
        guard let v = a.popFirst() else { return nil }
        switch k {
        case "--seconds": guard let s = Double(v), s.isFinite, s > 0, s <= 86_400 else { return nil }; o.seconds = s
        case "--clients": guard let n = Int(v), (1...64).contains(n) else { return nil }; o.clients = n
        case "--seed": guard let n = UInt64(v) else { return nil }; o.seed = n
        case "--timeout-ms": guard let n = Int(v), (1...60_000).contains(n) else { return nil }; o.timeoutMS = n
        case "--grace-ms": guard let n = Int(v), (0...60_000).contains(n) else { return nil }; o.graceMS = n
        default: return nil
        }
    }
    return o
}

let argv = Array(CommandLine.arguments.dropFirst())
if argv.first == "client" {
    // client NAME ID TIMEOUT_MS GRACE_MS COUNTERS_FILE (started by the driver)
    guard argv.count == 6, let id = Int(argv[2]), let t = Int(argv[3]), let g = Int(argv[4]) else { exit(2) }
    runClient(service: argv[1], id: id, timeoutMS: t, graceMS: g, countersPath: argv[5])
}
guard let options = parseOptions(argv) else {
    printErrorLine(usage)
    exit(2)
}
signal(SIGPIPE, SIG_IGN)
printLine("torture: \(options.clients) clients, \(Int(options.seconds)) s, seed \(options.seed), "
         + "call deadline \(options.timeoutMS) ms + \(options.graceMS) ms grace")
let figures = Torture(options).run()
figures.lines().forEach(printLine)
exit(figures.passed ? 0 : 1)
