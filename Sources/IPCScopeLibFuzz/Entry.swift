// `ipcscope-libfuzz`: the Swift parsers' coverage-guided fuzz targets (Targets.swift).
//
//   ipcscope-libfuzz TARGET [FILE|DIR...]        plain build: run each input once (the regression replay)
//   ipcscope-libfuzz TARGET [libFuzzer flags] [CORPUS...]   LIBFUZZER build: libFuzzer's driver
//   ipcscope-libfuzz --seeds DIR                 write the seed corpus into DIR/swift-TARGET/
//   ipcscope-libfuzz --list                      the targets
//
// fuzz/swift/build.sh builds it with -sanitize=fuzzer,address -D LIBFUZZER; `swift build` builds the
// replay. The LIBFUZZER build passes libFuzzer everything after TARGET, and names the target to its
// child processes (-fork, -merge) in IPCSCOPE_LIBFUZZ_TARGET.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScopeLibFuzz
import IPCScopePOSIX

/// The target libFuzzer's callback runs (set once, before the driver starts).
nonisolated(unsafe) var selectedTarget: LibFuzzTarget?

/// libFuzzer's entry: one input through the selected target.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let target = selectedTarget else { return 0 }
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    target.run(bytes)
    return 0
}

@main
struct LibFuzzMain {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        let names = LibFuzzTarget.all.map(\.name).joined(separator: ", ")
        if args.first == "--list" {
            for t in LibFuzzTarget.all { printOut(t.name + "\n") }
            exit(0)
        }
        if args.first == "--seeds" {
            guard args.count == 2 else { fail("--seeds takes one folder: ipcscope-libfuzz --seeds fuzz/corpus") }
            do {
                let n = try Seeds.write(into: args[1])
                printOut("wrote \(n) seeds into \(args[1])/swift-{\(names)}\n")
                exit(0)
            } catch { fail("could not make the seeds: \(error)") }
        }
        var targetName = getenv("IPCSCOPE_LIBFUZZ_TARGET").map { String(cString: $0) }
        if let first = args.first, !first.hasPrefix("-") {
            targetName = first
            args.removeFirst()
        }
        guard let name = targetName else {
            fail("name a target (\(names)): ipcscope-libfuzz TARGET [FILE|DIR...]")
        }
        guard let target = LibFuzzTarget.named(name) else { fail("no target '\(name)'; the targets are: \(names)") }
        selectedTarget = target
        atexit { removePlanted() }
        #if LIBFUZZER
        setenv("IPCSCOPE_LIBFUZZ_TARGET", name, 1)
        var argv: [UnsafeMutablePointer<CChar>?] = ([CommandLine.arguments[0]] + args).map { strdup($0) } + [nil]
        var argc = Int32(argv.count - 1)
        let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var base = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &base) { data, size in fuzzerTestOneInput(data, size) }
        }
        exit(status)
        #else
        replay(target, paths: args)
        #endif
    }

    /// Runs every file named, and every regular file in each folder named, through `target` once.
    static func replay(_ target: LibFuzzTarget, paths: [String]) {
        var count = 0
        for path in paths {
            var files: [String] = []
            if let dir = opendir(path) {
                while let entry = readdir(dir) {
                    let n = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if n != "." && n != ".." { files.append(path + "/" + n) }
                }
                closedir(dir)
                files.sort()
            } else {
                files = [path]
            }
            for file in files {
                var st = stat()
                guard stat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
                guard let bytes = readFileContents(file) else { fail("cannot read \(file): \(String(cString: strerror(errno)))") }
                target.run(bytes)
                count += 1
            }
        }
        printOut("\(target.name): \(count) inputs replayed, no crash\n")
        exit(0)
    }

    static func fail(_ message: String) -> Never {
        printErrorLine("ipcscope-libfuzz: " + message)
        exit(64)
    }
}
