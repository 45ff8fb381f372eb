// The exporter's model on real sections: an in-process server and client, and objects planted
// by hand (garbage, truncated, a FIFO, a stale section taken over). Each test exports only the
// services it made, so sections of other tests on the host do not change its figures.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeExporter
import IPCScopeKit
import IPCScopeObserve
import Foundation
import Synchronization
import Testing
import TestSupport

@Suite("Exporter model", .serialized)
struct ExporterModelTests {
    /// An in-process server answering every call with its payload, on its own thread (not the
    /// cooperative pool, which other suites' blocking waits may fill).
    final class EchoServer: @unchecked Sendable {
        let server: Server
        final class Flag: Sendable { let value = Mutex(false) }
        let done = Flag()
        init(_ name: String) throws {
            let s = try Server(service: name)
            server = s
            let thread = Thread { [done] in
                s.run { request, response in
                    try response.set(Array(request.payload))
                    return 0
                }
                done.value.withLock { $0 = true }
            }
            thread.start()
        }
        func stop() {
            server.stop()
            _ = waitUntil(timeout: 10) { done.value.withLock { $0 } }
        }
    }

    static func scrape(_ model: ExporterModel) -> [Sample] { samples(String(decoding: model.scrape(), as: UTF8.self)) }

    @Test("a served section: calls served, per-function calls and latency histogram, up, epoch; gone when its server stops")
    func servedSection() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("exp")
        let server = try EchoServer(name)
        let model = ExporterModel(options: ExporterOptions(services: [name]))
        let client = try Client(service: name)
        for _ in 0..<5 { _ = try client.call(function: 1, payload: Array("one".utf8)) }
        for _ in 0..<3 { _ = try client.call(function: 2, payload: Array("two".utf8)) }
        let s = Self.scrape(model)
        #expect(s.value("ipcscope_server_up", ["service": name]) == 1)
        #expect(s.value("ipcscope_server_epoch", ["service": name]) == 1)
        #expect(s.value("ipcscope_server_takeovers_total", ["service": name]) == 0)
        #expect(s.value("ipcscope_calls_served_total", ["service": name]) == 8)
        #expect(s.value("ipcscope_calls_rejected_total", ["service": name]) == 0)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "1"]) == 5)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "2"]) == 3)
        #expect(s.value("ipcscope_call_duration_seconds_count", ["service": name, "function": "1"]) == 5)
        #expect(s.value("ipcscope_call_duration_seconds_bucket", ["service": name, "function": "2", "le": "+Inf"]) == 3)
        #expect(s.value("ipcscope_section_state", ["service": name, "state": "IDLE"]) == 1)
        #expect(s.value("ipcscope_section_state", ["service": name, "state": "PROCESSING"]) == 0)
        #expect((s.value("ipcscope_mutex_locks_total", ["service": name]) ?? 0) >= 8)
        #expect((s.value("ipcscope_server_heartbeat_age_seconds", ["service": name]) ?? 99) < 5)
        #expect(s.value("ipcscope_exporter_sections", ["condition": "live"]) == 1)

        // Only new records are added at the next scrape; counters never go back.
        for _ in 0..<2 { _ = try client.call(function: 1, payload: []) }
        let s2 = Self.scrape(model)
        #expect(s2.value("ipcscope_function_calls_total", ["service": name, "function": "1"]) == 7)
        #expect(s2.value("ipcscope_calls_served_total", ["service": name]) == 10)

        server.stop()
        #expect(waitUntil(timeout: 5) { !scope.objectExists(name) })
        let s3 = Self.scrape(model)
        #expect(s3.of(service: name).isEmpty, "a removed section's series are dropped")
        #expect(s3.value("ipcscope_exporter_sections", ["condition": "live"]) == 0)
    }

    @Test("functions past --max-functions are counted as function=\"other\"")
    func cardinalityLimit() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("expcard")
        let server = try EchoServer(name)
        let model = ExporterModel(options: ExporterOptions(services: [name], maxFunctions: 2))
        let client = try Client(service: name)
        for f: UInt32 in [10, 20, 30, 40, 40, 10] { _ = try client.call(function: f, payload: []) }
        let s = Self.scrape(model)
        server.stop()
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "10"]) == 2)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "20"]) == 1)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "other"]) == 3)
        let functions = Set(s.of(service: name).compactMap { $0.labels["function"] })
        #expect(functions == ["10", "20", "other"])
    }

    @Test("a stale section: up 0, takeovers from its epoch; counters folded when they go back or the object is replaced")
    func staleAndTakenOver() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("expstale")
        let model = ExporterModel(options: ExporterOptions(services: [name]))
        #expect(Self.scrape(model).of(service: name).isEmpty)
        // Appears after the exporter started: followed from the next scrape.
        var b = SectionBytes(traceCapacity: 0)
        b.server(pid: 0, epoch: 3, heartbeat: 1, served: 7)
        plantSection(name, bytes: b.bytes, size: b.bytes.count)
        let s = Self.scrape(model)
        #expect(s.value("ipcscope_server_up", ["service": name]) == 0)
        #expect(s.value("ipcscope_server_epoch", ["service": name]) == 3)
        #expect(s.value("ipcscope_server_takeovers_total", ["service": name]) == 2)
        #expect(s.value("ipcscope_calls_served_total", ["service": name]) == 7)
        #expect(s.value("ipcscope_exporter_sections", ["condition": "stale"]) == 1)
        #expect(s.value("ipcscope_function_calls_total", ["service": name]) == nil, "no trace ring, no per-function series")

        // Taken over (epoch 4) with a count lower than before (a server that zeroed it): the
        // exported counter adds the new count and never goes back.
        b.server(pid: 0, epoch: 4, heartbeat: 1, served: 2)
        plantSection(name, bytes: b.bytes, size: b.bytes.count)
        let s2 = Self.scrape(model)
        #expect(s2.value("ipcscope_server_takeovers_total", ["service": name]) == 3)
        #expect(s2.value("ipcscope_calls_served_total", ["service": name]) == 9)

        // Replaced by a new object between two scrapes (epoch 1 again): no takeover, its calls added.
        #expect(shm_unlink("/ipcscope." + name) == 0)
        b.server(pid: 0, epoch: 1, heartbeat: 1, served: 5)
        b.set64(Int(IPCSCOPE_OFF_CREATED_UNIX_NS), 1_800_000_000_000_000_000)
        plantSection(name, bytes: b.bytes, size: b.bytes.count)
        let s3 = Self.scrape(model)
        #expect(s3.value("ipcscope_server_takeovers_total", ["service": name]) == 3)
        #expect(s3.value("ipcscope_server_epoch", ["service": name]) == 1)
        #expect(s3.value("ipcscope_calls_served_total", ["service": name]) == 14)
    }

    @Test("garbage, truncated, a FIFO and an invalid name are skipped and counted, and the scrape goes on")
    func hostileObjects() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let garbage = scope.serviceName("expgarbage"), truncated = scope.serviceName("exptrunc")
        let fifo = scope.serviceName("expfifo"), good = scope.serviceName("expgood")
        let invalid = "/dev/shm/ipcscope.bad name \(getpid())\u{1}"
        defer { unlink(invalid) }
        plantSection(garbage, bytes: Array(repeating: 0xA5, count: 4096), size: 4096)
        let whole = SectionBytes().bytes
        plantSection(truncated, bytes: Array(whole.prefix(600)), size: 600)
        #expect(mkfifo("/dev/shm/ipcscope." + fifo, 0o600) == 0)
        var b = SectionBytes(traceCapacity: 0)
        b.server(pid: 0, epoch: 1, heartbeat: 1, served: 4)
        plantSection(good, bytes: b.bytes, size: b.bytes.count)
        #expect(creat(invalid, 0o600) >= 0)

        let model = ExporterModel(options: ExporterOptions(services: [garbage, truncated, fifo, good]))
        let started = now()
        let s = Self.scrape(model)
        #expect(now() - started < 2, "a FIFO never stalls a scrape")
        #expect(s.value("ipcscope_calls_served_total", ["service": good]) == 4)
        for bad in [garbage, truncated, fifo] { #expect(s.of(service: bad).isEmpty, "\(bad) exported") }
        #expect(s.value("ipcscope_exporter_errors_total", ["kind": "corrupt"]) == 2)
        #expect(s.value("ipcscope_exporter_errors_total", ["kind": "not_regular"]) == 1)
        #expect(s.value("ipcscope_exporter_sections", ["condition": "skipped"]) == 3)

        // Every section on the host: the invalid name is counted too (other tests may add more).
        let all = Self.scrape(ExporterModel())
        #expect((all.value("ipcscope_exporter_errors_total", ["kind": "invalid_name"]) ?? 0) >= 1)
        #expect(all.value("ipcscope_calls_served_total", ["service": good]) == 4)
    }

    @Test("the function label is the schema's name when a schema is in the XDG place")
    func schemaNames() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("expschema")
        let config = scope.directory + "/config"
        #expect(mkdir(config, 0o755) == 0 && mkdir(config + "/ipcscope", 0o755) == 0 && mkdir(config + "/ipcscope/schemas", 0o755) == 0)
        _ = scope.file("config/ipcscope/schemas/\(name).yaml", "functions:\n  1: get_value\n  2: set_value\n")
        let old = getenv("XDG_CONFIG_HOME").map { String(cString: $0) }
        setenv("XDG_CONFIG_HOME", config, 1)
        defer { if let old { setenv("XDG_CONFIG_HOME", old, 1) } else { unsetenv("XDG_CONFIG_HOME") } }
        let server = try EchoServer(name)
        let client = try Client(service: name)
        for f: UInt32 in [1, 2, 2, 9] { _ = try client.call(function: f, payload: []) }
        let s = Self.scrape(ExporterModel(options: ExporterOptions(services: [name])))
        server.stop()
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "get_value"]) == 1)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "set_value"]) == 2)
        #expect(s.value("ipcscope_function_calls_total", ["service": name, "function": "9"]) == 1)
    }
}
