// ipcscope-fuzz: a seeded fuzzer over every decoder in ipcscope. See docs/reliability.md.
//
//   ipcscope-fuzz [--target NAME|all] [--cases N] [--live-cases N] [--seed N] [--corpus DIR]
//                 [--hang-seconds S] [--report FILE] [--verbose]
//   ipcscope-fuzz --replay --target NAME [--hang-seconds S] FILE...   run stored inputs in this process
//   ipcscope-fuzz --list                            the targets
//
// Exit status: 0 when no input crashed or hung, 1 when some did (they are kept in the corpus),
// 64 on a usage error. The supervisor runs cases in a child process started with the hidden
// options `--child NAME --seed N --from N --to N --slot FILE` (exit 2 when they are malformed).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import IPCScopePOSIX

@main
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ipcscope-fuzz",
        abstract: "A seeded fuzzer over every decoder in ipcscope.",
        discussion: """
            targets: \(FuzzTarget.all.map(\.name).joined(separator: ", ")). Crashing and hanging inputs \
            are kept in the corpus; exit 0 when none crashed or hung, 1 when some did. See \
            docs/reliability.md.
            """)

    @Option(parsing: .unconditional, help: ArgumentHelp("A target, a comma-separated list, or all.", valueName: "name"))
    var target: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Cases per target (default 10000).", valueName: "n"))
    var cases: String?
    @Option(name: .customLong("live-cases"), parsing: .unconditional,
            help: ArgumentHelp("Cases for the targets that start processes or write /dev/shm (shm, duration; default: --cases).",
                               valueName: "n"))
    var liveCases: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("The seed (default: the time).", valueName: "n"))
    var seed: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Where crashing inputs are kept (default: Tests/Fuzz/corpus of the package).", valueName: "dir"))
    var corpus: String?
    @Option(name: .customLong("hang-seconds"), parsing: .unconditional, help: ArgumentHelp("A case running longer is a hang (default 10).", valueName: "s"))
    var hangSeconds: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Also write one line per distinct finding: target, kind, message, kept file (tab-separated).",
                               valueName: "file"))
    var report: String?
    @Flag(help: "Print every case.")
    var verbose = false
    @Flag(help: "Run the stored inputs FILE... of --target in this process.")
    var replay = false
    @Flag(help: "Print the targets.")
    var list = false
    @Argument(help: ArgumentHelp("Stored inputs (with --replay).", valueName: "file"))
    var files: [String] = []

    // The supervisor's child process (Supervisor.swift): one range of cases of one target.
    @Option(parsing: .unconditional, help: .hidden) var child: String?
    @Option(parsing: .unconditional, help: .hidden) var from: String?
    @Option(parsing: .unconditional, help: .hidden) var to: String?
    @Option(parsing: .unconditional, help: .hidden) var slot: String?

    func number(_ key: String, _ value: String?, _ def: UInt64) throws -> UInt64 {
        guard let s = value else { return def }
        guard let v = UInt64(s) else { throw ValidationError("\(key) must be a whole number, not '\(s)'") }
        return v
    }

    func run() throws {
        if list { FuzzTarget.all.forEach { printLine($0.name) }; return }

        if let child {
            guard let t = FuzzTarget.named(child), let slot,
                  let seed = UInt64(seed ?? "0"), let from = UInt64(from ?? "0"), let to = UInt64(to ?? "0") else { Glibc.exit(2) }
            Glibc.exit(runCases(target: t, seed: seed, from: from, to: to, slotPath: slot))
        }

        if replay {
            guard let name = target, let t = FuzzTarget.named(name) else { throw ValidationError("--replay needs --target NAME") }
            // a hang ends in SIGALRM, so the caller sees it as a signal
            guard let hang = UInt32(hangSeconds ?? "10"), hang > 0 else {
                throw ValidationError("--hang-seconds must be a whole number of seconds above 0")
            }
            alarm(hang)
            Glibc.exit(IPCScopeFuzz.replay(target: t, files: files))
        }

        let targetName = target ?? "all"
        let targets = try targetName == "all" ? FuzzTarget.all : targetName.split(separator: ",").map { n in
            guard let t = FuzzTarget.named(String(n)) else { throw ValidationError("no target '\(n)'") }
            return t
        }
        let cases = try number("--cases", cases, 10_000)
        let liveCases = try number("--live-cases", liveCases, cases)
        let seed = try number("--seed", seed, UInt64(time(nil)))
        guard let hang = Double(hangSeconds ?? "10"), hang.isFinite, hang > 0, hang < 86_400 else {
            throw ValidationError("--hang-seconds must be a number of seconds above 0")
        }
        guard let corpus = corpus ?? packageRoot().map({ $0 + "/Tests/Fuzz/corpus" }) else {
            throw ValidationError("cannot find the package root; give --corpus DIR")
        }
        let supervisor = Supervisor(seed: seed, corpus: corpus, hangSeconds: hang, verbose: verbose)
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
        if let path = self.report, !writeFile(path, Array(report.utf8)) { printErrorLine("cannot write --report \(path)") }
        Glibc.exit(found == 0 ? 0 : 1)
    }
}

