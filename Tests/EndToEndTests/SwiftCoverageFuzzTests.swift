// The coverage-guided fuzz targets of the Swift parsers (ipcscope-libfuzz, fuzz/swift/), as the
// suite's guard: every input of each target's committed corpus (fuzz/corpus/swift-TARGET) and every
// crash kept from a fuzzing run (fuzz/crashes/swift-TARGET) runs once through the target, in the
// plain build (its replay main; no sanitizer, which would need a second instrumented build of every
// module): a trap, a crash or a hang fails the test.
//
// Fuzzing itself is `make fuzz` (fuzz/swift/run.sh); see "Coverage-guided fuzzing" in docs/reliability.md.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import TestSupport

@Suite("Coverage-guided fuzzing: the Swift parsers' corpus and kept crashes", .serialized)
struct SwiftCoverageFuzzTests {
    static let targets = ["section", "pcapng", "schema", "syntax", "agent"]

    /// The regular files of a folder of the repository (none when it does not exist).
    static func inputs(_ folder: String) -> [String] {
        let dir = repositoryRoot + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter {
            var isDir: ObjCBool = false
            return FileManager.default.fileExists(atPath: dir + "/" + $0, isDirectory: &isDir) && !isDir.boolValue
        }
    }

    @Test("the binary lists exactly the targets this suite replays")
    func targetsListed() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let run = scope.run(productPath("ipcscope-libfuzz"), ["--list"], timeout: 30)
        #expect(run.exitStatus == 0, "\(run.stderr)")
        #expect(run.stdout.split(separator: "\n").map(String.init) == Self.targets, "\(run.stdout)")
    }

    @Test("the committed corpus is there: seeds of each target, under 100 KB a target", arguments: targets)
    func corpusPresent(_ target: String) {
        let seeds = Self.inputs("fuzz/corpus/swift-" + target)
        #expect(seeds.count >= 4, "\(target): \(seeds)")
        let bytes = seeds.reduce(0) { total, name in
            var st = stat()
            return total + (stat(repositoryRoot + "/fuzz/corpus/swift-\(target)/" + name, &st) == 0 ? Int(st.st_size) : 0)
        }
        #expect(bytes <= 100 * 1024, "\(target): \(bytes) bytes")
    }

    @Test("every corpus input and kept crash runs through the target without a trap", arguments: targets)
    func replay(_ target: String) {
        let scope = TestScope()
        defer { scope.cleanup() }
        let corpus = repositoryRoot + "/fuzz/corpus/swift-" + target, crashes = repositoryRoot + "/fuzz/crashes/swift-" + target
        let count = Self.inputs("fuzz/corpus/swift-" + target).count + Self.inputs("fuzz/crashes/swift-" + target).count
        let run = scope.run(productPath("ipcscope-libfuzz"), [target, corpus, crashes], timeout: 60,
                            environment: ["SWIFT_BACKTRACE": "enable=no"])
        #expect(run.exitStatus == 0, "\(target): exit \(String(describing: run.exitStatus))\n\(run.stdout)\(run.stderr.suffix(3000))")
        #expect(run.stdout.contains("\(target): \(count) inputs replayed, no crash"), "\(run.stdout)\(run.stderr.suffix(3000))")
        // The section target plants each image as /dev/shm/ipcscope.sfuzz-PID and removes it at exit.
        let planted = "/dev/shm/ipcscope.sfuzz-\(run.pid)"
        #expect(access(planted, F_OK) != 0, "the section target left \(planted) behind")
        unlink(planted)
    }
}
