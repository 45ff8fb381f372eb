// The NT agent, mbvipc-agent.exe (Sources/MBVIPC/agent/agent_nt.c on the portable core), for real:
// built by Makefile.nt with the rest of the Windows programs, run under wine64 in the run's own
// Wine prefix (WineWorld, NTBackendTests.swift) beside Windows servers in paging-file mode, whose
// sections no Linux process can map. `ipcscope status/list --via 'wine mbvipc-agent.exe'` reads them;
// the raw protocol is spoken to it directly; hostile frames get one ERROR each, within the deadline.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeObserve
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: WineWorld.enabled, "wine64 and mingw-w64 are not installed (apt-get install -y wine64 gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64-win32); CI=true runs this suite regardless"))
struct NTAgentTests {
    static let gxx = "/usr/bin/x86_64-w64-mingw32-g++"
    static let paging = ["MBVIPC_NT_BACKING": "section"]

    func world() throws -> WineWorld {
        try #require(WineWorld.toolsPresent, "CI=true but wine64 or mingw-w64 is missing: install wine64 gcc-mingw-w64-x86-64")
        return try #require(WineWorld.shared, "\(WineWorld.failure)")
    }

    /// The agent as a `--via` command: wine64 in the run's prefix (the same wineserver, so the same
    /// \BaseNamedObjects and NT pids as the programs under test).
    func via(_ w: WineWorld, _ extra: String = "") -> String {
        let env = w.environment.sorted { $0.key < $1.key }.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        return "env \(env) \(WineWorld.wine) \(w.exe("mbvipc-agent"))" + (extra.isEmpty ? "" : " " + extra)
    }

    /// Runs the agent with `input` as its whole standard input; returns its frames, exit status and seconds.
    func raw(_ w: WineWorld, _ scope: TestScope, _ input: [UInt8], arguments: [String] = [], timeout: Double = 30)
        -> (frames: [AgentFrame], error: AgentProtocolError?, exit: Int32?, seconds: Double, stderr: String) {
        let path = scope.directory + "/in-\(UInt64(now() * 1e6))"
        _ = FileManager.default.createFile(atPath: path, contents: Data(input))
        let start = now()
        let run = scope.run(WineWorld.wine, [w.exe("mbvipc-agent")] + arguments, timeout: timeout,
                            environment: w.environment, stdinPath: path)
        let seconds = now() - start
        var decoder = FrameDecoder()
        decoder.append([UInt8](FileManager.default.contents(atPath: run.outPath) ?? Data()))
        var frames: [AgentFrame] = []
        var failure: AgentProtocolError?
        do {
            while let f = try decoder.next() { frames.append(f) }
            failure = decoder.endError
        } catch {
            failure = error
        }
        return (frames, failure, run.exitStatus, seconds, run.stderr)
    }

    static let hello = AgentFrame(.hello, [1, 0, 2, 0]).encoded
    static func snapshot(_ name: String, full: Bool = true) -> [UInt8] {
        var w = PayloadWriter()
        w.string(Array(name.utf8))
        w.u32(full ? 1 : 0)
        return AgentFrame(.snapshot, w.bytes).encoded
    }

    /// The examples of the original design (CLibraryBuildTests), verbatim, built for Windows with
    /// mingw-w64's g++ against the NT library (C runtime build).
    func buildOriginals(_ w: WineWorld, _ scope: TestScope) throws -> (server: String, client: String) {
        try #require(access(Self.gxx, X_OK) == 0, "x86_64-w64-mingw32-g++ is missing: apt-get install -y g++-mingw-w64-x86-64-win32")
        let lib = WineWorld.repoRoot + "/Sources/MBVIPC"
        var out: [String] = []
        for (file, text) in [("server.cpp", CLibraryBuildTests.originalServer), ("client.cpp", CLibraryBuildTests.originalClient)] {
            let src = scope.file(file, text), exe = scope.directory + "/" + file.dropLast(4) + ".exe"
            let c = scope.run(Self.gxx, ["-std=c++11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-I" + lib + "/include",
                                         "-I" + WineWorld.repoRoot + "/Sources/CIPCScope/include", "-o", exe, src,
                                         w.build + "/nt/libmbvipc.a", "-lntdll", "-static"], timeout: 180)
            try #require(c.exitStatus == 0, "\(file): \(c.stderr)")
            out.append(exe)
        }
        return (out[0], out[1])
    }

    @Test("the original server in paging-file mode, called by the original client, is live through mbvipc-agent.exe; Linux sees nothing",
          .timeLimit(.minutes(5)))
    func originalServerThroughAgent() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let (serverExe, clientExe) = try buildOriginals(w, scope)
        // The original examples name their service MyService; the run's own Wine prefix is its own
        // object namespace, so the name is unique to this run.
        let server = w.spawn(scope, serverExe, [], extra: Self.paging)
        var reply = ""
        _ = waitUntil(timeout: 30, interval: 0.2) {
            reply = w.run(scope, clientExe, [], timeout: 20, extra: Self.paging).stdout
            return reply.contains("Reply:") || server.hasExited
        }
        #expect(reply == "Reply: hello\r\n", "\(reply.debugDescription) server: \(server.stdout) \(server.stderr)")
        #expect(!scope.objectExists("MyService"), "a paging-file section has no /dev/shm object")

        let status = scope.ipcscope(["status", "--via", via(w), "MyService", "--json"], timeout: 60)
        #expect(status.exitStatus == 0, "\(status.stdout) \(status.stderr)")
        let json = try #require(jsonObject(status.stdout), "\(status.stdout) \(status.stderr)")
        #expect(json["alive"] as? Bool == true, "\(status.stdout)")
        let srv = try #require(json["server"] as? [String: Any], "\(status.stdout)")
        #expect(srv["epoch"] as? Int == 1)
        #expect(srv["calls_served"] as? Int == 1, "\(status.stdout)")
        #expect(srv["nt_objects"] as? Bool == true)
        // The agent's pid facts are NT facts: the server's command line is the Windows program's.
        #expect((srv["command"] as? String ?? "").contains("server.exe"), "\(status.stdout)")
        let state = try #require(json["state"] as? [String: Any])
        #expect(state["name"] as? String == "IDLE", "\(status.stdout)")
        let trace = (json["trace"] as? [String: Any])?["records"] as? [[String: Any]] ?? []
        #expect(trace.count == 1, "the client's one call is in the trace: \(status.stdout)")

        let text = scope.ipcscope(["status", "--via", via(w), "MyService"], timeout: 60)
        #expect(text.stdout.contains("liveness lock     alive"), "\(text.stdout) \(text.stderr)")

        let list = scope.ipcscope(["list", "--via", via(w)], timeout: 60)
        #expect(list.exitStatus == 0, "\(list.stdout) \(list.stderr)")
        // The row: the NT pid, the Windows program's command line (the agent's NT facts), alive, IDLE, 1 call.
        let row = list.stdout.split(separator: "\n").first { $0.contains(":MyService ") } ?? ""
        let cols = row.split(separator: " ").map(String.init)
        #expect(cols.contains("yes") && cols.contains("IDLE") && row.contains("\"Z:"), "\(list.stdout)")
        // Linux's own list never sees a paging-file section.
        let local = scope.ipcscope(["list"])
        #expect(!local.stdout.split(separator: "\n").contains { $0.hasPrefix("MyService ") }, "\(local.stdout)")
        let localStatus = scope.ipcscope(["status", "MyService"])
        #expect(localStatus.exitStatus != 0)

        server.killAndReap()
        // The agent holds no handle between snapshots, so the Section went with its server.
        let gone = scope.ipcscope(["status", "--via", via(w), "MyService"], timeout: 60)
        #expect(gone.exitStatus != 0 && gone.stderr.contains("no service named 'MyService'"), "\(gone.stdout) \(gone.stderr)")
    }

    @Test("attach, watch --json and record through mbvipc-agent.exe show the original client's call to a paging-file server",
          .timeLimit(.minutes(5)))
    func watchingVerbsThroughAgent() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let (serverExe, clientExe) = try buildOriginals(w, scope)
        let server = w.spawn(scope, serverExe, [], extra: Self.paging)
        let ready = waitUntil(timeout: 30, interval: 0.3) {
            scope.ipcscope(["status", "--via", via(w), "MyService"], timeout: 30).exitStatus == 0 || server.hasExited
        }
        try #require(ready && !server.hasExited, "server: \(server.stdout) \(server.stderr)")

        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach MyService --via \"\(via(w))\"")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("via wine", ":MyService", "[LIVE]", "server.exe", timeout: 30)
        #expect(ok, "\(screen)")
        let pcap = scope.directory + "/nt.pcapng"
        let watch = scope.spawn(ipcscopePath, ["watch", "MyService", "--json", "--limit", "1", "--timeout", "60", "--via", via(w)])
        let record = scope.spawn(ipcscopePath, ["record", "MyService", "-w", pcap, "--count", "1", "--duration", "120", "--via", via(w)])
        #expect(watch.waitForOutput("watching 'MyService'", timeout: 30), "\(watch.stderr)")
        #expect(record.waitForOutput("recording 'MyService'", timeout: 30), "\(record.stderr)")

        let reply = w.run(scope, clientExe, [], timeout: 20, extra: Self.paging).stdout
        #expect(reply == "Reply: hello\r\n", "\(reply.debugDescription)")

        // The screen: the call in the history, both dumps holding "hello", the Mutant free again.
        (ok, screen) = tmux.waitFor("fn 1  6 bytes", "status 0  6 bytes", "hello.", timeout: 30)
        #expect(ok, "\(screen)")
        tmux.keys("q")

        #expect(watch.wait(timeout: 60) == 0, "\(watch.stderr)")
        let calls = jsonLines(watch.stdout).filter { $0["event"] as? String == "call" }
        let hello = "68656c6c6f00"  // "hello" and its NUL, as the original client sends it
        #expect(calls.count == 1 && calls.first?["function"] as? Int == 1, "\(watch.stdout)")
        #expect(calls.first?["request_hex"] as? String == hello && calls.first?["response_hex"] as? String == hello, "\(watch.stdout)")
        #expect(calls.first?["partial"] as? Bool == false, "\(watch.stdout)")

        #expect(record.wait(timeout: 60) == 0, "\(record.stderr)")
        #expect(record.stdout.contains("recorded 1 call") && record.stdout.contains("1 complete, 0 partial"), "\(record.stdout)")
        #expect((try? FileManager.default.attributesOfItem(atPath: pcap)[.size] as? Int) ?? 0 > 100)
        server.killAndReap()
    }

    @Test("a raw snapshot through the .exe shows a call in progress: its request bytes, the client's pid, the owner record",
          .timeLimit(.minutes(3)))
    func rawSnapshotOfCallInProgress() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let name = scope.serviceName("ntagent")
        let server = w.spawn(scope, w.exe("echo_server"), [name], extra: Self.paging)
        try #require(server.waitForOutput("serving \(name) pid ", timeout: 30), "\(server.stdout) \(server.stderr)")
        let client = w.spawn(scope, w.exe("call_client"), [name, "slow", "8000"], extra: Self.paging)
        try #require(client.waitForOutput("calling", timeout: 20), "\(client.stdout)")
        sleepSeconds(0.5)
        let r = raw(w, scope, Self.hello + Self.snapshot(name) + AgentFrame(.bye).encoded)
        #expect(r.error == nil, "\(String(describing: r.error)) \(r.stderr)")
        try #require(r.frames.count == 3, "\(r.frames.map(\.type)) \(r.stderr)")
        let hello = try AgentHello(decoding: r.frames[0].payload)
        #expect(hello.os.hasPrefix("Windows NT "), "\(hello.os)")
        #expect(hello.build.contains("mbvipc-agent.exe"))
        try #require(r.frames[1].type == AgentMessage.snapshotFull.rawValue, "\(r.frames[1].type) \(decodeAgentError(r.frames[1].payload))")
        let reply = try AgentSnapshotReply(decoding: r.frames[1].payload, delta: false)
        #expect(reply.alive, "the .server Mutant is held")
        let snap = AgentConnection.assemble(service: name, bytes: reply.bytes, reply: reply, clockTicks: 10_000_000, ntPids: true).snapshot
        #expect(snap.isValid, "\(snap.problems)")
        #expect(snap.state?.name == "PROCESSING")
        // call_client's slow call: function 2, 4 bytes, the milliseconds (4000) little-endian.
        #expect(snap.requestFunction == 2 && snap.requestSize == 4, "\(snap.requestFunction) \(snap.requestSize)")
        #expect(snap.requestPayload == [0x40, 0x1F, 0, 0], "\(snap.requestPayload)")
        // The client holds the .mutex Mutant: the owner record names it, and the agent's facts say it lives.
        #expect(snap.ownerPID != 0 && snap.ownerPID == snap.requestClientPID, "\(snap.ownerPID) \(snap.requestClientPID)")
        let owner = try #require(reply.pids.first { $0.pid == snap.ownerPID }, "\(reply.pids)")
        #expect(owner.state == .lives && String(decoding: owner.command, as: UTF8.self) == "call_client.exe", "\(owner)")
        #expect(owner.roles & 2 != 0 && owner.roles & 8 != 0, "owner and request client: \(owner.roles)")
        let srv = try #require(reply.pids.first { $0.roles & 1 != 0 }, "\(reply.pids)")
        #expect(srv.startTime == snap.serverStartTime, "the start time is the one the server recorded (CreateTime)")
        #expect(String(decoding: srv.commandLine, as: UTF8.self).contains("echo_server.exe"), "\(srv)")
        #expect(r.frames[2].type == AgentMessage.byeOK.rawValue)
        // `status --json` through the agent, still during the call: the client holding the .mutex
        // Mutant, by its owner record, with the command the agent's NT facts give.
        let status = scope.ipcscope(["status", "--via", via(w), name, "--json"], timeout: 60)
        let json = try #require(jsonObject(status.stdout), "\(status.stdout) \(status.stderr)")
        let owner2 = ((json["mutex"] as? [String: Any])?["owner"] as? [String: Any]) ?? [:]
        #expect(owner2["pid"] as? Int == Int(snap.ownerPID) && owner2["command"] as? String == "call_client.exe", "\(status.stdout)")
        #expect((json["state"] as? [String: Any])?["name"] as? String == "PROCESSING", "\(status.stdout)")
        #expect(r.exit == 0, "\(r.stderr)")
        _ = client.wait(timeout: 15)
        #expect(client.stdout.contains("ok 4"), "\(client.stdout)")
    }

    @Test("hostile frames to the .exe: one ERROR each, no crash, an answer or an exit within the deadline", .timeLimit(.minutes(5)))
    func hostileFrames() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        // (input, the ERROR code, the exit status)
        let header = Array(Self.snapshot("x").prefix(16))
        var huge = AgentFrame(.snapshot, []).encoded
        huge.replaceSubrange(8..<12, with: [0xF0, 0xFF, 0xFF, 0x7F])
        let wrongVersion = AgentFrame(.list, [], version: 7).encoded
        let cases: [(String, [UInt8], UInt32, Int32)] = [
            ("truncated payload", Self.hello + Array(Self.snapshot("abc").dropLast(3)), 1, 1),
            ("truncated header", Self.hello + Array(header.prefix(9)), 1, 1),
            ("huge length", Self.hello + huge, 1, 1),
            ("wrong version", Self.hello + wrongVersion, 2, 0),
            ("garbage", Self.hello + Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), 1, 1),
            ("a bad name", Self.hello + Self.snapshot("../etc"), 8, 0),
            ("a call without --allow-calls", Self.hello + AgentFrame(.call, [1, 0, 0x41, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).encoded, 9, 0),
            ("a request before HELLO", AgentFrame(.list).encoded, 12, 0),
        ]
        for (what, input, code, exit) in cases {
            let r = raw(w, scope, input, timeout: 30)
            let errors = r.frames.filter { $0.type == AgentMessage.error.rawValue }
            #expect(errors.count == 1, "\(what): \(r.frames.map(\.type)) \(r.stderr)")
            if case .agent(let got, let message)? = errors.first.map({ decodeAgentError($0.payload) }) {
                #expect(got == code, "\(what): \(got) \(message)")
            }
            #expect(r.exit == exit, "\(what): exit \(String(describing: r.exit)) \(r.stderr)")
            #expect(r.error == nil, "\(what): the answers are whole frames: \(String(describing: r.error))")
            // Wine's start included; the stream has ended, so no deadline is waited for.
            #expect(r.seconds < 10, "\(what): \(r.seconds) s")
        }
        // A frame that stops arriving (its writer keeps the pipe open): ERROR 13 after --frame-timeout.
        let path = scope.directory + "/stall"
        _ = FileManager.default.createFile(atPath: path, contents: Data(Self.hello + Array(Self.snapshot("abc").prefix(20))))
        // The writer holds the pipe open for 15 s (the subshell becomes that sleep, stopped once the agent has exited).
        let fifo = scope.directory + "/stall.fifo"
        let stalled = scope.run("/bin/sh", ["-c", "mkfifo '\(fifo)'; (cat '\(path)'; exec sleep 15) > '\(fifo)' & w=$!; start=$(date +%s%N); "
                                            + via(w, "--frame-timeout 2") + " < '\(fifo)'"
                                            + "; echo \"exit $? after $(( ($(date +%s%N) - start) / 1000000 )) ms\" >&2; kill $w"],
                                timeout: 40)
        var decoder = FrameDecoder()
        decoder.append([UInt8](FileManager.default.contents(atPath: stalled.outPath) ?? Data()))
        var frames: [AgentFrame] = []
        while let f = try decoder.next() { frames.append(f) }
        #expect(frames.map(\.type) == [AgentMessage.helloOK.rawValue, AgentMessage.error.rawValue], "\(frames.map(\.type))")
        if case .agent(let code, _)? = frames.last.map({ decodeAgentError($0.payload) }) { #expect(code == 13) }
        let line = stalled.stderr.split(separator: "\n").first { $0.hasPrefix("exit ") } ?? ""
        #expect(line.hasPrefix("exit 1 after "), "\(stalled.stderr)")
        // Wine's start (a second or two) plus the 2 s deadline, far from the 15 s the writer stays.
        let ms = Int(line.split(separator: " ").dropFirst(3).first ?? "") ?? .max
        #expect(ms < 10_000, "\(line)")
    }

    @Test("mbvipc-agent.exe imports ntdll.dll alone, stays small, and answers --version")
    func agentImportsOnlyNtdll() throws {
        let w = try world()
        let scope = TestScope()
        defer { scope.cleanup(); w.killAll() }
        let exe = w.exe("mbvipc-agent")
        let dlls = scope.run(WineWorld.objdump, ["-p", exe]).stdout.split(separator: "\n")
            .filter { $0.contains("DLL Name:") }.map { $0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces) }
        #expect(dlls == ["ntdll.dll"], "\(dlls)")
        var st = stat()
        #expect(stat(exe, &st) == 0 && st.st_size < 200 * 1024, "\(st.st_size) bytes")
        print("NTAgentTests: mbvipc-agent.exe is \(st.st_size) bytes")
        let version = w.run(scope, exe, ["--version"])
        #expect(version.stdout.hasPrefix("mbvipc-agent.exe 1.0.0") && version.stdout.contains("(protocol 1..2)"), "\(version.stdout)")
        let bad = w.run(scope, exe, ["--idle", "0"])
        #expect(bad.exitStatus == 64 && bad.stderr.contains("--idle takes whole seconds from 1 to 86400, not '0'"), "\(bad.stderr)")
    }
}
