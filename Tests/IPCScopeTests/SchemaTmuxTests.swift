// `ipcscope attach --schema` in a real terminal (tmux): the slots shown as fields, the history
// naming functions, a field whose bytes changed marked as changed bytes are.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct SchemaTmuxTests {
    @Test("attach decodes a call into fields, names its function, and marks the field that changed")
    func attachShowsFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let name = scope.serviceName("scht")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"))
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name) --interval 700 --schema \(schema)", width: 120, height: 40)
        defer { tmux.kill() }
        let (up, first) = tmux.waitFor("Request", "History")
        try #require(up, "attach did not start:\n\(first)")

        let call = ["call", name, "set_value", "--schema", schema, "--field", "id=3", "--field", "name=pump"]
        #expect(scope.ipcscope(call + ["--field", "value=2.5"]).exitStatus == 0)
        let (decoded, screen) = tmux.waitFor("fn set_value (3)", "2.5", "\"pump\"")
        #expect(decoded, "the request pane shows fields:\n\(screen)")
        #expect(screen.split(separator: "\n").contains { $0.contains("set_value") && $0.contains("03 00 00 00") },
                "the history names the function:\n\(screen)")

        func styledLine(_ match: (Substring) -> Bool) -> Substring {
            let styled = scope.run(TmuxSession.tmux, ["-L", tmux.socket, "capture-pane", "-p", "-e"], timeout: 5).stdout
            return styled.split(separator: "\n").first(where: match) ?? ""
        }
        let isID: (Substring) -> Bool = { $0.contains(" id ") && $0.contains("  3") }
        // Let the first call's marks fade, so only the next call's change is marked.
        #expect(waitUntil(timeout: 15, interval: 0.1) {
            let l = styledLine(isID)
            return !l.isEmpty && !l.contains("\u{1b}[7m") && !l.contains("\u{1b}[4m")
        }, "the first call's marks fade")
        #expect(scope.ipcscope(call + ["--field", "value=7.25"]).exitStatus == 0)
        let (changed, _) = tmux.waitFor("7.25")
        #expect(changed)
        // The value line is drawn in reverse video (changed bytes); the id line, unchanged, is not.
        let styled = scope.run(TmuxSession.tmux, ["-L", tmux.socket, "capture-pane", "-p", "-e"], timeout: 5).stdout
        let valueLine = styled.split(separator: "\n").first { $0.contains("value") && $0.contains("7.25") } ?? ""
        let idLine = styled.split(separator: "\n").first(where: isID) ?? ""
        #expect(valueLine.contains("\u{1b}[7m") || valueLine.contains("\u{1b}[4m"), "the changed field is marked: \(valueLine.debugDescription)")
        #expect(!idLine.isEmpty && !idLine.contains("\u{1b}[7m"), "the unchanged field is not: \(idLine.debugDescription)")

        // The client pane builds a call from fields, hints the field names, decodes the answer.
        tmux.keys("i")
        tmux.type("set_value id=5 va")
        let (hinted, hintScreen) = tmux.waitFor("fields: value")
        #expect(hinted, "the field names are hinted:\n\(hintScreen)")
        tmux.type("lue=1.5 name=tank")
        tmux.keys("Enter")
        let (answered, answerScreen) = tmux.waitFor("previous = 1.5", "'ok' is 5, not a bool")
        #expect(answered, "the echoed answer is decoded as set_value's response:\n\(answerScreen)")
        tmux.type("set_value id=x")
        tmux.keys("Enter")
        let (refused, refusedScreen) = tmux.waitFor("'id' is u32: expected a whole number")
        #expect(refused, "a bad field is refused in the pane:\n\(refusedScreen)")
        tmux.keys("C-c")
    }
}
