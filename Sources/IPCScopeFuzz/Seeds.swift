// What the targets mutate: real section images, real scripts, real filter and payload texts.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeProcess
import IPCScopePOSIX

/// Seeds and scratch space shared by the cases of one fuzzing process.
final class FuzzContext {
    /// A prefix for the service names this process creates (the supervisor removes leftovers by it).
    let namePrefix = "fuzz-\(getpid())"
    /// A scratch directory for scripts' `file:` replies (a regular file and a FIFO).
    let scratch: String
    private var counter = 0

    init() {
        scratch = "/tmp/ipcscope-fuzz-\(getpid())"
        mkdir(scratch, 0o700)
        _ = writeFile(scratch + "/reply.bin", Array("a reply from a file\n".utf8))
        mkfifo(scratch + "/fifo", 0o600)
    }

    private var servers: [(Server, BackgroundThread?)] = []

    /// A live echo service whose trace ring holds one record (for the CLI's duration options).
    lazy var echoService: String? = {
        let name = serviceName()
        guard let server = try? Server(service: name) else { return nil }
        let thread = BackgroundThread { server.run(simple: { _, p in (0, p) }) }
        servers.append((server, thread))
        _ = try? Client(service: name).call(function: 1, payload: Array("first".utf8), timeout: .seconds(2))
        return name
    }()

    /// A live service that never answers (its server holds the section but does not serve).
    lazy var silentService: String? = {
        let name = serviceName()
        guard let server = try? Server(service: name) else { return nil }
        servers.append((server, nil))
        return name
    }()

    /// Stops the servers and removes the scratch directory.
    func cleanup() {
        for (server, thread) in servers {
            server.stop()
            thread?.join()
            server.shutdown()
        }
        servers = []
        unlink(scratch + "/cli.err")
        for f in ["reply.bin", "fifo"] { unlink(scratch + "/" + f) }
        rmdir(scratch)
    }

    /// A fresh service name.
    func serviceName() -> String {
        counter += 1
        return "\(namePrefix)-\(counter)"
    }

    /// Images of real sections written by a real server after some traced calls: a small layout
    /// (cheap to mutate and render) and the default one.
    lazy var sectionImages: [[UInt8]] = {
        var images: [[UInt8]] = []
        for (req, rsp, trace, calls) in [(64, 64, 8, 11), (256, 128, 16, 40), (4096, 4096, 256, 3)] {
            var o = ServerOptions()
            o.requestCapacity = req
            o.responseCapacity = rsp
            o.traceCapacity = trace
            if let image = liveImage(options: o, calls: calls) { images.append(image) }
        }
        return images
    }()

    /// Serves `calls` echo calls on a fresh section and copies its bytes.
    private func liveImage(options: ServerOptions, calls: Int) -> [UInt8]? {
        let name = serviceName()
        guard let server = try? Server(service: name, options: options) else { return nil }
        let thread = BackgroundThread { server.run(simple: { f, p in (Int32(bitPattern: f) - 1, p) }) }
        defer { server.stop(); thread.join(); server.shutdown() }
        guard let client = try? Client(service: name) else { return nil }
        for i in 0..<calls {
            _ = try? client.call(function: UInt32(i % 4), payload: Array("call \(i) payload".utf8), timeout: .seconds(2))
        }
        return readFileContents("/dev/shm/ipcscope." + name)
    }

    /// Scripts from docs/scripts.md and demo/scripts, found from the package root.
    lazy var scripts: [String] = {
        var out: [String] = []
        guard let root = packageRoot() else { return builtinScripts }
        if let md = readTextFile(root + "/docs/scripts.md") {
            var block: [Substring] = [], inside = false
            for line in md.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("```yaml") { inside = true; block = []; continue }
                if inside && line.hasPrefix("```") { inside = false; out.append(block.joined(separator: "\n")); continue }
                if inside { block.append(line) }
            }
        }
        for f in ["inventory-mock.yaml", "replies.yaml", "slow-service.yaml"] {
            if let t = readTextFile(root + "/demo/scripts/" + f) { out.append(t) }
        }
        return out.isEmpty ? builtinScripts : out
    }()

    private let builtinScripts = [
        "rules:\n  - match: {function: 1}\n    reply: {text: \"hi\\n\", status: 0}\n  - reply: {status: 1}\n",
        "rules:\n  - match: {regex: \"^a+$\"}\n    reply: {hex: \"00 ff\"}\n    delay_ms: 1\n",
    ]
}

/// Fixed-width little-endian reads for decoding inputs.
extension Array where Element == UInt8 {
    func u64(at i: Int) -> UInt64 {
        guard i >= 0, i + 8 <= count else { return 0 }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(self[i + k]) << (8 * UInt64(k)) }
        return v
    }
}

/// The directory that holds Package.swift, found upward from this executable or the working directory.
func packageRoot() -> String? {
    for start in [ownExecutablePath, currentDirectory()] {
        var dir = start
        while !dir.isEmpty && dir != "/" {
            if access(dir + "/Package.swift", F_OK) == 0 && access(dir + "/Sources/IPCScopeFuzz", F_OK) == 0 { return dir }
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        }
    }
    return nil
}

/// Writes `bytes` to `path` (created 0644, truncated); whether it all got written.
func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count
}

/// A pthread running one closure; `join()` waits for it.
final class BackgroundThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: () -> Void
    private var started = false

    init(_ body: @escaping () -> Void) {
        self.body = body
        let me = Unmanaged.passRetained(self).toOpaque()
        started = pthread_create(&thread, nil, { arg in
            let t = Unmanaged<BackgroundThread>.fromOpaque(arg!).takeRetainedValue()
            t.body()
            return nil
        }, me) == 0
        if !started { Unmanaged<BackgroundThread>.fromOpaque(me).release(); body() }
    }

    func join() { if started { pthread_join(thread, nil); started = false } }
}
