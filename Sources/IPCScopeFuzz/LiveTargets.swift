// Targets that go through real objects and real processes: a mutated section written to
// /dev/shm and opened by every reader, the client and a taking-over server; and the CLI's
// duration options given to the built `ipcscope` binary.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeProcess
import IPCScopePOSIX

// MARK: - section objects in /dev/shm

extension FuzzTarget {
    static let shm = FuzzTarget(name: "shm", generate: { rng, ctx in
        // mostly the size the header claims, so the server's takeover gets past the size check
        var image = section.generate(&rng, ctx)
        if !rng.oneIn(4), let id = SectionIdentity(bytes: image), id.sectionSize < 1 << 20 {
            let n = Int(id.sectionSize)
            if image.count > n { image.removeLast(image.count - n) } else { image += [UInt8](repeating: 0, count: n - image.count) }
        }
        // the last byte picks the order (see run): half the cases meet the server first
        if !image.isEmpty { image[image.count - 1] = (image[image.count - 1] & 0xfe) | UInt8(rng.below(2)) }
        return image
    }, run: { input, ctx in
        let name = ctx.serviceName()
        let path = "/dev/shm/ipcscope." + name
        guard writeFile(path, input) else { return }
        chmod(path, 0o600)
        defer { unlink(path) }
        // half the inputs meet the server first, so a trap in a reader does not hide one in the takeover
        let serverFirst = (input.last ?? 0) & 1 == 1
        if serverFirst { takeOverAndCall(name, input) }
        _ = SectionDirectory.entry(name)                                   // list, clean, status
        if let reader = try? SectionReader(service: name), let snap = try? reader.snapshot() {
            _ = StatusReport(snap).text()
        }
        if let follower = try? TraceFollower(service: name) {              // watch --from-start
            if (try? follower.start(fromStart: true)) != nil {
                _ = try? follower.poll()
                _ = try? follower.poll()
            }
        }
        _ = try? Client(service: name)                                     // the library's client
        if !serverFirst { takeOverAndCall(name, input) }                   // serve on a stale section
    })

    /// Takes the stale section over with a server of the same layout and makes two calls to it.
    static func takeOverAndCall(_ name: String, _ image: [UInt8]) {
        var o = ServerOptions()
        if let id = SectionIdentity(bytes: image) {
            o.requestCapacity = Int(id.requestCapacity)
            o.responseCapacity = Int(id.responseCapacity)
            o.traceCapacity = Int(id.traceCapacity)
        }
        guard let server = try? Server(service: name, options: o) else { return }
        let thread = BackgroundThread { server.run(simple: { _, p in (0, p) }) }
        if let client = try? Client(service: name) {
            for i in 0..<2 { _ = try? client.call(function: 1, payload: Array("take \(i)".utf8), timeout: .milliseconds(300)) }
        }
        server.stop()
        thread.join()
        server.shutdown()
    }
}

// MARK: - the CLI's duration options

/// The options that take seconds or milliseconds, each with arguments that make the command
/// end at once whatever the value (one call, a ring that already holds a record).
private let durationOptions: [(verb: String, option: String)] = [
    ("call", "--timeout"), ("watch", "--timeout"), ("watch", "--interval"),
    ("bench", "--timeout"), ("bench", "--duration"),
]

extension FuzzTarget {
    static let duration = FuzzTarget(name: "duration", generate: { rng, _ in
        let (verb, option) = rng.pick(durationOptions)
        let value = rng.oneIn(3) ? String(decoding: Mutate.text(rng.pick(Interesting.numbers), others: Interesting.numbers,
                                                                 rng: &rng), as: UTF8.self)
                                 : rng.pick(Interesting.numbers)
        return Array("\(verb) \(option)\n\(value)".utf8)
    }, run: { input, ctx in
        let lines = String(decoding: input, as: UTF8.self).split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard lines.count == 2 else { return }
        let words = lines[0].split(separator: " ").map(String.init)
        guard words.count == 2 else { return }
        let (verb, option, value) = (words[0], words[1], String(lines[1]))
        guard let echo = ctx.echoService, let silent = ctx.silentService else { return }
        var args: [String]
        switch verb {
        case "call": args = ["call", echo, "--text", "x", option, value]
        case "watch": args = ["watch", echo, "--from-start", "--limit", "1", option, value]
        case "bench" where option == "--duration":
            args = ["bench", silent, "--timeout", "0.05", "--threads", "1", option, value]
        case "bench": args = ["bench", echo, "--count", "1", "--threads", "1", option, value]
        default: return
        }
        runCLI(args)
    })

    /// Runs the `ipcscope` binary; when it dies by a signal, this process dies by the same one
    /// (after copying its stderr), so the supervisor keeps the input.
    static func runCLI(_ args: [String]) {
        let err = "/tmp/ipcscope-fuzz-\(getpid())/cli.err"
        let launch = Launch(ownExecutableDirectory + "/ipcscope", args, standardError: .file(err, append: false), fileMode: 0o600)
        // No deadline here: the supervisor kills a child that stops making progress.
        guard let cli = try? StartedProcess.start(launch), case .signaled(let sig) = cli.wait(timeout: .infinity) else { return }
        // the command line first, the trap's own line last (the supervisor reports the last one)
        let fatal = (readTextFile(err) ?? "").split(separator: "\n").last { $0.contains("Fatal error") || $0.contains("Assertion") }
        let note = "ipcscope \(args.joined(separator: " ")) died by signal \(sig)\n"
            + "ipcscope \(args[0]) \(args[args.count - 2]): \(fatal.map(String.init) ?? "died by signal \(sig)")\n"
        _ = note.withCString { write(2, $0, strlen($0)) }
        signal(sig, SIG_DFL)
        raise(sig)
    }
}
