// `ipcscope schema --lua`: a Wireshark dissector generated from the schema, run by tshark beside
// the shipped one over a real recording: every type's field by name, and a short payload flagged.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct SchemaWiresharkTests {
    @Test("tshark shows a recorded call's fields through the generated dissector")
    func generatedDissector() throws {
        try #require(access("/usr/bin/tshark", X_OK) == 0, "tshark is needed: apt-get install -y tshark")
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("every.yaml", SchemaFixture.schema)
        let gen = scope.ipcscope(["schema", schema, "--lua"])
        #expect(gen.exitStatus == 0, "\(gen.stderr)")
        let lua = scope.file("every.lua", gen.stdout)

        let name = scope.serviceName("schw")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"))
        let file = scope.directory + "/calls.pcapng"
        let recorder = scope.startRecorder(name, file, ["--count", "2"])
        let full = scope.ipcscope(["call", name, "everything", "--schema", schema] + SchemaFixture.fields.flatMap { ["--field", $0] })
        #expect(full.exitStatus == 0, "\(full.stderr)")
        let short = scope.ipcscope(["call", name, "7", "--hex", "01 02 03 04 05 06 07 08 09 0a"])
        #expect(short.exitStatus == 0, "\(short.stderr)")
        #expect(recorder.wait(timeout: 15) == 0, "record: \(recorder.stderr)")

        let p = "ipcscope_every.everything.request."
        let names = ["u8", "i8", "i64", "u64", "f32", "f64", "ok", "name", "samples_2", "where.y", "pts_1.x", "mode",
                     "flags", "packed.b", "be32", "tagged.after", "blob", "names_1", "data"]
        let args = ["-2", "-X", "lua_script:" + dissectorPath, "-X", "lua_script:" + lua, "-r", file,
                    "-T", "fields", "-E", "separator=|", "-Y", p + "u8 == 255"] + names.flatMap { ["-e", p + $0] }
        let t = scope.run("/usr/bin/tshark", args, timeout: 60)
        let row = t.stdout.split(separator: "\n").first.map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) } ?? []
        #expect(row == ["255", "-128", "-9223372036854775808", "18446744073709551615", "1.5", "-22500000000", "1", "pump", "300",
                        "-1.125", "3", "2", "0x8003", "16909060", "287454020", "99", "deadbe", "cd", "01020304"],
                "tshark: \(t.stdout) \(t.stderr)")

        let verbose = scope.run("/usr/bin/tshark", ["-2", "-X", "lua_script:" + dissectorPath, "-X", "lua_script:" + lua, "-r", file, "-V"], timeout: 60)
        #expect(verbose.stdout.contains("the payload is 10 bytes: 'u32' (at 8) and what follows are missing"), "\(verbose.stdout.suffix(3000))")
        #expect(!verbose.stdout.contains("Lua Error"), "\(verbose.stdout)")
    }
}
