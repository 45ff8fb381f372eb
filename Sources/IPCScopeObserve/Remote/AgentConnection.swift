// A connection to an mbvipc-agent through any byte-stream transport (a command whose stdin and
// stdout reach the agent): ssh, docker exec, wine, or the agent itself.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import IPCScopePOSIX
import IPCScopeProcess

/// How to reach an agent: a command to start, and how to name the place in output.
package struct AgentTransport: Sendable, Equatable {
    /// Where sections are, for output: `box` for `--host user@box`, `via 'docker exec …'`.
    package var place: String
    package var executable: String
    package var arguments: [String]
    /// `--push-agent FILE`: the static agent to copy over the same stream when the target has
    /// none on PATH (the remote command then speaks the push preamble before the protocol).
    package var pushFile: String?
    /// Whether the command is ssh to a host (a remote shell runs the agent command there).
    package var overSSH = false

    /// Any command whose standard input and output reach an agent, run by `/bin/sh -c`.
    package static func via(_ command: String) -> AgentTransport {
        AgentTransport(place: "via '\(command)'", executable: "/bin/sh", arguments: ["-c", command])
    }

    /// `ssh -T` to `[USER@]HOST[:PORT]` with the user's own ssh config, in batch mode (no
    /// password prompt can hide behind a screen), running `agentCommand` there.
    /// - Parameter configFile: an ssh config to use instead of the user's (`ssh -F`).
    /// - Throws: a message when the spec is not a host.
    package static func ssh(_ spec: String, agentCommand: String = "mbvipc-agent",
                            configFile: String? = nil) throws(AgentProtocolError) -> AgentTransport {
        let (destination, port) = try parseHost(spec)
        var args = ["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
        if let configFile { args += ["-F", configFile] }
        if let port { args += ["-p", String(port)] }
        args += ["--", destination, agentCommand]
        let host = destination.split(separator: "@").last.map(String.init) ?? destination
        return AgentTransport(place: host, executable: "/usr/bin/env", arguments: ["ssh"] + args, overSSH: true)
    }

    /// `ssh` as above, running a small sh script instead of the agent: it uses `mbvipc-agent` from
    /// PATH when there is one (prints `A`), else makes a private directory (`mktemp -d`), prints
    /// `P`, takes exactly the agent's size in bytes from the stream into it, prints `R`, runs it,
    /// and removes the directory when the agent exits or the connection drops (`trap`).
    package static func sshPushing(_ spec: String, agentFile: String, agentCommand: String = "mbvipc-agent",
                                   configFile: String? = nil) throws(AgentProtocolError) -> AgentTransport {
        var st = stat()
        guard stat(agentFile, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size > 0 else {
            throw .cannotStart("--push-agent '\(escapeForTerminal(agentFile))' is not a file: give the static mbvipc-agent (make -C Sources/MBVIPC agent)")
        }
        let words = agentCommand.split(separator: " ").map(String.init)
        let name = words.first ?? "mbvipc-agent"
        guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }),
              words.dropFirst().allSatisfy({ $0.allSatisfy { $0.isLetter || $0.isNumber || "-_.=/".contains($0) } }) else {
            throw .cannotStart("--agent-command '\(escapeForTerminal(agentCommand))' with --push-agent takes a name and plain flags (no quotes or shell characters)")
        }
        let flags = words.dropFirst().joined(separator: " ")
        let script = "a=$(command -v \(name)) && { printf A; exec \"$a\" \(flags); }; "
            + "d=$(mktemp -d \"${TMPDIR:-/tmp}/mbvipc-agent.XXXXXX\") || exit 1; trap 'rm -rf \"$d\"' EXIT; trap 'exit 1' HUP INT TERM; "
            + "printf P; head -c \(st.st_size) > \"$d/mbvipc-agent\" && chmod 700 \"$d/mbvipc-agent\" && printf R && \"$d/mbvipc-agent\" \(flags)"
        var t = try ssh(spec, agentCommand: "sh -c " + shellQuoted(script), configFile: configFile)
        t.pushFile = agentFile
        return t
    }

    /// `'text'` for a POSIX shell.
    static func shellQuoted(_ text: String) -> String { "'" + text.replacing("'", with: "'\\''") + "'" }

    /// The agent on this machine joining the pid and mount namespaces of `pid` (`mbvipc-agent
    /// --container PID`, root only): the container's /dev/shm, its pids resolved in its namespace.
    package static func container(pid: Int32, agentCommand: String = "mbvipc-agent") -> AgentTransport {
        // The command may carry the agent's own flags ('mbvipc-agent --allow-calls'): split on spaces.
        AgentTransport(place: "container \(pid)", executable: "/usr/bin/env",
                       arguments: agentCommand.split(separator: " ").map(String.init) + ["--container", String(pid)])
    }

    /// Splits `[USER@]HOST[:PORT]` (`[V6ADDR]:PORT` too).
    package static func parseHost(_ spec: String) throws(AgentProtocolError) -> (String, Int?) {
        func bad(_ why: String) -> AgentProtocolError {
            .cannotStart("--host '\(escapeForTerminal(spec))' is not [USER@]HOST[:PORT]: \(why)")
        }
        guard !spec.isEmpty else { throw bad("it is empty") }
        guard !spec.hasPrefix("-") else { throw bad("it starts with '-'") }
        guard spec.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 && !"'\"`$;&|<>\\(){}".unicodeScalars.contains($0) })
        else { throw bad("it has spaces, quotes or shell characters") }
        var user = "", rest = Substring(spec)
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at]) + "@"
            rest = rest[rest.index(after: at)...]
            guard user.count > 1 else { throw bad("nothing before '@'") }
        }
        var host = rest, port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("'[' without ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { throw bad("a port after ']' is ':PORT'") }
                port = p
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            guard let p = Int(rest[rest.index(after: colon)...]) else { throw bad("the port is not a number") }
            port = p
        }
        guard !host.isEmpty, !host.hasPrefix("-") else { throw bad("no host name") }
        if let port, !(1...65535).contains(port) { throw bad("port \(port) is not 1 to 65535") }
        return (user + host, port)
    }

    /// Why a connection failed, for one line on stderr: the error, and when ssh's remote shell
    /// found no agent (status 127, "command not found"), how to bring one: `--push-agent` with
    /// this machine's static agent (beside this executable, else on PATH) when there is one.
    package func explain(_ error: AgentProtocolError) -> String {
        guard overSSH, pushFile == nil, case .closed(_, status: 127?) = error else { return error.description }
        let local = Self.localAgent()
        return "\(place) has no mbvipc-agent on PATH (ssh exited with status 127, command not found): copy the static "
            + "agent there, or let ipcscope copy it for this connection with --push-agent "
            + (local ?? "FILE (make -C Sources/MBVIPC agent builds Sources/MBVIPC/build/mbvipc-agent)")
    }

    /// This machine's static agent: `mbvipc-agent` beside this executable (an installed
    /// ipcscope's), else the first on PATH; nil when there is none.
    package static func localAgent(path: String? = nil, beside directory: String = ownExecutableDirectory) -> String? {
        let search = path ?? getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for dir in [directory] + search.split(separator: ":").map(String.init) where !dir.isEmpty {
            let candidate = dir + "/mbvipc-agent"
            var st = stat()
            if stat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// A snapshot taken by an agent, and what its host said of the pids in it.
package struct RemoteSnapshot: Sendable {
    package var snapshot: Snapshot
    package var facts: HostFacts
    /// Ring indexes of the trace records the agent saw being rewritten.
    package var tornIndexes: Set<UInt32> = []
}

/// One agent process and the protocol spoken with it. Not thread-safe: one caller at a time.
///
/// Every wait has a deadline (`timeout` seconds of silence); every frame is checked before it is
/// used (`FrameDecoder`). Snapshots come back as the same `Snapshot` a local `SectionReader` gives,
/// rebuilt from the changed lines the agent sends after the first.
package final class AgentConnection {
    package let transport: AgentTransport
    package private(set) var hello: AgentHello!
    /// Seconds of silence before a request fails.
    package var timeout: Double
    private let process: StartedProcess
    private var input: Int32
    private var output: Int32
    private var decoder = FrameDecoder()
    private var broken: AgentProtocolError?
    /// The bytes of the last snapshot, the base of the next delta.
    private var last: (service: String, bytes: [UInt8], pids: [AgentPidFact])?
    /// Bytes written to the transport and read from it (frames, headers included).
    package private(set) var bytesSent: UInt64 = 0
    package private(set) var bytesReceived: UInt64 = 0
    /// The last SNAPSHOT's round trip (request written to answer read), in nanoseconds.
    package private(set) var lastRoundTripNS: UInt64 = 0
    /// The agent host's clocks, estimated at the last snapshot (its `taken` against the middle of
    /// the round trip); the REALTIME offset is the agent's own when it sends it (version 2).
    package private(set) var clock = HostClock.local
    /// The version chosen at HELLO: every later frame carries it, both ways.
    package private(set) var version = AgentProtocol.version

    /// Starts the transport and says hello.
    /// - Throws: when the command cannot start, or the agent does not answer HELLO in time.
    package init(_ transport: AgentTransport, timeout: Double = 10) throws(AgentProtocolError) {
        self.transport = transport
        self.timeout = timeout
        // A write to an agent that died must fail with EPIPE, not kill this process.
        signal(SIGPIPE, SIG_IGN)
        var launch = Launch(transport.executable, transport.arguments, standardOutput: .pipe, standardError: .inherit)
        launch.standardInputPipe = true
        do {
            process = try StartedProcess.start(launch, startTimeout: timeout)
        } catch {
            throw .cannotStart("cannot start the transport (\(transport.place)): \(error.reason)")
        }
        let pipes = process.takePipes()
        input = pipes.input ?? -1
        output = pipes.output ?? -1
        if let file = transport.pushFile {
            do { try pushAgent(file) } catch {
                close()
                throw error
            }
        }
        var w = PayloadWriter()
        w.u16(AgentProtocol.minVersion)
        w.u16(AgentProtocol.version)
        do throws(AgentProtocolError) {
            let reply = try request(AgentFrame(.hello, w.bytes), expect: .helloOK)
            hello = try AgentHello(decoding: reply.payload)
            guard reply.version == hello.version else { throw fatal(.wrongVersion(reply.version)) }
            version = hello.version
            if let offset = hello.realtimeOffsetNS { clock.realtimeOffsetNS = offset }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the stream (the agent exits at end of input) and ends the transport: at once if it
    /// has not gone within a second.
    package func close() {
        if input >= 0 { _ = Glibc.close(input); input = -1 }
        if output >= 0 { _ = Glibc.close(output); output = -1 }
        if process.wait(timeout: 1) == nil { _ = process.kill(timeout: 2) }
    }

    // MARK: - pushing the agent

    /// The push preamble (`AgentTransport.sshPushing`): `A` (the target has an agent), or `P`,
    /// the file's bytes, and `R` once it is in place. Every wait bounded by `timeout`.
    private func pushAgent(_ file: String) throws(AgentProtocolError) {
        func byte() throws(AgentProtocolError) -> UInt8 {
            let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
            var b: UInt8 = 0
            while true {
                let now = monotonicNanoseconds()
                guard now < deadline else { throw fatal(.silence(seconds: timeout)) }
                var p = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, Int32((deadline - now) / 1_000_000) + 1) > 0 else { continue }
                let n = Glibc.read(output, &b, 1)
                if n == 1 { bytesReceived &+= 1; return b }
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                throw fatal(closedError())
            }
        }
        let first = try byte()
        if first == UInt8(ascii: "A") { return }
        guard first == UInt8(ascii: "P") else {
            throw fatal(.malformed("push preamble (0x\(String(first, radix: 16)), not A or P): the remote shell printed something before the agent; check its profile prints nothing for a non-interactive ssh"))
        }
        guard let bytes = readFileContents(file) else { throw fatal(.cannotStart("cannot read --push-agent '\(escapeForTerminal(file))'")) }
        try send(bytes)
        guard try byte() == UInt8(ascii: "R") else { throw fatal(.malformed("push preamble (no R after the agent's bytes)")) }
    }

    // MARK: - requests

    /// The `ipcscope.*` entries of the agent's /dev/shm.
    package func list() throws(AgentProtocolError) -> [AgentListEntry] {
        try AgentListEntry.decodeList(request(AgentFrame(.list), expect: .listOK).payload)
    }

    /// One snapshot of `service`, as a local `SectionReader.snapshot()` would give on that host.
    package func snapshot(service: String) throws(AgentProtocolError) -> RemoteSnapshot {
        var w = PayloadWriter()
        w.string(Array(service.utf8))
        let full = last?.service != service
        w.u32(full ? 1 : 0)
        let frame: AgentFrame
        let sent = monotonicNanoseconds()
        do {
            frame = try request(AgentFrame(.snapshot, w.bytes), expect: nil)
        } catch {
            last = nil
            throw error
        }
        let received = monotonicNanoseconds()
        lastRoundTripNS = received &- sent
        var reply: AgentSnapshotReply
        switch AgentMessage(rawValue: frame.type) {
        case .snapshotFull: reply = try AgentSnapshotReply(decoding: frame.payload, delta: false)
        case .snapshotDelta: reply = try AgentSnapshotReply(decoding: frame.payload, delta: true)
        default: throw fatal(.unexpected(frame.type))
        }
        if reply.delta, last?.service != service { throw fatal(.malformed("SNAPSHOT_DELTA (no full snapshot of the same size before it)")) }
        if reply.pidsSame {
            guard reply.delta else { throw fatal(.malformed("SNAPSHOT_FULL (pid facts said unchanged)")) }
            guard version >= 2, reply.pids.isEmpty, let base = last else {
                throw fatal(.malformed("SNAPSHOT_DELTA (pid facts both sent and said unchanged)"))
            }
            reply.pids = base.pids
        }
        let bytes: [UInt8]
        do {
            bytes = try reply.applied(to: last?.bytes)
        } catch {
            throw fatal(error)
        }
        last = (service, bytes, reply.pids)
        clock.monotonicOffsetNS = Int64(bitPattern: reply.takenNS &- (sent &+ (received &- sent) / 2))
        return Self.assemble(service: service, bytes: bytes, reply: reply, clockTicks: UInt64(hello.clockTicksPerSecond),
                             ntPids: hello.os.hasPrefix("Windows"))
    }

    /// Calls `function` of `service` on the agent's host (only an agent started with --allow-calls answers).
    package func call(service: String, function: UInt32, request payload: [UInt8],
                      timeoutMS: UInt32) throws(AgentProtocolError) -> AgentCallReply {
        var w = PayloadWriter()
        w.string(Array(service.utf8))
        w.u32(function)
        w.u32(timeoutMS)
        w.u32(UInt32(payload.count))
        w.bytes += payload
        let saved = timeout
        timeout = max(timeout, Double(timeoutMS) / 1000 + 5)
        defer { timeout = saved }
        return try AgentCallReply(decoding: request(AgentFrame(.call, w.bytes), expect: .callOK).payload)
    }

    /// Sends `frame` and returns the answer: an ERROR frame is thrown; `expect` (when given) is
    /// the only other type accepted.
    private func request(_ frame: AgentFrame, expect: AgentMessage?) throws(AgentProtocolError) -> AgentFrame {
        if let broken { throw broken }
        var frame = frame
        if frame.type != AgentMessage.hello.rawValue { frame.version = version }
        try send(frame.encoded)
        let reply = try receive()
        if frame.type != AgentMessage.hello.rawValue, reply.version != version { throw fatal(.wrongVersion(reply.version)) }
        if reply.type == AgentMessage.error.rawValue {
            let e = decodeAgentError(reply.payload)
            // Frame-level errors end the agent: the stream is gone.
            if case .agent(let code, _) = e, code == AgentErrorCode.badFrame || code == AgentErrorCode.timeout { broken = e }
            throw e
        }
        if let expect, reply.type != expect.rawValue { throw fatal(.unexpected(reply.type)) }
        return reply
    }

    private func fatal(_ e: AgentProtocolError) -> AgentProtocolError {
        broken = e
        return e
    }

    private func send(_ bytes: [UInt8]) throws(AgentProtocolError) {
        let deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(input, $0.baseAddress! + done, $0.count - done) }
            if n > 0 { done += n; bytesSent &+= UInt64(n); continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && e != EAGAIN { throw fatal(drained() ?? closedError()) }
            let now = monotonicNanoseconds()
            guard now < deadline else { throw fatal(.silence(seconds: timeout)) }
            var p = pollfd(fd: input, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Int32((deadline - now) / 1_000_000) + 1)
        }
    }

    private func receive() throws(AgentProtocolError) -> AgentFrame {
        var chunk = [UInt8](repeating: 0, count: 65536)
        var deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
        while true {
            do {
                if let frame = try decoder.next() { return frame }
            } catch {
                throw fatal(error)
            }
            let now = monotonicNanoseconds()
            guard now < deadline else { throw fatal(.silence(seconds: timeout)) }
            var p = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1)))
            if r < 0 && errno != EINTR { throw fatal(closedError()) }
            guard r > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n > 0 {
                bytesReceived &+= UInt64(n)
                decoder.append(chunk[0..<n])
                // Bytes keep arriving: the deadline counts silence, not the size of a frame.
                deadline = monotonicNanoseconds() + UInt64(timeout * 1e9)
                continue
            }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            throw fatal(decoder.endError ?? closedError())
        }
    }

    /// After a write failed (the agent is gone): what it wrote before it went, if that was
    /// broken, reads as the reason (a truncated or foreign frame), rather than "closed".
    private func drained() -> AgentProtocolError? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let deadline = monotonicNanoseconds() + 1_000_000_000
        while monotonicNanoseconds() < deadline {
            var p = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let n = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if n > 0 { decoder.append(chunk[0..<n]); continue }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            break
        }
        do {
            while try decoder.next() != nil {}
        } catch {
            return error
        }
        return decoder.endError
    }

    /// The stream closed: with how the transport ended, if it did within half a second
    /// ("exited with status 255", "killed by signal 9"), and its exit status.
    private func closedError() -> AgentProtocolError {
        switch process.wait(timeout: 0.5) {
        case .exited(let code): .closed(exit: "\(transport.place) exited with status \(code)", status: code)
        case .signaled(let sig): .closed(exit: "\(transport.place) was killed by signal \(sig)")
        case nil: .closed(exit: nil)
        }
    }

    // MARK: - rebuilding a Snapshot

    /// The `Snapshot` a local reader would have taken on the agent's host, and that host's pid facts.
    package static func assemble(service: String, bytes: [UInt8], reply: AgentSnapshotReply,
                                 clockTicks: UInt64, ntPids: Bool = false) -> RemoteSnapshot {
        let size = Int(min(reply.objectSize, UInt64(Int.max)))
        var snap = Snapshot(service: service, bytes: bytes, objectSize: size, ownerUID: reply.uid, mode: reply.mode,
                            serverAlive: reply.alive, takenNS: reply.takenNS)
        if let l = snap.layout, l.traceCapacity > 0, bytes.count >= l.traceOffset + l.traceCapacity * 64 {
            decodeTrace(&snap, l, torn: Set(reply.tornRecords))
        }
        var byPid: [Int32: AgentPidFact] = [:]
        for f in reply.pids where f.pid > 0 { byPid[f.pid] = f }
        let table = byPid
        let boot = reply.bootMinusMonotonicNS
        var facts = HostFacts(
            startTime: { pid in
                guard let f = table[pid], f.state == .lives || f.state == .zombie else { return 0 }
                return f.startTime
            },
            command: { pid in
                guard let f = table[pid], !f.command.isEmpty else { return nil }
                return String(decoding: f.command, as: UTF8.self)
            },
            commandLine: { pid in
                guard let f = table[pid], !f.commandLine.isEmpty else { return nil }
                var parts = f.commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if let first = parts.first, let slash = first.lastIndex(of: "/") { parts[0] = String(first[first.index(after: slash)...]) }
                return parts.joined(separator: " ")
            },
            threadExists: { tid in
                guard let f = table[tid] else { return nil }
                switch f.state {
                case .gone: return false
                case .lives, .zombie: return true
                case .unknown: return nil
                }
            },
            clockTicksPerSecond: max(1, clockTicks), bootMinusMonotonicNS: { boot })
        facts.ntPids = ntPids
        if !snap.mutexWord.isFree { snap.ownerThreadAlive = facts.threadExists(snap.mutexWord.ownerTID) }
        if snap.layout != nil {
            snap.slotsSettled = reply.slotsSettled
            snap.mutexQuiet = reply.mutexQuiet
        }
        return RemoteSnapshot(snapshot: snap, facts: facts, tornIndexes: Set(reply.tornRecords))
    }

    /// The trace ring as `SectionReader` reads it, with the agent's re-read deciding which records were torn.
    private static func decodeTrace(_ snap: inout Snapshot, _ l: SectionLayout, torn: Set<UInt32>) {
        let cap = l.traceCapacity
        let head = snap.traceHead
        let count = Int(min(head, UInt64(cap)))
        guard count > 0 else { return }
        var records: [TraceRecord] = []
        var tornCount = 0
        snap.bytes.withUnsafeBytes { b in
            for k in 0..<count {
                let n = head &- UInt64(count) &+ UInt64(k)
                let idx = Int(n & UInt64(cap - 1))
                let o = l.traceOffset + idx * 64
                let seq = b.loadUnaligned(fromByteOffset: o, as: UInt64.self)
                guard seq != 0, !torn.contains(UInt32(idx)) else { tornCount += 1; continue }
                records.append(TraceRecord(decoding: b, at: o))
            }
        }
        records.sort { $0.seq < $1.seq }
        snap.trace = records
        snap.tornRecords = tornCount
    }
}
