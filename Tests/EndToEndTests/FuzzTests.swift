// The fuzzer, run as the suite's guard: a bounded seeded run over every target, every kept
// input replayed, and the harness itself shown to keep a trap and a hang.
//
// Long mode: `swift build && .build/debug/ipcscope-fuzz --target all --cases 1000000 --seed N`,
// or set IPCSCOPE_FUZZ_CASES, IPCSCOPE_FUZZ_LIVE_CASES (shm, duration) and IPCSCOPE_FUZZ_SEED for this suite.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

/// Tests/Fuzz/corpus of this package.
private let corpusDirectory = repositoryRoot + "/Tests/Fuzz/corpus"

/// Corpus inputs that still crash until the fixes that make them pass are merged: one
/// `target/file<TAB>message<TAB>where` a line. A known input that passes fails its test with "Known issue
/// was not recorded": delete its line then.
private let knownCrashes: [(file: String, message: String)] = {
    let text = (try? String(contentsOfFile: corpusDirectory + "/KNOWN_CRASHES", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { line in
        let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard !line.hasPrefix("#"), columns.count >= 2 else { return nil }
        return (String(columns[0]), String(columns[1]))
    }
}()

/// Every `target/file` in the corpus.
private let corpusFiles: [String] = {
    let fm = FileManager.default
    let targets = ((try? fm.contentsOfDirectory(atPath: corpusDirectory)) ?? []).filter {
        var dir: ObjCBool = false
        return fm.fileExists(atPath: corpusDirectory + "/" + $0, isDirectory: &dir) && dir.boolValue
    }
    return targets.sorted().flatMap { t in
        ((try? fm.contentsOfDirectory(atPath: corpusDirectory + "/" + t)) ?? []).sorted().map { t + "/" + $0 }
    }
}()

/// Ends a replayed trap in its signal, not in Swift's backtracer (slow, and under AddressSanitizer
/// the backtracer's own memory reads are reported as a stack-buffer-underflow).
private let quietTraps = ["SWIFT_BACKTRACE": "enable=no"]

/// Strips the numbers from a trap message (line numbers and values vary, the kind does not).
private func shape(_ message: String) -> String { message.filter { !$0.isNumber } }

/// Removes what a replay that died leaves: its sections and its scratch directory.
private func removeLeftovers(of pid: pid_t) {
    let fm = FileManager.default
    for n in (try? fm.contentsOfDirectory(atPath: "/dev/shm")) ?? [] where n.hasPrefix("ipcscope.fuzz-\(pid)-") {
        unlink("/dev/shm/" + n)
    }
    try? fm.removeItem(atPath: "/tmp/ipcscope-fuzz-\(pid)")
}

@Suite("Fuzzing", .serialized)
struct FuzzTests {
    var fuzz: String { productPath("ipcscope-fuzz") }

    @Test("a bounded seeded run over every decoder finds no crash or hang beyond the known ones")
    func boundedRun() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let env = ProcessInfo.processInfo.environment
        let cases = env["IPCSCOPE_FUZZ_CASES"] ?? "150"
        let live = env["IPCSCOPE_FUZZ_LIVE_CASES"] ?? "12"      // each duration case starts a process
        let seed = env["IPCSCOPE_FUZZ_SEED"] ?? "20261126"
        let report = scope.directory + "/report.tsv"
        let args = ["--target", "all", "--cases", cases, "--live-cases", live, "--seed", seed,
                    "--corpus", corpusDirectory, "--report", report]
        let run = scope.run(fuzz, args, timeout: 600)
        #expect(run.exitSignal == nil, "the fuzzer itself died: \(run.stderr)")
        #expect(run.stdout.contains("section: \(cases) cases"), "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("duration: \(live) cases"), "\(run.stdout)\(run.stderr)")
        let findings = readFile(report).split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        for f in findings where f.count == 4 {
            let (target, kind, message, file) = (String(f[0]), String(f[1]), String(f[2]), String(f[3]))
            let relative = target + "/" + (file.split(separator: "/").last.map(String.init) ?? "")
            let known = knownCrashes.contains { k in
                k.file == relative || (k.file.hasPrefix(target + "/") && !message.isEmpty && shape(k.message) == shape(message))
            }
            let text = "\(kind) in \(target): \(message) — input kept in \(file); reproduce with "
                + "ipcscope-fuzz --target \(target) --seed \(seed) --cases \(cases)"
            if known {
                withKnownIssue { Issue.record(Comment(rawValue: text)) }
            } else {
                Issue.record(Comment(rawValue: text))
            }
        }
    }

    @Test("every kept input replays without a trap", arguments: corpusFiles)
    func replay(_ file: String) throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let target = String(file.split(separator: "/")[0])
        let check = {
            let run = scope.run(self.fuzz, ["--replay", "--target", target, "--hang-seconds", "5",
                                            corpusDirectory + "/" + file], timeout: 60, environment: quietTraps)
            removeLeftovers(of: run.pid)
            #expect(run.exitSignal == nil && run.exitStatus == 0,
                    "\(file): \(run.exitSignal.map { "signal \($0)" } ?? "exit \(run.exitStatus.map(String.init) ?? "none (hung)")") \(run.stderr.suffix(400))")
        }
        if knownCrashes.contains(where: { $0.file == file }) {
            withKnownIssue("crashes until the fix is merged", check)
        } else {
            check()
        }
    }

    @Test("the harness keeps an input that traps and one that hangs, and replays the trap")
    func harnessKeepsTrapsAndHangs() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let corpus = scope.directory + "/corpus", report = scope.directory + "/report.tsv"
        let run = scope.run(fuzz, ["--target", "selftest", "--cases", "40", "--seed", "7", "--corpus", corpus,
                                   "--report", report, "--hang-seconds", "1"], timeout: 120)
        #expect(run.exitStatus == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("selftest: 40 cases"), "every case ran, after the trap and the hang too")
        let lines = readFile(report).split(separator: "\n")
        let trap = try #require(lines.first { $0.contains("selftest trap on input") }, "\(run.stdout)")
        #expect(lines.contains { $0.hasPrefix("selftest\thang\t") }, "\(run.stdout)")
        let kept = String(try #require(trap.split(separator: "\t").last))
        let input = try #require(FileManager.default.contents(atPath: kept))
        #expect(input.first == 0)
        let again = scope.run(fuzz, ["--replay", "--target", "selftest", kept], timeout: 30,
                              environment: quietTraps)
        #expect(again.exitSignal != nil, "replaying the kept input traps again")
        #expect(again.stderr.contains("selftest trap"))
        removeLeftovers(of: again.pid)
    }
}
