// Typed payloads: a schema with every type, its layout checked against the C compiler's, built
// with `call --field` through an echo server and decoded back; the fields in watch --json; a
// script matching and answering on fields.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeSchema
import Testing
import TestSupport


@Suite("Typed payloads through a schema", .serialized)
struct SchemaCLITests {
    @Test("every type: call --field builds the bytes cc lays out; the echo decodes back to the same fields")
    func everyTypeAgainstTheCompiler() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("every.yaml", SchemaFixture.schema)
        let src = scope.file("every.c", SchemaFixture.cSource)
        let exe = scope.directory + "/every"
        let cc = scope.run("/usr/bin/cc", ["-std=c11", "-Wall", "-o", exe, src], timeout: 60)
        try #require(cc.exitStatus == 0, "cc: \(cc.stderr)")
        let c = scope.run(exe, [])
        let cHex = c.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(cHex.count > 200, "the C program printed \(c.stdout)")

        let name = scope.serviceName("sch")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"), "echo server: \(server.stderr)")
        let built = scope.ipcscope(["call", name, "everything", "--schema", schema, "--json"] + SchemaFixture.fields.flatMap { ["--field", $0] })
        #expect(built.exitStatus == 0, "stderr: \(built.stderr)")
        let object = try #require(jsonObject(built.stdout), "call --json printed \(built.stdout)")
        #expect(object["data_hex"] as? String == cHex, "the payload built from fields differs from the C struct's bytes")
        #expect(SchemaFixture.fieldsObject(built.stdout) == SchemaFixture.fieldsJSON)
        #expect(object["status_meaning"] as? String == "ok")
        #expect(object["warnings"] == nil, "warnings: \(object["warnings"] ?? "")")

        // The C program's bytes, sent as hex and echoed, decode to the same fields.
        let decoded = scope.ipcscope(["call", name, "7", "--schema", schema, "--json", "--hex", cHex])
        #expect(decoded.exitStatus == 0, "stderr: \(decoded.stderr)")
        #expect(SchemaFixture.fieldsObject(decoded.stdout) == SchemaFixture.fieldsJSON)

        // The text form names each field beside the hex dump.
        let text = scope.ipcscope(["call", name, "everything", "--schema", schema, "--hex", cHex])
        #expect(text.stdout.contains("status 0 (ok)"))
        #expect(text.stdout.contains("mode") && text.stdout.contains("auto (2)"))
        #expect(text.stdout.contains("pts[1].y") && text.stdout.contains("4.5"))
        #expect(text.stdout.contains("00000000  ff 80 ff ff 00 80"), "the hex dump follows the fields")
    }

    @Test("the conventional schema ($XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml) is found without --schema")
    func conventionalSchema() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("sch")
        let dir = scope.directory + "/config/ipcscope/schemas"
        #expect(mkdir(scope.directory + "/config", 0o755) == 0 && mkdir(scope.directory + "/config/ipcscope", 0o755) == 0 && mkdir(dir, 0o755) == 0)
        _ = scope.file("config/ipcscope/schemas/\(name).yaml", SchemaFixture.schema)
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"))
        let c = scope.run(ipcscopePath, ["call", name, "set_value", "--field", "id=3", "--field", "value=2.5", "--json"],
                          environment: ["XDG_CONFIG_HOME": scope.directory + "/config"])
        #expect(c.exitStatus == 0, "stderr: \(c.stderr)")
        // The echo's bytes read as set_value's response: ok is the id's first byte (3: not a bool).
        let o = try #require(jsonObject(c.stdout))
        #expect(o["function"] as? Int == 3)
        #expect((o["warnings"] as? [String])?.contains { $0.contains("'ok' is 3, not a bool") } == true, "\(c.stdout)")
        let none = scope.run(ipcscopePath, ["call", name, "set_value", "--field", "id=3"],
                             environment: ["XDG_CONFIG_HOME": scope.directory + "/nowhere"])
        #expect(none.exitStatus == 64)
        #expect(none.stderr.contains("no schema names it"), "\(none.stderr)")
    }

    @Test("watch --json carries each call's fields, all of them for a call it saw whole")
    func watchJSONCarriesFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let name = scope.serviceName("sch")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"))
        let watch = scope.spawn(ipcscopePath, ["watch", name, "--json", "--limit", "1", "--timeout", "20", "--schema", schema])
        try #require(waitUntil(timeout: 10) { watch.stderr.contains("watching") || watch.hasExited }, "watch: \(watch.stderr)")
        let c = scope.ipcscope(["call", name, "set_value", "--schema", schema, "--field", "id=42", "--field", "value=-0.5", "--field", "name=x"])
        #expect(c.exitStatus == 0, "call: \(c.stderr)")
        #expect(watch.wait(timeout: 10) == 0, "watch: \(watch.stderr)")
        let call = try #require(jsonLines(watch.stdout).first { $0["event"] as? String == "call" }, "watch printed \(watch.stdout)")
        #expect(call["function_name"] as? String == "set_value")
        let fields = try #require(call["fields"] as? [String: Any])
        #expect(int(fields["id"]) == 42)
        #expect((fields["value"] as? NSNumber)?.doubleValue == -0.5)
        // name lies past the 16 bytes the ring keeps: watch copied the whole request from its slot.
        #expect(call["partial"] as? Bool == false, "\(call)")
        #expect(fields["name"] as? String == "x", "\(call)")
        #expect(call["warnings"] == nil, "\(call)")
        // The echo's answer, read as set_value's response: ok is the id's first byte (42: not a bool).
        #expect(call["response_fields"] is [String: Any], "\(call)")
        #expect((call["response_warnings"] as? [String])?.contains { $0.contains("not a bool") } == true, "\(call)")
    }

    @Test("a script matches a call on a field and replies with fields")
    func scriptMatchesOnAField() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let name = scope.serviceName("sch")
        let server = scope.startScriptedServer(name, script: """
            schema: s.yaml
            rules:
              - match: {function: set_value, fields: {id: 3, name: pump}}
                reply: {fields: {ok: true, previous: 1.5}}
              - match: {function: set_value, fields: {id: 4}}
                reply: {status: -2}
            """)
        try #require(server.stdout.contains("serving"), "serve: \(server.stderr)")
        let (hit, c1) = scope.callJSON(name, ["set_value", "--schema", schema, "--field", "id=3", "--field", "name=pump", "--field", "value=9"])
        #expect(c1.exitStatus == 0, "\(c1.stderr)")
        #expect(SchemaFixture.fieldsObject(c1.stdout) == #"{"ok":true,"previous":1.5}"#, "\(c1.stdout)")
        #expect(int(hit?["status"]) == 0)
        let (other, _) = scope.callJSON(name, ["set_value", "--schema", schema, "--field", "id=3", "--field", "name=tank"])
        #expect(int(other?["status"]) == -3, "name differs: no rule matches")
        let (four, _) = scope.callJSON(name, ["3", "--schema", schema, "--field", "id=4"])
        #expect(int(four?["status"]) == -2)
        #expect(four?["status_meaning"] == nil, "set_value gives status -2 no meaning")
    }

    @Test("a script's fields are checked at load time, with line and column")
    func badScriptFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        _ = scope.file("s.yaml", SchemaFixture.schema)
        let cases: [(String, String)] = [
            ("schema: s.yaml\nrules:\n  - match: {function: set_value, fields: {idx: 3}}\n    reply: {status: 0}\n",
             ":3:48: set_value's request has no field 'idx'"),
            ("schema: s.yaml\nrules:\n  - match: {function: set_value, fields: {id: -1}}\n    reply: {status: 0}\n",
             ":3:47: 'id' is u32: -1 is out of range"),
            ("schema: s.yaml\nrules:\n  - match: {function: [3, 7], fields: {id: 1}}\n    reply: {status: 0}\n",
             ":3:39: 'fields:' in a match needs the match to name exactly one function"),
            ("rules:\n  - match: {function: 3, fields: {id: 1}}\n    reply: {status: 0}\n",
             ":2:34: 'fields:' needs a schema"),
            ("schema: s.yaml\nrules:\n  - match: {function: set_value}\n    reply: {fields: {previous: fast}}\n",
             ":4:32: 'previous' is f64: expected a number"),
            ("schema: s.yaml\nrules:\n  - match: {function: nope}\n    reply: {status: 0}\n",
             ":3:23: expected a function number or a name from"),
            ("schema: missing.yaml\nrules: []\n", ":1:9: the schema does not load"),
        ]
        for (i, (script, expected)) in cases.enumerated() {
            let path = scope.file("bad\(i).yaml", script)
            let c = scope.ipcscope(["serve", "--script", path, "--check"])
            #expect(c.exitStatus == 1, "case \(i): \(c.stdout)")
            #expect(c.stderr.contains(path + expected), "case \(i): \(c.stderr)")
        }
    }

    @Test("every bad --field is refused with one line naming the field, before any call")
    func badFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let cases: [([String], String)] = [
            (["--field", "idx=3"], "set_value's request has no field 'idx': its fields are id, value, name"),
            (["--field", "id=4294967296"], "'id' is u32: 4294967296 is out of range 0...4294967295"),
            (["--field", "id=three"], "'id' is u32: expected a whole number"),
            (["--field", "value=2,5"], "'value' is f64: expected a number like 2.5"),
            (["--field", "name=abcdefghijklmnop"], "'name' is char[16]: 'abcdefghijklmnop' is 16 bytes, at most 15 fit"),
            (["--field", "id"], "--field 'id': expected NAME=VALUE"),
            (["--field", "id=1", "--field", "id=2"], "'id' is given twice"),
        ]
        let every: [([String], String)] = [
            (["--field", "i8=128"], "'i8' is i8: 128 is out of range -128...127"),
            (["--field", "mode=fast"], "'mode' is an enum: expected one of off, on, auto"),
            (["--field", "flags=ready|idle"], "unknown flag 'idle'"),
            (["--field", "ok=maybe"], "'ok' is bool: expected true or false"),
            (["--field", "blob=00 11 22 33 44 55 66 77 88"], "'blob' holds at most 8 bytes, found 9"),
            (["--field", "data=abc"], "expected an even number of hex digits"),
            (["--field", "samples=1,2,3,4"], "'samples' is i16[3]: 4 values given, it holds 3"),
            (["--field", "samples[3]=1"], "has no field 'samples[3]'"),
            (["--field", "where=1"], "has no field 'where'"),
            (["--field", "f32=1e39"], "'f32' is f32: 1e39 is beyond the largest f32"),
        ]
        for (args, expected) in cases.map({ (["set_value"] + $0.0, $0.1) }) + every.map({ (["everything"] + $0.0, $0.1) }) {
            let c = scope.ipcscope(["call", "no-such-service-needed"] + args + ["--schema", schema])
            #expect(c.exitStatus == 64, "\(args): \(c.stderr)")
            #expect(c.stderr.contains(expected), "\(args): \(c.stderr)")
            #expect(c.stderr.split(separator: "\n").count == 1, "one line: \(c.stderr)")
        }
        let unknown = scope.ipcscope(["call", "x", "set_valu", "--schema", schema])
        #expect(unknown.exitStatus == 64)
        #expect(unknown.stderr.contains("has no function 'set_valu': its functions are set_value (3), everything (7)"), "\(unknown.stderr)")
        let both = scope.ipcscope(["call", "x", "set_value", "--schema", schema, "--field", "id=1", "--text", "a"])
        #expect(both.exitStatus == 64)
        #expect(both.stderr.contains("give either --field or one of --text, --hex, --file"), "\(both.stderr)")
    }

    @Test("ipcscope schema prints each layout with offsets, sizes and C's padding")
    func schemaVerb() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let path = scope.file("s.yaml", SchemaFixture.schema)
        let c = scope.ipcscope(["schema", path])
        #expect(c.exitStatus == 0, "\(c.stderr)")
        let lines = c.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.first == "\(path): ok, 2 functions")
        #expect(lines.contains("set_value (3)") && lines.contains("request: 32 bytes, align 8"))
        #expect(lines.contains("4 (4 bytes padding)"), "id then value: \(c.stdout)")
        #expect(lines.contains("response: 16 bytes, align 8") && lines.contains("1 (7 bytes padding)"))
        #expect(lines.contains("status: -2 no such id, 0 ok"))
        let bad = scope.file("bad.yaml", "functions:\n  3:\n    request: [ {a: u8, b: u8} ]\n")
        let refused = scope.ipcscope(["schema", bad])
        #expect(refused.exitStatus == 1)
        #expect(refused.stderr.contains(bad + ":3:16: expected a field like '- id: u32'"), "\(refused.stderr)")
    }

    @Test("a bad schema file stops the verb with file:line:col")
    func badSchemaFile() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let bad = scope.file("bad.yaml", "functions:\n  3:\n    name: set_value\n    request:\n      - id: u33\n")
        for verb in [["call", "x", "set_value"], ["status", "x"], ["watch", "x"]] {
            let c = scope.ipcscope(verb + ["--schema", bad])
            #expect(c.exitStatus == 1, "\(verb): \(c.stderr)")
            #expect(c.stderr.contains(bad + ":5:13: unknown type 'u33'"), "\(verb): \(c.stderr)")
        }
        let missing = scope.ipcscope(["call", "x", "--schema", scope.directory + "/none.yaml"])
        #expect(missing.exitStatus == 1)
        #expect(missing.stderr.contains("cannot read the schema"), "\(missing.stderr)")
    }
}
