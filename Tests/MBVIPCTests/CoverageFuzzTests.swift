// The coverage-guided fuzz targets of the C library (fuzz/, libFuzzer), as the suite's guard:
// each target is built with AddressSanitizer and UndefinedBehaviorSanitizer (and libFuzzer when
// clang has its runtime; else with fuzz/replay_main.c), and every input of its committed corpus
// (fuzz/corpus/TARGET) and every crash kept from a fuzzing run (fuzz/crashes/TARGET) runs through
// it once: a crash, an abort, a leak or a sanitizer report fails the test.
//
// Fuzzing itself is `make fuzz` (fuzz/run.sh); see "Coverage-guided fuzzing" in docs/reliability.md.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("Coverage-guided fuzzing: the C library's corpus and kept crashes", .serialized)
struct CoverageFuzzTests {
    static let repoRoot = repositoryRoot

    static let targets = ["client_connect", "server_takeover", "nt_helpers", "agent_frames"]

    /// The regular files of a folder of the repository (none when it does not exist).
    static func inputs(_ folder: String) -> [String] {
        let dir = repoRoot + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    @Test("the committed corpus is there: the seeds of each target, under 100 KB a target", arguments: targets)
    func corpusPresent(_ target: String) throws {
        let seeds = Self.inputs("fuzz/corpus/" + target)
        #expect(seeds.count >= 10, "\(target): \(seeds)")
        let bytes = seeds.reduce(0) { total, name in
            var st = stat()
            return total + (stat(Self.repoRoot + "/fuzz/corpus/\(target)/" + name, &st) == 0 ? Int(st.st_size) : 0)
        }
        #expect(bytes <= 100 * 1024, "\(target): \(bytes) bytes")
    }

    @Test("every corpus input and kept crash runs through the target without a crash or sanitizer report",
          arguments: targets)
    func replay(_ target: String) throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let count = Self.inputs("fuzz/corpus/" + target).count + Self.inputs("fuzz/crashes/" + target).count
        let run = scope.run("/bin/bash", [Self.repoRoot + "/fuzz/run.sh", "--replay", target], timeout: 240,
                            environment: ["FUZZ_OUT": scope.directory + "/out"])
        let log = readFile(scope.directory + "/out/\(target).replay.log")
        #expect(run.exitStatus == 0, "\(target): \(run.stdout)\(run.stderr)\n\(log.suffix(3000))")
        #expect(run.stdout.contains("\(target): \(count) inputs replayed, no crash"), "\(run.stdout)\(run.stderr)")
        for report in ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "deadly signal"] {
            #expect(!log.contains(report), "\(target): \(report)\n\(log.suffix(3000))")
        }
        // A crashed input leaves its /dev/shm object behind; run.sh removes those of dead processes.
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter {
            $0.hasPrefix("ipcscope.cfuzz-") && kill(pid_t($0.split(separator: "-").last.map(String.init) ?? "") ?? 0, 0) != 0
        }
        #expect(left.isEmpty, "left in /dev/shm: \(left)")
    }
}
