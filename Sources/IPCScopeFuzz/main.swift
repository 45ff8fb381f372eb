// ipcscope-fuzz: a seeded fuzzer over every decoder in ipcscope. See docs/reliability.md.
//
//   ipcscope-fuzz [--target NAME|all] [--cases N] [--live-cases N] [--seed N] [--corpus DIR]
//                 [--hang-seconds S] [--report FILE] [--verbose]
//   ipcscope-fuzz --replay --target NAME [--hang-seconds S] FILE...   run stored inputs in this process
//   ipcscope-fuzz --list                            the targets
//
// Exit status: 0 when no input crashed or hung, 1 when some did (they are kept in the corpus),
// 2 on a usage error.
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

let usage = """
    usage: ipcscope-fuzz [--target NAME|all] [--cases N] [--live-cases N] [--seed N] [--corpus DIR]
                         [--hang-seconds S] [--report FILE] [--verbose]
           ipcscope-fuzz --replay --target NAME [--hang-seconds S] FILE...
           ipcscope-fuzz --list
    targets: \(FuzzTarget.all.map(\.name).joined(separator: ", "))
    --cases: cases per target (default 10000); --live-cases: for the targets that start processes or
    write /dev/shm (shm, duration; default: --cases); --corpus: where crashing inputs are kept
    (default: Tests/Fuzz/corpus of the package); --hang-seconds: a case running longer is a hang (10);
    --report: also write one line per distinct finding: target, kind, message, kept file (tab-separated).
    """

func fail(_ s: String) -> Never {
    printErrorLine("ipcscope-fuzz: " + s)
    printErrorLine(usage)
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
var options: [String: String] = [:]
var flags = Set<String>()
var files: [String] = []
let valued: Set = ["--target", "--cases", "--live-cases", "--seed", "--corpus", "--hang-seconds",
                   "--child", "--from", "--to", "--slot", "--report"]
while !args.isEmpty {
    let a = args.removeFirst()
    if valued.contains(a) {
        guard !args.isEmpty else { fail("\(a) needs a value") }
        options[a] = args.removeFirst()
    } else if a.hasPrefix("--") {
        guard ["--replay", "--list", "--verbose", "--help"].contains(a) else { fail("unknown option \(a)") }
        flags.insert(a)
    } else {
        files.append(a)
    }
}

func number(_ options: [String: String], _ key: String, _ def: UInt64) -> UInt64 {
    guard let s = options[key] else { return def }
    guard let v = UInt64(s) else { fail("\(key) must be a whole number, not '\(s)'") }
    return v
}

if flags.contains("--help") { printLine(usage); exit(0) }
if flags.contains("--list") { FuzzTarget.all.forEach { printLine($0.name) }; exit(0) }

if let child = options["--child"] {
    guard let t = FuzzTarget.named(child), let slot = options["--slot"] else { exit(2) }
    exit(runCases(target: t, seed: number(options, "--seed", 0), from: number(options, "--from", 0), to: number(options, "--to", 0), slotPath: slot))
}

if flags.contains("--replay") {
    guard let name = options["--target"], let t = FuzzTarget.named(name) else { fail("--replay needs --target NAME") }
    // a hang ends in SIGALRM, so the caller sees it as a signal
    guard let hang = UInt32(options["--hang-seconds"] ?? "10"), hang > 0 else { fail("--hang-seconds must be a whole number of seconds above 0") }
    alarm(hang)
    exit(replay(target: t, files: files))
}

let targetName = options["--target"] ?? "all"
let targets = targetName == "all" ? FuzzTarget.all : targetName.split(separator: ",").map { n in
    guard let t = FuzzTarget.named(String(n)) else { fail("no target '\(n)'") }
    return t
}
let cases = number(options, "--cases", 10_000)
let liveCases = number(options, "--live-cases", cases)
let seed = number(options, "--seed", UInt64(time(nil)))
guard let hang = Double(options["--hang-seconds"] ?? "10"), hang.isFinite, hang > 0, hang < 86_400 else {
    fail("--hang-seconds must be a number of seconds above 0")
}
guard let corpus = options["--corpus"] ?? packageRoot().map({ $0 + "/Tests/Fuzz/corpus" }) else {
    fail("cannot find the package root; give --corpus DIR")
}
let supervisor = Supervisor(seed: seed, corpus: corpus, hangSeconds: hang, verbose: flags.contains("--verbose"))
printLine("seed \(seed), corpus \(corpus)")
var found = 0
var report = ""
for t in targets {
    let n = ["shm", "duration"].contains(t.name) ? liveCases : cases
    let r = supervisor.run(t, cases: n)
    found += r.crashes + r.hangs
    let rate = r.seconds > 0 ? Int(Double(r.cases) / r.seconds) : 0
    printLine("\(r.target): \(r.cases) cases in \(secondsText(r.seconds)) (\(rate)/s), "
             + "\(r.crashes) crashes, \(r.hangs) hangs, \(r.findings.count) distinct kept")
    for f in r.findings {
        report += [f.target, f.kind, f.message, f.file].joined(separator: "\t") + "\n"
        printLine("  \(f.kind) case \(f.caseIndex) \(f.message.isEmpty ? "" : "(\(f.message)) ")\(f.file)"
                 + (f.site.isEmpty ? "" : " frames \(f.site)"))
    }
}
if let path = options["--report"], !writeFile(path, Array(report.utf8)) { printErrorLine("cannot write --report \(path)") }
exit(found == 0 ? 0 : 1)
