// The demo's put and get as C structs: built with --field and checked against the bytes a C
// compiler lays out, refused with their named statuses, and the schema shipped, printed and
// installed (only on request) so other verbs decode the demo without --schema.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeDemo
import Testing
import TestSupport

enum DemoStructFixture {
    /// The structs as a C programmer declares them, filled the way the test calls, printed as
    /// hex one per line: put request, its answer, put-add request, its answer, get request, and its
    /// answer after two adds of 10.
    static let cSource = """
        #include <stdint.h>
        #include <stdio.h>
        #include <string.h>
        struct demo_put_req { char key[16]; uint8_t flags; int64_t value; };
        struct demo_put_rsp { int64_t previous; uint32_t version; uint8_t result; };
        struct demo_get_req { char key[16]; };
        struct demo_get_rsp { int64_t value; uint32_t version; uint8_t last; };
        _Static_assert(sizeof(struct demo_put_req) == 32, "put request");
        _Static_assert(sizeof(struct demo_put_rsp) == 16, "put answer");
        static void hex(const void *p, size_t n) {
            for (size_t i = 0; i < n; i++) printf("%02x", ((const unsigned char *)p)[i]);
            printf("\\n");
        }
        int main(void) {
            struct demo_put_req put; struct demo_put_rsp put_rsp;
            struct demo_get_req get; struct demo_get_rsp get_rsp;
            memset(&put, 0, sizeof put); strcpy(put.key, "apple"); put.value = -3; hex(&put, sizeof put);
            memset(&put_rsp, 0, sizeof put_rsp); put_rsp.previous = 0; put_rsp.version = 1; put_rsp.result = 0;
            hex(&put_rsp, sizeof put_rsp);
            memset(&put, 0, sizeof put); strcpy(put.key, "apple"); put.flags = 2; put.value = 10; hex(&put, sizeof put);
            memset(&put_rsp, 0, sizeof put_rsp); put_rsp.previous = -3; put_rsp.version = 2; put_rsp.result = 2;
            hex(&put_rsp, sizeof put_rsp);
            memset(&get, 0, sizeof get); strcpy(get.key, "apple"); hex(&get, sizeof get);
            memset(&get_rsp, 0, sizeof get_rsp); get_rsp.value = 17; get_rsp.version = 3; get_rsp.last = 2;
            hex(&get_rsp, sizeof get_rsp);
            return 0;
        }

        """

    static var schemaPath: String { repositoryRoot + "/demo/schemas/demo.yaml" }
}

extension TestScope {
    /// Starts `ipcscope demo --server-only --name NAME` (plus `extra`) and waits until it serves.
    func startDemoServer(_ name: String, extra: [String] = [], environment: [String: String] = [:]) -> ChildProcess {
        let s = spawn(ipcscopePath, ["demo", "--server-only", "--name", name] + extra, environment: environment)
        _ = s.waitForOutput("serving the demo functions", timeout: 10)
        return s
    }
}

@Suite("Demo: put and get as C structs", .serialized)
struct DemoSchemaTests {
    /// The request slot's bytes, as `status --json` reports them.
    private func requestSlotHex(_ scope: TestScope, _ name: String) -> String? {
        let status = scope.ipcscope(["status", name, "--json"])
        return (jsonObject(status.stdout)?["request"] as? [String: Any])?["data_hex"] as? String
    }

    @Test("put/get with --field: the request and answer bytes are those of the C structs cc lays out")
    func putGetAgainstTheCompiler() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let src = scope.file("demo_structs.c", DemoStructFixture.cSource)
        let exe = scope.directory + "/demo_structs"
        let cc = scope.run("/usr/bin/cc", ["-std=c11", "-Wall", "-Werror", "-o", exe, src], timeout: 60)
        try #require(cc.exitStatus == 0, "cc: \(cc.stderr)")
        let c = scope.run(exe, []).stdout.split(separator: "\n").map(String.init)
        try #require(c.count == 6, "the C program printed \(c)")

        let name = scope.serviceName("demos")
        let server = scope.startDemoServer(name)
        try #require(server.stdout.contains("serving"), "demo: \(server.stderr)")
        let schema = DemoStructFixture.schemaPath

        // 1. put apple = -3, from fields.
        let (put, p1) = scope.callJSON(name, ["put", "--schema", schema, "--field", "key=apple", "--field", "value=-3"])
        #expect(p1.exitStatus == 0, "\(p1.stderr)")
        #expect(requestSlotHex(scope, name) == c[0], "the request built from fields is the C struct's bytes")
        #expect(put?["data_hex"] as? String == c[1], "the answer is the C struct's bytes")
        #expect(SchemaFixture.fieldsObject(p1.stdout) == #"{"previous":0,"version":1,"result":"created"}"#, "\(p1.stdout)")

        // 2. the C struct's own bytes, sent as they are: add 10.
        let (add, p2) = scope.callJSON(name, ["put", "--schema", schema, "--hex", c[2]])
        #expect(p2.exitStatus == 0, "\(p2.stderr)")
        #expect(add?["data_hex"] as? String == c[3])
        #expect(SchemaFixture.fieldsObject(p2.stdout) == #"{"previous":-3,"version":2,"result":"added"}"#, "\(p2.stdout)")
        let same = scope.ipcscope(["call", name, "put", "--schema", schema, "--field", "key=apple", "--field", "flags=add",
                                   "--field", "value=10", "--json"])
        #expect(requestSlotHex(scope, name) == c[2], "flags=add builds the same bytes as the C program")
        #expect(same.exitStatus == 0)

        // 3. get apple: -3 + 10 + 10.
        let (get, g) = scope.callJSON(name, ["get", "--schema", schema, "--field", "key=apple"])
        #expect(g.exitStatus == 0, "\(g.stderr)")
        #expect(requestSlotHex(scope, name) == c[4])
        #expect(SchemaFixture.fieldsObject(g.stdout) == #"{"value":17,"version":3,"last":"added"}"#, "\(g.stdout)")
        #expect(get?["status_meaning"] as? String == "ok")
        #expect(get?["data_hex"] as? String == c[5])
    }

    @Test("a refused put or get keeps its status (1 malformed, 2 no such key), named by the schema")
    func refusals() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("demos")
        let server = scope.startDemoServer(name)
        try #require(server.stdout.contains("serving"), "demo: \(server.stderr)")
        let schema = DemoStructFixture.schemaPath
        let good = DemoPutRequest(key: "k", value: 1).encoded()
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        var unterminated = good
        for i in 0..<16 { unterminated[i] = UInt8(ascii: "x") }
        var unknownFlag = good
        unknownFlag[16] = 0x04
        let cases: [(function: String, hex: String, status: Int, meaning: String)] = [
            ("put", hex(Array(good.prefix(31))), 1, "malformed: not 32 bytes"),
            ("put", hex(good + [0]), 1, "malformed: not 32 bytes"),
            ("put", hex(Array("apple=3".utf8)), 1, "malformed: not 32 bytes"),
            ("put", hex(unterminated), 1, "malformed"),
            ("put", hex(unknownFlag), 1, "malformed"),
            ("put", hex([UInt8](repeating: 0, count: 32)), 1, "malformed"),
            ("get", hex(Array(good.prefix(15))), 1, "malformed: not 16 bytes"),
            ("get", hex(DemoGetRequest(key: "never-put").encoded()), 2, "no such key"),
        ]
        for (i, t) in cases.enumerated() {
            let (o, c) = scope.callJSON(name, [t.function, "--schema", schema, "--hex", t.hex])
            #expect(c.exitStatus == 0, "case \(i): \(c.stderr)")
            #expect(int(o?["status"]) == t.status, "case \(i): \(c.stdout)")
            #expect((o?["status_meaning"] as? String)?.hasPrefix(t.meaning) == true, "case \(i): \(c.stdout)")
            #expect(int(o?["size"]) == 0, "a refusal answers no bytes: \(c.stdout)")
            #expect(o?["fields"] == nil, "nothing to decode: \(c.stdout)")
        }
        // The text form names the status too, and --status-exit-code sees it.
        let text = scope.ipcscope(["call", name, "put", "--schema", schema, "--text", "apple=3", "--status-exit-code", "3"])
        #expect(text.exitStatus == 3)
        #expect(text.stdout.hasPrefix("status 1 (malformed: not 32 bytes"), "\(text.stdout)")
        // Nothing was stored by the refusals.
        let (get, _) = scope.callJSON(name, ["get", "--schema", schema, "--field", "key=k"])
        #expect(int(get?["status"]) == 2)
    }

    @Test("demo --print-schema is demo/schemas/demo.yaml; --server-only writes it and says how to use it")
    func shippedSchema() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let printed = scope.ipcscope(["demo", "--print-schema"])
        #expect(printed.exitStatus == 0)
        #expect(printed.stdout == readFile(DemoStructFixture.schemaPath), "demo/schemas/demo.yaml differs from the demo's own schema")
        let check = scope.ipcscope(["schema", DemoStructFixture.schemaPath])
        #expect(check.exitStatus == 0, "\(check.stderr)")
        #expect(check.stdout.contains("request: 32 bytes, align 8") && check.stdout.contains("17  (7 bytes padding)"), "\(check.stdout)")

        let name = scope.serviceName("demos")
        let server = scope.startDemoServer(name)
        try #require(server.stdout.contains("serving"), "demo: \(server.stderr)")
        let line = try #require(server.stdout.split(separator: "\n").first { $0.contains("ipcscope call \(name) put --schema ") },
                                "the demo says how to call put: \(server.stdout)")
        let words = line.split(separator: " ").map(String.init)
        let path = try #require(words.firstIndex(of: "--schema").map { words[$0 + 1] })
        #expect(readFile(path) == demoSchemaYAML)
        let (put, c) = scope.callJSON(name, ["put", "--schema", path, "--field", "key=a", "--field", "value=5"])
        #expect(int(put?["status"]) == 0 && SchemaFixture.fieldsObject(c.stdout)?.contains("created") == true, "\(c.stdout)")
        server.signal(SIGINT)
        #expect(server.wait(timeout: 10) == 0, "\(server.stderr)")
        #expect(access(path, F_OK) != 0, "the demo removed its schema file")
    }

    @Test("--install-schema: every verb decodes the demo without --schema; removed at the end, never overwrites")
    func installSchema() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let config = scope.directory + "/config"
        let env = ["XDG_CONFIG_HOME": config]
        let name = scope.serviceName("demos")
        let installed = config + "/ipcscope/schemas/\(name).yaml"

        // Without the option, nothing is written to the user's config.
        let plain = scope.startDemoServer(name, environment: env)
        try #require(plain.stdout.contains("serving"), "\(plain.stderr)")
        #expect(access(installed, F_OK) != 0)
        plain.signal(SIGINT)
        #expect(plain.wait(timeout: 10) == 0)

        let server = scope.startDemoServer(name, extra: ["--install-schema"], environment: env)
        try #require(server.stdout.contains("serving"), "\(server.stderr)")
        #expect(server.stdout.contains("\(installed) (installed for this run)"), "\(server.stdout)")
        #expect(readFile(installed) == demoSchemaYAML)
        let put = scope.run(ipcscopePath, ["call", name, "put", "--field", "key=n", "--field", "value=9", "--json"], environment: env)
        #expect(put.exitStatus == 0, "\(put.stderr)")
        #expect(SchemaFixture.fieldsObject(put.stdout) == #"{"previous":0,"version":1,"result":"created"}"#)
        let status = scope.run(ipcscopePath, ["status", name], environment: env)
        #expect(status.stdout.contains("request slot: put (1)") && status.stdout.contains("\"n\""), "\(status.stdout)")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 10) == 0, "\(server.stderr)")
        #expect(access(installed, F_OK) != 0, "the installed schema is removed at the end")

        // Someone else's schema under that name is left alone: the demo refuses to start.
        _ = scope.file("config/ipcscope/schemas/\(name).yaml", "functions: {1: mine}\n")
        let refused = scope.run(ipcscopePath, ["demo", "--server-only", "--name", name, "--install-schema"], timeout: 10, environment: env)
        #expect(refused.exitStatus == 1)
        #expect(refused.stderr.contains("exists and is not the demo's schema"), "\(refused.stderr)")
        #expect(readFile(installed) == "functions: {1: mine}\n")
        #expect(!scope.objectExists(name), "nothing was left serving")
    }
}
