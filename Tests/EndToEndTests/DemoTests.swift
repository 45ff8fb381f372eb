// `ipcscope demo`: the summary without a terminal, the inspector in tmux, and that nothing
// (process or /dev/shm object) is left behind however the demo ends.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeDemo
import IPCScopeKit
import Testing
import TestSupport

/// Pids of processes whose command line contains `text` (read from /proc/*/cmdline).
func processes(containing text: String) -> [pid_t] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var found: [pid_t] = []
    while let e = readdir(dir) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        guard let pid = pid_t(name), pid != getpid() else { continue }
        let cmdline = readFile("/proc/\(pid)/cmdline").replacingNUL()
        if cmdline.contains(text) { found.append(pid) }
    }
    return found
}

extension String {
    fileprivate func replacingNUL() -> String { String(map { $0 == "\0" ? " " : $0 }) }
}

/// The first integer after `"key":` in one line of JSON.
func jsonInt(_ json: String, _ key: String) -> Int? {
    guard let r = json.firstRange(of: "\"\(key)\":") else { return nil }
    return Int(json[r.upperBound...].prefix(while: { $0 == "-" || $0.isNumber }))
}

@Suite("Demo", .serialized)
struct DemoTests {
    // MARK: - the service's functions, in-process

    @Test("demo functions: echo, put/get as structs (created, added, kept, replaced, overflow, malformed), slow, fail, unknown")
    func functions() throws {
        let name = uniqueServiceName("demofn")
        let runner = try DemoRunner(service: name)
        runner.startServer()
        defer { runner.stop() }
        let client = try Client(service: name)
        defer { client.disconnect() }
        func call(_ f: UInt32, _ text: String) throws -> (Int32, String) {
            let r = try client.call(function: f, payload: Array(text.utf8), timeout: .seconds(5))
            return (r.status, String(decoding: r.data, as: UTF8.self))
        }
        func send(_ f: DemoFunction, _ payload: [UInt8]) throws -> (Int32, [UInt8]) {
            let r = try client.call(function: f.rawValue, payload: payload, timeout: .seconds(5))
            return (r.status, r.data)
        }
        func put(_ key: String, _ flags: DemoPutFlags = [], _ value: Int64) throws -> DemoPutAnswer? {
            let (status, data) = try send(.put, DemoPutRequest(key: key, flags: flags, value: value).encoded())
            return status == 0 ? DemoPutAnswer.decode(data) : nil
        }
        func get(_ key: String) throws -> (Int32, DemoGetAnswer?) {
            let (status, data) = try send(.get, DemoGetRequest(key: key).encoded())
            return (status, DemoGetAnswer.decode(data))
        }
        #expect(try call(0, "ping") == (0, "ping"))
        #expect(try put("fruit", [], 5) == DemoPutAnswer(previous: 0, version: 1, result: .created))
        #expect(try put("fruit", .add, 3) == DemoPutAnswer(previous: 5, version: 2, result: .added))
        #expect(try put("fruit", .ifAbsent, 99) == DemoPutAnswer(previous: 8, version: 2, result: .kept))
        #expect(try put("fruit", [], -1) == DemoPutAnswer(previous: 8, version: 3, result: .replaced))
        #expect(try get("fruit") == (0, DemoGetAnswer(value: -1, version: 3, last: .replaced)))
        #expect(try get("vegetable") == (DemoStatus.noSuchKey, nil))
        #expect(try put("big", [], .max) != nil)
        #expect(try send(.put, DemoPutRequest(key: "big", flags: .add, value: 1).encoded()) == (DemoStatus.overflow, []))
        #expect(try get("big").1?.value == .max, "an overflowing add leaves the value as it was")
        #expect(try send(.put, Array("fruit=apple".utf8)) == (DemoStatus.malformed, []), "the old text form is the wrong size")
        #expect(try send(.get, Array("fruit".utf8)) == (DemoStatus.malformed, []))
        let long = DemoPutRequest(key: "a-key-longer-than-15-bytes", value: 1)
        #expect(long.encoded()[15] == 0, "a key is cut so that its NUL fits")
        #expect(DemoPutRequest.decode(long.encoded())?.key == Array("a-key-longer-th".utf8))
        let t0 = now()
        #expect(try call(3, "60") == (0, "slept 60 ms"))
        #expect(now() - t0 >= 0.055)
        let (status, message) = try call(4, "")
        #expect(status == 7 && message.contains("status 7"))
        #expect(try call(9, "").0 == -3)
    }

    @Test("the report a client writes reads back the same")
    func reportRoundTrip() {
        var s = DemoStats()
        s.clients = 1
        s.callsByFunction = [0: 5, 9: 1]
        s.answersByStatus = [0: 4, -3: 1, 7: 1]
        s.failures = ["timeout": 2]
        _ = s.latency.record(12_345)
        _ = s.latency.record(150_000_000)
        s.elapsedNS = 3_000_000_000
        let back = DemoStats.decode(s.encoded())
        #expect(back?.callsByFunction == s.callsByFunction)
        #expect(back?.answersByStatus == s.answersByStatus)
        #expect(back?.failures == s.failures)
        #expect(back?.latency.totalCount == 2)
        #expect(back?.elapsedNS == s.elapsedNS)
        #expect(DemoStats.decode("garbage") == nil)
    }

    // MARK: - --no-tui

    @Test("demo --no-tui --json: calls of every function, errors counted, latency, nothing left")
    func noTUISummaryJSON() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.ipcscope(["demo", "--no-tui", "--seconds", "3", "--json", "--name", name], timeout: 30)
        #expect(demo.exitStatus == 0, "exit \(String(describing: demo.exitStatus)): \(demo.stderr)")
        let json = demo.stdout
        #expect((jsonInt(json, "calls") ?? 0) > 20, "\(json)")
        for function in ["echo", "put", "get", "slow", "fail", "unknown(9)"] {
            #expect((jsonInt(json, function) ?? 0) > 0, "function \(function) in \(json)")
        }
        #expect((jsonInt(json, "7") ?? 0) > 0, "status 7 (fail) counted: \(json)")
        #expect((jsonInt(json, "-3") ?? 0) > 0, "status -3 (unknown function) counted: \(json)")
        #expect((jsonInt(json, "errors") ?? 0) >= (jsonInt(json, "7") ?? 0) + (jsonInt(json, "-3") ?? 0))
        #expect((jsonInt(json, "p50") ?? 0) > 0 && (jsonInt(json, "p99") ?? 0) >= (jsonInt(json, "p50") ?? 0))
        #expect(jsonInt(json, "calls_served") == jsonInt(json, "answered"), "the section served what the clients saw: \(json)")
        #expect(jsonInt(json, "missing_reports") == 0)
        #expect(json.contains("\"section_removed\":true"))
        #expect(!scope.objectExists(name))
        #expect(processes(containing: "demo-client \(name)").isEmpty)
    }

    @Test("demo --no-tui: the summary for a person")
    func noTUISummaryText() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.ipcscope(["demo", "--no-tui", "--seconds", "1.5", "--clients", "2", "--name", name], timeout: 30)
        #expect(demo.exitStatus == 0, "\(demo.stderr)")
        let out = demo.stdout
        for line in ["calls ", "by function  echo", "by status    0 ok", "errors ", "latency      p50", "section ",
                     "cleanup      server stopped, clients ended, /dev/shm/ipcscope.\(name) removed"] {
            #expect(out.contains(line), "'\(line)' in:\n\(out)")
        }
        #expect(out.contains("2 client processes"))
        #expect(!scope.objectExists(name))
    }

    @Test("without a terminal, demo refuses the inspector and suggests --no-tui")
    func refusesWithoutTerminal() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.ipcscope(["demo", "--name", name], timeout: 10)
        #expect(demo.exitStatus == 1)
        #expect(demo.stderr.contains("--no-tui"), "\(demo.stderr)")
        #expect(!scope.objectExists(name), "nothing was created")
    }

    // MARK: - stopping it

    @Test("SIGTERM stops the demo: exit 143, clients ended, section removed")
    func sigterm() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.spawn(ipcscopePath, ["demo", "--no-tui", "--seconds", "60", "--name", name])
        #expect(waitUntil(timeout: 10) { processes(containing: "demo-client \(name)").count == 3 })
        demo.signal(SIGTERM)
        #expect(demo.wait(timeout: 10) == 143, "\(demo.stderr)")
        #expect(demo.stderr.contains("removed"), "\(demo.stderr)")
        #expect(!scope.objectExists(name))
        #expect(waitUntil(timeout: 5) { processes(containing: "demo-client \(name)").isEmpty })
    }

    @Test("SIGKILL of the demo: its clients end by themselves and remove the orphaned section")
    func sigkill() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demo")
        let demo = scope.spawn(ipcscopePath, ["demo", "--no-tui", "--seconds", "60", "--name", name])
        #expect(waitUntil(timeout: 10) { processes(containing: "demo-client \(name)").count == 3 })
        demo.signal(SIGKILL)
        #expect(demo.wait(timeout: 5) == 128 + SIGKILL)
        #expect(waitUntil(timeout: 10) { processes(containing: "demo-client \(name)").isEmpty }, "clients left")
        #expect(waitUntil(timeout: 5) { !scope.objectExists(name) }, "the section is left")
    }
}
