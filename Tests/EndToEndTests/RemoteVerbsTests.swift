// watch, record, attach and call through mbvipc-agent, with real processes: the agent built by the
// C library's Makefile, real `ipcscope serve --echo` servers, a real sshd on 127.0.0.1 (killed and
// restarted under an attach), tmux for the screen, unshare'd namespaces for --container.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeObserve
import Testing
import TestSupport

@Suite("watch, record, attach and call through mbvipc-agent", .serialized)
struct RemoteVerbsTests {
    /// A watch line without what differs between two readers of the same call (the wall clock each
    /// derives from its own clock reading).
    static func stableCall(_ line: [String: Any]) -> NSDictionary {
        var l = line
        l["time_unix_ns"] = nil
        return l as NSDictionary
    }

    @Test("watch --via --json gives the same whole-call lines as a local watch; record --via writes a pcapng that replay sends again")
    func watchAndRecordVia() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rwatch")
        let server = scope.startEchoServer(name)
        defer { server.killAndReap() }
        let local = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "2", "--timeout", "30"])
        let remote = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "2", "--timeout", "30", "--via", agent])
        let record = scope.spawn(ipcscopePath, ["record", name, "-w", scope.directory + "/remote.pcapng", "--count", "2",
                                                "--duration", "30", "--via", agent])
        #expect(local.waitForOutput("watching '\(name)'", timeout: 10))
        #expect(remote.waitForOutput("watching '\(name)' on via '\(agent)'", timeout: 10), "\(remote.stderr)")
        #expect(record.waitForOutput("recording '\(name)'", timeout: 10), "\(record.stderr)")
        usleep(300_000)
        for (f, text) in [(4, "over the agent"), (5, "second whole call")] {
            let c = scope.ipcscope(["call", name, "-f", String(f), "--text", text])
            #expect(c.exitStatus == 0, "call: \(c.stderr)")
            usleep(200_000)  // one call at a time in the slots: each is seen whole
        }
        #expect(local.wait(timeout: 20) == 0 && remote.wait(timeout: 20) == 0, "\(remote.stderr)")
        let l = jsonLines(local.stdout).filter { $0["event"] as? String == "call" }
        let r = jsonLines(remote.stdout).filter { $0["event"] as? String == "call" }
        #expect(r.count == 2, "\(remote.stdout)")
        #expect(l.map(Self.stableCall) == r.map(Self.stableCall), "local \(local.stdout)\nremote \(remote.stdout)")
        #expect(r.first?["request_hex"] as? String == Array("over the agent".utf8).map { String(format: "%02x", $0) }.joined())
        #expect(r.allSatisfy { $0["partial"] as? Bool == false })

        #expect(record.wait(timeout: 20) == 0, "\(record.stderr)")
        #expect(record.stdout.contains("recorded 2 calls to \(scope.directory)/remote.pcapng: 2 complete, 0 partial"), "\(record.stdout)")
        let replay = scope.ipcscope(["replay", scope.directory + "/remote.pcapng", "--to", name])
        #expect(replay.exitStatus == 0, "\(replay.stdout) \(replay.stderr)")
        #expect(replay.stdout.contains("replayed 2 calls to '\(name)': 2 matched, 0 differed, 0 skipped"), "\(replay.stdout)")

        // A name the agent has not: the local wording and exit status, quickly.
        let missing = scope.ipcscope(["watch", name + "-none", "--via", agent, "--timeout", "5"])
        #expect(missing.exitStatus == 1 && missing.stderr.contains("no service named '\(name)-none'"), "\(missing.stderr)")
    }

    @Test("call --via: refused with what to do by an agent without --allow-calls, answered with it")
    func callVia() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rcall")
        let server = scope.startEchoServer(name)
        defer { server.killAndReap() }
        let refused = scope.ipcscope(["call", name, "-f", "3", "--text", "hi", "--via", agent])
        #expect(refused.exitStatus == 1)
        #expect(refused.stderr.contains("only reads: it was not started as 'mbvipc-agent --allow-calls'"), "\(refused.stderr)")
        let answered = scope.ipcscope(["call", name, "-f", "3", "--text", "through the agent", "--json", "--via", agent + " --allow-calls"])
        #expect(answered.exitStatus == 0, "\(answered.stderr)")
        let j = try #require(jsonObject(answered.stdout))
        #expect(j["text"] as? String == "through the agent" && int(j["status"]) == 0)
        let status = try #require(jsonObject(scope.ipcscope(["status", name, "--json"]).stdout))
        #expect(int((status["server"] as? [String: Any])?["calls_served"]) == 1)
    }

    @Test("attach --via: PLACE:NAME in the header, the call's bytes, the client pane refused without --allow-calls and answered with it")
    func attachVia() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rattach")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        defer { server.killAndReap() }
        let call = scope.ipcscope(["call", name, "--function", "9", "--text", "known-bytes:\\x01\\xff"])
        #expect(call.exitStatus == 0, "\(call.stderr)")
        for allow in [false, true] {
            let tmux = TmuxSession(scope, command: "sh -c \"cd \(scope.directory) && exec \(ipcscopePath) attach \(name) --via '\(agent)\(allow ? " --allow-calls" : "")'\"")
            defer { tmux.kill() }
            var (ok, screen) = tmux.waitFor("via mbvipc-agent:\(name)", "[LIVE]", "server pid \(server.pid)", "fn 9  14 bytes", "wire ", "rtt ")
            #expect(ok, "attach through the agent:\n\(screen)")
            #expect(lineAfter("─ Request ─", in: screen).hasPrefix("00000000  6b 6e 6f 77 6e 2d 62 79  74 65 73 3a 01 ff 00 00"))
            tmux.keys("Tab", "Tab", "Tab")
            tmux.type("4 typed\\n")
            tmux.keys("Enter")
            if allow {
                (ok, screen) = tmux.waitFor("status 0 6 bytes", "fn 4  6 bytes")
                #expect(ok, "client pane call answered through the agent:\n\(screen)")
                // W records the history from the remote section as pcapng; replay sends its whole calls again.
                (ok, screen) = tmux.waitFor("kept 2/1000, 2 whole")
                #expect(ok, "the pane's call is kept whole:\n\(screen)")
                tmux.keys("Escape")
                tmux.keys("W")
                let file = scope.directory + "/ipcscope-\(name)-history.pcapng"
                (ok, screen) = tmux.waitFor("as pcapng to \(file)")
                #expect(ok, "W reported:\n\(screen)")
                let replay = scope.ipcscope(["replay", file, "--to", name, "--function", "4"])
                #expect(replay.exitStatus == 0 && replay.stdout.contains("1 matched, 0 differed"), "\(replay.stdout) \(replay.stderr)")
            } else {
                (ok, screen) = tmux.waitFor("it was not started as")
                #expect(ok, "client pane says the agent only reads:\n\(screen)")
            }
            tmux.keys("Escape")
            tmux.keys("q")
        }
    }

    /// Every process under `pid` (children first found, then theirs).
    static func descendants(_ scope: TestScope, _ pid: Int32) -> [Int32] {
        var all: [Int32] = [], todo = [pid]
        while let p = todo.popLast() {
            let kids = scope.run("/usr/bin/pgrep", ["-P", String(p)]).stdout.split(separator: "\n").compactMap { Int32($0) }
            all += kids
            todo += kids
        }
        return all
    }

    @Test("attach --host over a real sshd: the mutex owner's pid and command from the remote side; sshd killed shows connection lost, restarted recovers")
    func attachOverSSH() throws {
        let agent = try AgentBuild.require()
        try #require(access("/usr/sbin/sshd", X_OK) == 0, "openssh-server is not installed (see .ci/run)")
        let scope = TestScope()
        defer { scope.cleanup() }
        let started = try RemoteAgentTests.startSSHD(scope)
        let (port, config) = (started.port, started.config)
        var sshd = started.sshd
        defer { for p in Self.descendants(scope, sshd.pid) { kill(p, SIGKILL) }; sshd.killAndReap() }
        let name = scope.serviceName("rssh")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        defer { server.killAndReap() }
        let c = scope.ipcscope(["call", name, "-f", "6", "--text", "hello over ssh"])
        #expect(c.exitStatus == 0)
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --host 127.0.0.1:\(port) --ssh-config \(config) --agent-command \(agent)",
                               width: 160, height: 40)
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("127.0.0.1:\(name)", "[LIVE]", "server pid \(server.pid) ipcscope serve \(name)", "fn 6  14 bytes", timeout: 30)
        #expect(ok, "attach over ssh:\n\(screen)\nsshd: \(sshd.stderr)")
        #expect(lineAfter("─ Request ─", in: screen).hasPrefix("00000000  68 65 6c 6c 6f 20 6f 76  65 72 20 73 73 68"))

        let helper = scope.spawn(helperPath, ["hold-mutex", name, "6"])
        defer { helper.killAndReap() }
        #expect(helper.waitForOutput("held pid=", timeout: 10))
        (ok, screen) = tmux.waitFor("HELD pid \(helper.pid) tid \(helper.pid)", "IPCScopeTestHel")
        #expect(ok, "the mutex owner's pid and command, judged on the section's host:\n\(screen)")
        _ = helper.wait(timeout: 10)

        // sshd and every session under it die: the screen says so and keeps retrying.
        for p in Self.descendants(scope, sshd.pid) { kill(p, SIGKILL) }
        sshd.killAndReap()
        (ok, screen) = tmux.waitFor("CONNECTION LOST, RETRYING", "connection lost, retrying", timeout: 20)
        #expect(ok, "connection lost shown:\n\(screen)")
        let later = scope.ipcscope(["call", name, "-f", "7", "--text", "while ssh was down"])
        #expect(later.exitStatus == 0)
        // The same sshd again, same port and keys: the attach recovers by itself.
        sshd = scope.spawn("/usr/sbin/sshd", ["-f", scope.directory + "/sshd_config", "-D", "-e"])
        #expect(waitUntil(timeout: 10) { sshd.stderr.contains("Server listening") || sshd.hasExited } && !sshd.hasExited, "\(sshd.stderr)")
        (ok, screen) = tmux.waitFor("[LIVE]", "connection back", "fn 7  18 bytes", timeout: 30)
        #expect(ok, "the attach recovers when sshd is back:\n\(screen)")
        #expect(!screen.contains("CONNECTION LOST"))
        tmux.keys("q")
        // Let sshd's per-connection children finish before it is stopped, so none outlives it.
        waitUntil(timeout: 5, interval: 0.05) { scope.run("/usr/bin/pgrep", ["-P", String(sshd.pid)]).exitStatus == 1 }
    }

    @Test("watch --container PID follows a server in its own namespaces; call --container reaches it with --allow-calls")
    func watchContainer() throws {
        let agent = try AgentBuild.require()
        try #require(getuid() == 0 && access("/usr/bin/unshare", X_OK) == 0, "needs root and unshare")
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = uniqueServiceName("rctr")
        let outer = scope.spawn("/usr/bin/unshare", ["--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "/bin/sh", "-c",
                                                      "mount -t tmpfs tmpfs /dev/shm && exec \"$0\" serve \"$1\" --echo", ipcscopePath, name])
        defer { outer.killAndReap() }
        #expect(outer.waitForOutput("serving", timeout: 10), "\(outer.stderr)")
        let inner = scope.run("/usr/bin/pgrep", ["-P", String(outer.pid)])
        let pid = try #require(Int32(inner.stdout.split(separator: "\n").first ?? ""), "no child of unshare: \(inner.stdout)")
        defer { kill(pid, SIGKILL) }
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "1", "--timeout", "30", "--container", String(pid),
                                               "--agent-command", agent])
        #expect(watch.waitForOutput("watching '\(name)' on container \(pid)", timeout: 10), "\(watch.stderr)")
        let call = scope.ipcscope(["call", name, "-f", "2", "--text", "inside", "--container", String(pid),
                                   "--agent-command", agent + " --allow-calls"])
        #expect(call.exitStatus == 0 && call.stdout.contains("|inside|"), "\(call.stderr)")
        #expect(watch.wait(timeout: 20) == 0, "\(watch.stderr)")
        let line = try #require(jsonLines(watch.stdout).first { $0["event"] as? String == "call" }, "\(watch.stdout)")
        #expect(line["request_hex"] as? String == "696e73696465" && int(line["function"]) == 2)
        kill(pid, SIGTERM)
        #expect(outer.wait(timeout: 10) != nil)
    }

    @Test("wall-clock times of remote calls use the agent host's REALTIME - MONOTONIC (a host booted 27 hours earlier is still right)")
    func remoteWallClock() throws {
        let agent = try AgentBuild.require()
        try #require(getuid() == 0 && access("/usr/bin/unshare", X_OK) == 0, "needs root and unshare (time namespaces)")
        let probe = TestScope().run("/usr/bin/unshare", ["--time", "--monotonic", "86400", "--fork", "/bin/true"])
        try #require(probe.exitStatus == 0, "this kernel has no time namespaces: \(probe.stderr)")
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rclock")
        // The server and the agent see a CLOCK_MONOTONIC 27 hours ahead of this process's: another
        // host's clock. Not a whole day, so a time of day on the wrong clock would be 3 hours off.
        // --kill-child: killing unshare kills the server too.
        let shifted = ["/usr/bin/unshare", "--time", "--monotonic", "97200", "--fork", "--kill-child"]
        let server = scope.spawn(shifted[0], Array(shifted.dropFirst()) + [ipcscopePath, "serve", name, "--echo"])
        defer { server.killAndReap() }
        #expect(server.waitForOutput("serving", timeout: 10), "\(server.stderr)")
        let via = (shifted + [agent]).joined(separator: " ")
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "1", "--timeout", "30", "--via", via])
        #expect(watch.waitForOutput("watching '\(name)'", timeout: 10), "\(watch.stderr)")
        let call = scope.ipcscope(["call", name, "-f", "1", "--text", "tick", "--via", via + " --allow-calls"])
        #expect(call.exitStatus == 0, "\(call.stderr)")
        #expect(watch.wait(timeout: 20) == 0, "\(watch.stderr)")
        let line = try #require(jsonLines(watch.stdout).first { $0["event"] as? String == "call" }, "\(watch.stdout)")
        let unix = try #require((line["time_unix_ns"] as? NSNumber)?.uint64Value)
        let now = UInt64(Date().timeIntervalSince1970 * 1e9)
        let off = unix > now ? unix - now : now - unix
        #expect(off < 60_000_000_000, "time_unix_ns \(unix) is \(off / 1_000_000_000) s from now: not the agent host's wall clock")

        // The plain-text line's HH:MM:SS is the same wall clock (local time zone), not a day off in monotonic terms.
        let text = scope.spawn(ipcscopePath, ["watch", name, "--limit", "1", "--timeout", "30", "--via", via])
        #expect(text.waitForOutput("watching '\(name)'", timeout: 10), "\(text.stderr)")
        #expect(scope.ipcscope(["call", name, "-f", "2", "--text", "tock", "--via", via + " --allow-calls"]).exitStatus == 0)
        #expect(text.wait(timeout: 20) == 0, "\(text.stderr)")
        let callLine = text.stdout.split(separator: "\n").first { $0.hasPrefix("#") }.map(String.init) ?? ""
        let hms = callLine.split(separator: " ").dropFirst().first?.split(separator: ".").first?.split(separator: ":").compactMap { Int($0) } ?? []
        var t = time(nil), parts = tm()
        localtime_r(&t, &parts)
        let shown = hms.count == 3 ? hms[0] * 3600 + hms[1] * 60 + hms[2] : -1_000_000
        let d = abs(shown - (Int(parts.tm_hour) * 3600 + Int(parts.tm_min) * 60 + Int(parts.tm_sec))) % 86400
        #expect(min(d, 86400 - d) < 60, "the line's time is not now on the agent host's wall clock: \(callLine)")
    }

    @Test("protocol versions: a version 1 tool still gets version 1 frames (no clock offset); version 2 brings the agent's REALTIME - MONOTONIC")
    func versions() throws {
        let agent = try AgentBuild.require()
        let scope = TestScope()
        defer { scope.cleanup() }
        let v1 = AgentFrame(.hello, [1, 0, 1, 0]).encoded + AgentFrame(.list, version: 1).encoded
        let (old, _, _) = RemoteAgentTests.agentAnswers(scope, agent, v1)
        #expect(old.map(\.type) == [0x81, 0x82] && old.allSatisfy { $0.version == 1 }, "\(old)")
        let oldHello = try AgentHello(decoding: try #require(old.first).payload)
        #expect(oldHello.version == 1 && oldHello.realtimeOffsetNS == nil)
        let v2 = AgentFrame(.hello, [1, 0, 2, 0]).encoded + AgentFrame(.list, version: 2).encoded
        let (new, _, _) = RemoteAgentTests.agentAnswers(scope, agent, v2)
        #expect(new.map(\.type) == [0x81, 0x82] && new.allSatisfy { $0.version == 2 }, "\(new)")
        let hello = try AgentHello(decoding: try #require(new.first).payload)
        var r = timespec(), m = timespec()
        clock_gettime(CLOCK_REALTIME, &r)
        clock_gettime(CLOCK_MONOTONIC, &m)
        let mine = (Int64(r.tv_sec) - Int64(m.tv_sec)) * 1_000_000_000 + Int64(r.tv_nsec) - Int64(m.tv_nsec)
        let theirs = Int64(bitPattern: try #require(hello.realtimeOffsetNS))
        #expect(abs(theirs - mine) < 1_000_000_000, "agent \(theirs), here \(mine)")

        // Version 2 leaves out pid facts that did not change since the last snapshot (bit 3);
        // version 1 always sends them. An idle served section: the second snapshot is such a delta.
        let name = scope.serviceName("rpids")
        let server = scope.startEchoServer(name)
        defer { server.killAndReap() }
        var w = PayloadWriter()
        w.string(Array(name.utf8))
        w.u32(0)
        for version: UInt16 in [1, 2] {
            let snap = AgentFrame(.snapshot, w.bytes, version: version).encoded
            let (frames, _, _) = RemoteAgentTests.agentAnswers(scope, agent, AgentFrame(.hello, [1, 0, UInt8(version), 0]).encoded + snap + snap)
            #expect(frames.map(\.type) == [0x81, 0x83, 0x93], "\(frames)")
            guard frames.count == 3 else { continue }
            let first = try AgentSnapshotReply(decoding: frames[1].payload, delta: false)
            let second = try AgentSnapshotReply(decoding: frames[2].payload, delta: true)
            #expect(first.pids.contains { $0.pid == server.pid } && !first.pidsSame)
            #expect(second.pidsSame == (version == 2) && second.pids.isEmpty == (version == 2), "version \(version): \(second.pids)")
        }
    }

    /// The push directories in /tmp right now.
    static func pushDirectories() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("mbvipc-agent.") })
    }

    @Test("--push-agent: a host with no agent on PATH gets the static agent over the same ssh connection, in a private directory removed afterwards")
    func pushAgent() throws {
        let agent = try AgentBuild.require()
        try #require(access("/usr/sbin/sshd", X_OK) == 0, "openssh-server is not installed (see .ci/run)")
        let scope = TestScope()
        defer { scope.cleanup() }
        let (port, config, sshd) = try RemoteAgentTests.startSSHD(scope)
        defer { for p in Self.descendants(scope, sshd.pid) { kill(p, SIGKILL) }; sshd.killAndReap() }
        let none = scope.run("/usr/bin/ssh", ["-F", config, "-p", String(port), "127.0.0.1", "command -v mbvipc-agent"], timeout: 30)
        try #require(none.exitStatus != 0, "the target has an agent on PATH already (\(none.stdout)): the push would not be tested")
        let name = scope.serviceName("rpush")
        let server = scope.startEchoServer(name)
        defer { server.killAndReap() }
        // Without --push-agent: one line that says what is missing there and names the flag, with
        // this machine's agent when one is beside ipcscope or on PATH.
        let plain = ["--host", "127.0.0.1:\(port)", "--ssh-config", config]
        let missing = scope.run(ipcscopePath, ["status", name] + plain, timeout: 60, environment: ["PATH": "/usr/bin:/bin"])
        #expect(missing.exitStatus == 1 && missing.stderr.contains("127.0.0.1 has no mbvipc-agent on PATH")
                && missing.stderr.contains("--push-agent FILE"), "\(missing.stderr)")
        let agentDir = String(agent[..<agent.lastIndex(of: "/")!])
        let named = scope.run(ipcscopePath, ["status", name] + plain, timeout: 60, environment: ["PATH": agentDir + ":/usr/bin:/bin"])
        #expect(named.exitStatus == 1 && named.stderr.contains("--push-agent \(agent)"), "\(named.stderr)")
        let before = Self.pushDirectories()
        let host = ["--host", "127.0.0.1:\(port)", "--ssh-config", config, "--push-agent", agent]
        let status = scope.ipcscope(["status", name] + host, timeout: 60)
        #expect(status.exitStatus == 0, "\(status.stderr)")
        #expect(status.stdout.contains("\(server.pid) (ipcscope serve \(name) --echo)"), "\(status.stdout)")
        let call = scope.ipcscope(["call", name, "-f", "3", "--text", "pushed", "--agent-command", "mbvipc-agent --allow-calls"] + host, timeout: 60)
        #expect(call.exitStatus == 0 && call.stdout.contains("|pushed|"), "\(call.stderr)")
        // While an agent runs, its private directory exists; it goes when the agent exits.
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "1", "--timeout", "30"] + host)
        #expect(watch.waitForOutput("watching '\(name)' on 127.0.0.1", timeout: 30), "\(watch.stderr)")
        let running = Self.pushDirectories().subtracting(before)
        #expect(running.count == 1, "push directories while watching: \(running)")
        if let d = running.first {
            var st = stat()
            #expect(stat("/tmp/" + d, &st) == 0 && st.st_mode & 0o777 == 0o700, "mktemp -d makes it private")
        }
        #expect(scope.ipcscope(["call", name, "-f", "1", "--text", "seen"]).exitStatus == 0)
        #expect(watch.wait(timeout: 20) == 0, "\(watch.stderr)")
        #expect(jsonLines(watch.stdout).first { $0["event"] as? String == "call" }?["request_hex"] as? String == "7365656e")
        let cleaned = waitUntil(timeout: 10, interval: 0.05) { Self.pushDirectories().subtracting(before).isEmpty }
        #expect(cleaned, "left behind: \(Self.pushDirectories().subtracting(before))")
        let bad = scope.ipcscope(["status", name, "--via", agent, "--push-agent", agent])
        #expect(bad.exitStatus == 64 && bad.stderr.contains("--push-agent goes with --host"), "\(bad.stderr)")
        waitUntil(timeout: 5, interval: 0.05) { scope.run("/usr/bin/pgrep", ["-P", String(sshd.pid)]).exitStatus == 1 }
    }
}
