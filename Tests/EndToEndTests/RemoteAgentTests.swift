// Reading sections through mbvipc-agent with real components on this machine: the agent built by
// the C library's Makefile, a real `ipcscope serve --echo` with real calls, a real sshd on
// 127.0.0.1 with its own keys and config, and hostile fake agents that break the protocol in
// every way the decoder knows (each must give one clear line, never a crash, never a hang).
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeKit
import IPCScopeObserve
import IPCScopeProcess
import Testing
import TestSupport

/// `make agent` once for the whole run, into a folder removed at exit.
enum AgentBuild {
    struct Failure: Error, CustomStringConvertible { let description: String }
    static let built: Result<String, Failure> = {
        let scope = TestScope()
        keeper = scope
        directory = scope.directory
        atexit { if let d = AgentBuild.directory { removeTree(d) } }
        let make = scope.run("/usr/bin/make", ["-s", "-C", repositoryRoot + "/Sources/MBVIPC", "agent", "O=" + scope.directory + "/out"],
                             timeout: 240)
        guard make.exitStatus == 0 else { return .failure(Failure(description: "make agent: \(make.stderr)")) }
        return .success(scope.directory + "/out/mbvipc-agent")
    }()
    static func require() throws -> String { try built.get() }
    nonisolated(unsafe) static var directory: String?
    nonisolated(unsafe) static var keeper: TestScope?
}

@Suite("Remote reading through mbvipc-agent", .serialized)
struct RemoteAgentTests {
    /// A JSON status without what changes between two reads (ages) and without `where`.
    static func stable(_ json: [String: Any]) -> NSDictionary {
        var j = json
        j["where"] = nil
        if var server = j["server"] as? [String: Any] { server["heartbeat_age_ns"] = nil; j["server"] = server }
        if var state = j["state"] as? [String: Any] { state["for_ns"] = nil; j["state"] = state }
        // Wall-clock times are monotonic times plus each process's own REALTIME - MONOTONIC reading.
        if var trace = j["trace"] as? [String: Any], let records = trace["records"] as? [[String: Any]] {
            trace["records"] = records.map { r in var r = r; r["time_unix_ns"] = nil; return r }
            j["trace"] = trace
        }
        return j as NSDictionary
    }

    /// A served section with three real calls in it.
    static func servedSection(_ scope: TestScope) -> (String, ChildProcess) {
        let name = scope.serviceName("remote")
        let server = scope.startEchoServer(name)
        for (f, text) in [(1, "first"), (2, "second call"), (3, "hello remote")] {
            let c = scope.ipcscope(["call", name, "-f", String(f), "--text", text])
            #expect(c.exitStatus == 0, "call: \(c.stderr)")
        }
        return (name, server)
    }

    @Test("the static agent is built by the C library's Makefile and links no shared library")
    func staticBuild() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let file = scope.run("/usr/bin/env", ["LC_ALL=C", "file", agent])
        if file.exitStatus == 0 { #expect(file.stdout.contains("statically linked"), "\(file.stdout)") }
        let version = scope.run(agent, ["--version"])
        #expect(version.stdout.contains("protocol 1"))
        let tty = scope.run(agent, ["--bogus"])
        #expect(tty.exitStatus == 64 && tty.stderr.contains("unknown argument '--bogus'"))
    }

    @Test("status and list --via the agent match a local read of the same section")
    func viaMatchesLocal() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, server) = Self.servedSection(scope)
        let local = scope.ipcscope(["status", name, "--json", "--trace", "all"])
        let remote = scope.ipcscope(["status", name, "--json", "--trace", "all", "--via", agent])
        #expect(remote.exitStatus == 0, "\(remote.stderr)")
        let l = try #require(jsonObject(local.stdout)), r = try #require(jsonObject(remote.stdout))
        #expect(r["where"] as? String == "via '\(agent)'")
        #expect(Self.stable(l) == Self.stable(r), "local \(local.stdout)\nremote \(remote.stdout)")
        let serverJSON = r["server"] as? [String: Any]
        #expect(int(serverJSON?["pid"]) == Int(server.pid))
        #expect(serverJSON?["command"] as? String == "ipcscope serve \(name) --echo")
        #expect(int(serverJSON?["calls_served"]) == 3)
        let request = r["request"] as? [String: Any]
        #expect(request?["data_hex"] as? String == Array("hello remote".utf8).map { String(format: "%02x", $0) }.joined())

        let text = scope.ipcscope(["status", name, "--via", agent])
        #expect(text.exitStatus == 0)
        #expect(text.stdout.hasPrefix("service \(name) (via '\(agent)')"))
        #expect(text.stdout.contains("68 65 6c 6c 6f 20 72 65  6d 6f 74 65"))  // "hello remote" in the request dump

        let list = scope.ipcscope(["list", "--via", agent])
        #expect(list.exitStatus == 0, "\(list.stderr)")
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix("via '\(agent)':\(name) ") }
        #expect((row?.contains(" \(server.pid) ") == true && row?.contains(" ipcscope serve remote-") == true), "\(list.stdout)")
        let localList = try #require(jsonObject(scope.ipcscope(["list", "--json"]).stdout))
        let remoteList = try #require(jsonObject(scope.ipcscope(["list", "--json", "--via", agent]).stdout))
        func entry(_ j: [String: Any]) -> NSDictionary? {
            (j["sections"] as? [[String: Any]])?.first { $0["name"] as? String == name } as NSDictionary?
        }
        #expect(entry(localList) != nil && entry(localList) == entry(remoteList))

        // Gone: the same exit status and wording a local status gives.
        let missing = scope.ipcscope(["status", name + "-none", "--via", agent])
        #expect(missing.exitStatus == 1 && missing.stderr.contains("no service named '\(name)-none'"), "\(missing.stderr)")
    }

    @Test("a server that dies is stale through the agent too, and a pid reused stays unnamed")
    func staleThroughAgent() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, server) = Self.servedSection(scope)
        server.killAndReap()
        let remote = scope.ipcscope(["status", name, "--json", "--via", agent])
        #expect(remote.exitStatus == 2)
        let r = try #require(jsonObject(remote.stdout))
        #expect(r["stale"] as? Bool == true)
        #expect((r["server"] as? [String: Any])?["pid_note"] as? String == "pid gone")
    }

    @Test("calls: refused by an agent without --allow-calls, answered as a client with it")
    func calls() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, _) = Self.servedSection(scope)
        let readOnly = try AgentConnection(.via(agent), timeout: 10)
        #expect(readOnly.hello.callsAllowed == false)
        do {
            _ = try readOnly.call(service: name, function: 9, request: Array("x".utf8), timeoutMS: 2000)
            Issue.record("a read-only agent made a call")
        } catch {
            #expect(error == .agent(code: AgentErrorCode.callsRefused, message: "this agent was started without --allow-calls: it only reads sections; restart it with --allow-calls to call"))
        }
        readOnly.close()
        let before = try #require(jsonObject(scope.ipcscope(["status", name, "--json"]).stdout))
        #expect(int((before["server"] as? [String: Any])?["calls_served"]) == 3)

        let calling = try AgentConnection(.via(agent + " --allow-calls"), timeout: 10)
        defer { calling.close() }
        #expect(calling.hello.callsAllowed)
        let answer = try calling.call(service: name, function: 9, request: Array("through the agent".utf8), timeoutMS: 2000)
        #expect(answer.status == 0 && answer.response == Array("through the agent".utf8))
        let after = try calling.snapshot(service: name).snapshot
        #expect(after.callsServed == 4)
        #expect(after.requestPayload == Array("through the agent".utf8))
    }

    @Test("snapshots after the first are changed lines, and rebuild the same bytes")
    func deltas() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, _) = Self.servedSection(scope)
        let c = try AgentConnection(.via(agent), timeout: 10)
        defer { c.close() }
        _ = try c.snapshot(service: name)
        #expect(scope.ipcscope(["call", name, "-f", "5", "--text", "a change"]).exitStatus == 0)
        let reader = try SectionReader(service: name)
        // The heartbeat line may move between two reads, and the server's waiter count (line 2)
        // until it is back in its wait; everything after line 1 must match once it is quiet.
        var second = try c.snapshot(service: name).snapshot
        var local = try reader.snapshot()
        let quiet = waitUntil(timeout: 5, interval: 0.05) {
            second = (try? c.snapshot(service: name).snapshot) ?? second
            local = (try? reader.snapshot()) ?? local
            return second.bytes.count == local.bytes.count && Array(second.bytes[128...]) == Array(local.bytes[128...])
        }
        #expect(quiet, "the agent's rebuilt bytes never matched a local read")
        #expect(second.bytes.count == local.bytes.count)
        #expect(Array(second.bytes[128...]) == Array(local.bytes[128...]))
        #expect(second.requestPayload == Array("a change".utf8))
        #expect(second.trace.map(\.seq) == local.trace.map(\.seq))
    }

    @Test("benchmarks/agent-rtt.sh prints the Linux agent's snapshot round trips (a smoke run, not a timing)")
    func rttBenchmarkRuns() throws {
        _ = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let r = scope.run("/bin/sh", [repositoryRoot + "/benchmarks/agent-rtt.sh", ipcscopePath, "20"], timeout: 120,
                          environment: ["SKIP_NT": "1"])
        #expect(r.exitStatus == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("full : 5 snapshots, median ") && r.stdout.contains("delta: 20 snapshots, median "), "\(r.stdout)")
    }

    @Test("hostile agents: truncated, huge, garbage, wrong version, silent: one clear line each, within the deadline")
    func hostileAgents() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let cases: [(String, String, String)] = [
            ("truncated", #"printf 'MBVA\001\000\201\000\040\000\000\000\000\000\000\000abc'"#, "ended inside a frame (19 of 48 bytes)"),
            ("huge", #"printf 'MBVA\001\000\201\000\377\377\377\377\000\000\000\000'; exec sleep 30"#, "over the protocol's limit"),
            ("garbage", "echo 'Last login: yesterday'; exec sleep 30", "not the agent protocol"),
            ("wrong version", #"printf 'MBVA\003\000\201\000\000\000\000\000\000\000\000\000'; exec sleep 30"#, "protocol version 3"),
            ("silent", "exec sleep 30", "sent nothing for 2 s"),
            ("exits", "exit 5", "exited with status 5"),
            ("not found", "/nonexistent/mbvipc-agent", "exited with status 127"),
        ]
        for (what, script, expected) in cases {
            for verb in [["status", "svc"], ["list"]] {
                let start = now()
                let c = scope.ipcscope(verb + ["--via", script, "--agent-timeout", "2"], timeout: 20)
                let took = now() - start
                let lines = c.stderr.split(separator: "\n").filter { !$0.contains("/nonexistent") || $0.contains("cannot reach") }
                #expect(c.exitStatus == 1, "\(what): exit \(String(describing: c.exitStatus)) \(c.stderr)")
                #expect(lines.count == 1 && lines[0].contains("cannot reach the agent") && lines[0].contains(expected),
                        "\(what): \(c.stderr)")
                #expect(took < 8, "\(what) took \(took) s")
                #expect(c.exitSignal == nil)
            }
        }
        let both = scope.ipcscope(["list", "--via", "x", "--host", "y"])
        #expect(both.exitStatus == 64 && both.stderr.contains("give one"), "\(both.stderr)")
        let badHost = scope.ipcscope(["list", "--host=-oProxyCommand=x"])
        #expect(badHost.exitStatus == 64 && badHost.stderr.contains("is not [USER@]HOST[:PORT]"), "\(badHost.stderr)")
    }

    /// Runs the real agent on `input` and decodes what it answered (frames, and how the stream ended).
    static func agentAnswers(_ scope: TestScope, _ agent: String, _ input: [UInt8], args: [String] = []) -> ([AgentFrame], ChildProcess, String?) {
        let path = scope.directory + "/in-\(UInt32.random(in: 0...UInt32.max))"
        writeBytes(path, input)
        let c = scope.run(agent, args, timeout: 20, stdinPath: path)
        var d = FrameDecoder()
        d.append(readBytes(c.outPath))
        var frames: [AgentFrame] = []
        do {
            while let f = try d.next() { frames.append(f) }
        } catch {
            return (frames, c, "\(error)")
        }
        return (frames, c, d.endError.map { "\($0)" })
    }

    static func hello() -> [UInt8] { AgentFrame(.hello, [1, 0, 2, 0]).encoded }

    @Test("the agent takes hostile frames: an ERROR frame each, never a crash, never a hang")
    func agentHostileInput() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        func errorCode(_ f: AgentFrame) -> UInt32? {
            guard f.type == AgentMessage.error.rawValue, case .agent(let code, _) = decodeAgentError(f.payload) else { return nil }
            return code
        }
        // A request before HELLO; an unknown type (the stream goes on); a bad name; a short payload.
        var w = PayloadWriter()
        w.string(Array("../../etc/passwd".utf8)); w.u32(0)
        let stream = AgentFrame(.list).encoded + Self.hello() + AgentFrame(rawType: 0x42, payload: [1, 2], version: AgentProtocol.version).encoded
            + AgentFrame(.snapshot, w.bytes).encoded + AgentFrame(.snapshot, [200, 0, 1]).encoded + AgentFrame(.list).encoded
        let (frames, c, end) = Self.agentAnswers(scope, agent, stream)
        #expect(c.exitStatus == 0 && end == nil, "\(c.stderr) \(String(describing: end))")
        #expect(frames.map(\.type) == [0xFF, 0x81, 0xFF, 0xFF, 0xFF, 0x82])
        #expect(frames.compactMap(errorCode) == [AgentErrorCode.helloFirst, AgentErrorCode.unknownType, AgentErrorCode.badName,
                                                  AgentErrorCode.badPayload])
        // No common version.
        let (v, _, _) = Self.agentAnswers(scope, agent, AgentFrame(.hello, [3, 0, 4, 0]).encoded)
        #expect(v.compactMap(errorCode) == [AgentErrorCode.version])
        // Bad magic, a huge length: one ERROR, then the agent closes (exit 1) without reading more.
        var huge = Self.hello()
        huge += [0x4D, 0x42, 0x56, 0x41, 1, 0, 2, 0, 0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]
        for (what, bytes) in [("garbage", Self.hello() + Array("GET / HTTP/1.1\r\n\r\n".utf8)), ("huge", huge)] {
            let (f, c, _) = Self.agentAnswers(scope, agent, bytes)
            #expect(c.exitStatus == 1, "\(what)")
            #expect(f.last.flatMap(errorCode) == AgentErrorCode.badFrame, "\(what)")
        }
        // A frame that stops arriving: the agent gives up after --frame-timeout, not never.
        let start = now()
        var launch = Launch(agent, ["--frame-timeout", "1"], standardOutput: .file(scope.directory + "/stalled.out", append: false))
        launch.standardInputPipe = true
        let stalled = try StartedProcess.start(launch)
        let (input, _) = stalled.takePipes()
        let partial: [UInt8] = Self.hello() + [0x4D, 0x42, 0x56, 0x41, 1, 0, 2]  // HELLO, then 7 bytes of a header
        _ = partial.withUnsafeBytes { write(input!, $0.baseAddress, $0.count) }
        let ended = stalled.wait(timeout: 10)
        close(input!)
        if ended == nil { _ = stalled.kill() }
        #expect(ended == .exited(1))
        #expect(now() - start < 8)
        var d = FrameDecoder()
        d.append(readBytes(scope.directory + "/stalled.out"))
        #expect(try d.next()?.type == AgentMessage.helloOK.rawValue)
        let last = try #require(try d.next())
        #expect(errorCode(last) == AgentErrorCode.timeout)
        // The agent never writes a section: its bytes are the same after a read-only session.
        let (name, _) = Self.servedSection(scope)
        let before = try SectionReader(service: name).snapshot().bytes
        var snap = PayloadWriter()
        snap.string(Array(name.utf8)); snap.u32(1)
        var call = PayloadWriter()
        call.string(Array(name.utf8)); call.u32(1); call.u32(500); call.u32(1); call.u8(0x41)
        let (session, _, _) = Self.agentAnswers(scope, agent, Self.hello() + AgentFrame(.snapshot, snap.bytes).encoded
                                                    + AgentFrame(.call, call.bytes).encoded + AgentFrame(.bye).encoded)
        #expect(session.map(\.type) == [0x81, 0x83, 0xFF, 0x85])
        let after = try SectionReader(service: name).snapshot().bytes
        // Slots and trace ring unchanged (lines 0-7 hold the server's own heartbeat and waiting flags).
        #expect(Array(before[512...]) == Array(after[512...]))
    }

    /// A port on 127.0.0.1 nobody listens on right now.
    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// An sshd of its own on 127.0.0.1 (own host key, config, authorized key), and an ssh config that
    /// reaches it with a fresh client key and its own known_hosts. Stopped by pid with the scope.
    static func startSSHD(_ scope: TestScope) throws -> (port: Int, config: String, sshd: ChildProcess) {
        let d = scope.directory
        for key in ["hostkey", "clientkey"] {
            let k = scope.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", d + "/" + key])
            try #require(k.exitStatus == 0, "ssh-keygen: \(k.stderr)")
        }
        _ = scope.file("authorized_keys", readFile(d + "/clientkey.pub"))
        chmod(d + "/clientkey", 0o600)
        let user = String(cString: getpwuid(getuid()).pointee.pw_name)
        mkdir("/run/sshd", 0o755)  // sshd's privilege-separation directory (a package install makes it; a container may not have it)
        let port = freePort()
        let sshdConfig = scope.file("sshd_config", """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(d)/hostkey
            PidFile \(d)/sshd.pid
            UsePAM no
            StrictModes no
            AuthorizedKeysFile \(d)/authorized_keys
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            AllowUsers \(user)
            LogLevel INFO

            """)
        let sshd = scope.spawn("/usr/sbin/sshd", ["-f", sshdConfig, "-D", "-e"])
        let listening = waitUntil(timeout: 10) { sshd.stderr.contains("Server listening") || sshd.hasExited }
        try #require(listening && !sshd.hasExited, "sshd: \(sshd.stderr)")
        let config = scope.file("ssh_config", """
            Host *
              User \(user)
              IdentityFile \(d)/clientkey
              IdentitiesOnly yes
              UserKnownHostsFile \(d)/known_hosts
              StrictHostKeyChecking accept-new
              BatchMode yes
              LogLevel ERROR

            """)
        return (port, config, sshd)
    }

    @Test("status, list, watch and record --host over a real sshd on 127.0.0.1: the call's bytes and the server from the remote side; replay of the recording")
    func overSSH() throws {
        let agent = try AgentBuild.require()
        try #require(access("/usr/sbin/sshd", X_OK) == 0, "openssh-server is not installed (see .ci/run)")
        let scope = TestScope()
        defer { scope.cleanup() }
        let (port, config, sshd) = try Self.startSSHD(scope)
        let (name, server) = Self.servedSection(scope)
        let host = ["--host", "127.0.0.1:\(port)", "--ssh-config", config, "--agent-command", agent]
        let status = scope.ipcscope(["status", name] + host, timeout: 60)
        #expect(status.exitStatus == 0, "\(status.stderr) sshd: \(sshd.stderr)")
        #expect(status.stdout.hasPrefix("service \(name) on 127.0.0.1"))
        #expect(status.stdout.contains("\(server.pid) (ipcscope serve \(name) --echo)"), "\(status.stdout)")
        #expect(status.stdout.contains("68 65 6c 6c 6f 20 72 65  6d 6f 74 65"))
        let json = try #require(jsonObject(scope.ipcscope(["status", name, "--json"] + host, timeout: 60).stdout))
        let local = try #require(jsonObject(scope.ipcscope(["status", name, "--json"]).stdout))
        #expect(json["where"] as? String == "127.0.0.1")
        #expect(Self.stable(json) == Self.stable(local))
        let list = scope.ipcscope(["list"] + host, timeout: 60)
        #expect(list.exitStatus == 0, "\(list.stderr)")
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix("127.0.0.1:\(name) ") }
        #expect((row?.contains(" \(server.pid) ") == true && row?.contains(" ipcscope serve remote-") == true), "\(list.stdout)")

        // watch --host --json and record --host, both over ssh at once; replay sends the recording again here.
        let pcap = scope.directory + "/over-ssh.pcapng"
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "1", "--timeout", "60"] + host)
        let record = scope.spawn(ipcscopePath, ["record", name, "-w", pcap, "--count", "1", "--duration", "60"] + host)
        #expect(watch.waitForOutput("watching '\(name)' on 127.0.0.1", timeout: 30), "\(watch.stderr)")
        #expect(record.waitForOutput("recording '\(name)'", timeout: 30), "\(record.stderr)")
        #expect(scope.ipcscope(["call", name, "-f", "6", "--text", "seen over ssh"]).exitStatus == 0)
        #expect(watch.wait(timeout: 30) == 0 && record.wait(timeout: 30) == 0, "\(watch.stderr) \(record.stderr)")
        let seen = jsonLines(watch.stdout).first { $0["event"] as? String == "call" }
        #expect(seen?["function"] as? Int == 6 && seen?["request_hex"] as? String == "7365656e206f76657220737368", "\(watch.stdout)")
        #expect(record.stdout.contains("recorded 1 call to \(pcap): 1 complete, 0 partial"), "\(record.stdout)")
        let replay = scope.ipcscope(["replay", pcap, "--to", name])
        #expect(replay.exitStatus == 0 && replay.stdout.contains("1 matched, 0 differed"), "\(replay.stdout) \(replay.stderr)")

        // A host that does not answer: ssh's own line, then ours, and exit 1, quickly.
        let closed = scope.ipcscope(["status", name, "--host", "127.0.0.1:\(Self.freePort())", "--ssh-config", config], timeout: 30)
        #expect(closed.exitStatus == 1)
        #expect(closed.stderr.contains("Connection refused") && closed.stderr.contains("exited with status 255"), "\(closed.stderr)")
        // No key for this user on the host: BatchMode refuses at once instead of asking for a password.
        let noKey = scope.file("nokey_config", readFile(config).replacingOccurrences(of: "clientkey", with: "hostkey"))
        let refused = scope.ipcscope(["status", name, "--host", "127.0.0.1:\(port)", "--ssh-config", noKey], timeout: 30)
        #expect(refused.exitStatus == 1 && refused.stderr.contains("Permission denied"), "\(refused.stderr)")
        // Let sshd's per-connection children finish before it is stopped, so none outlives it.
        waitUntil(timeout: 5, interval: 0.05) { scope.run("/usr/bin/pgrep", ["-P", String(sshd.pid)]).exitStatus == 1 }
    }

    @Test("--container PID reads a server in its own mount and pid namespaces (private /dev/shm), its pid resolved there")
    func container() throws {
        let agent = try AgentBuild.require()
        try #require(getuid() == 0 && access("/usr/bin/unshare", X_OK) == 0, "needs root and unshare")
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = uniqueServiceName("ctr")
        let outer = scope.spawn("/usr/bin/unshare", ["--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c",
                                                      "mount -t tmpfs tmpfs /dev/shm && exec \"$0\" serve \"$1\" --echo", ipcscopePath, name])
        #expect(outer.waitForOutput("serving", timeout: 10), "\(outer.stderr)")
        let inner = scope.run("/usr/bin/pgrep", ["-P", String(outer.pid)])
        let pid = try #require(Int32(inner.stdout.split(separator: "\n").first ?? ""), "no child of unshare: \(inner.stdout)")
        #expect(!scope.objectExists(name))  // not in this machine's /dev/shm
        let status = scope.ipcscope(["status", name, "--container", String(pid), "--agent-command", agent])
        #expect(status.exitStatus == 0, "\(status.stderr)")
        #expect(status.stdout.hasPrefix("service \(name) on container \(pid)"))
        #expect(status.stdout.contains("pid               1 (ipcscope serve \(name) --echo)"), "\(status.stdout)")
        let list = scope.ipcscope(["list", "--container", String(pid), "--agent-command", agent])
        #expect(list.stdout.contains("container \(pid):\(name) "), "\(list.stdout)")
        let hostList = scope.ipcscope(["list"])
        #expect(!hostList.stdout.contains(name), "the host's own list sees the container's section: \(hostList.stdout)")
        kill(pid, SIGTERM)
        #expect(outer.wait(timeout: 10) != nil)
    }
}
