// `ipcscope attach --schema` in a real terminal (tmux): the slots shown as fields, the history
// naming functions, a field whose bytes changed marked as changed bytes are.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct SchemaTmuxTests {
    /// An echo server and `attach` on it with the fixture schema, up and drawn.
    static func attachToEcho(_ scope: TestScope, _ prefix: String, interval: [String] = []) throws -> (String, String, TmuxSession) {
        let schema = scope.file("s.yaml", SchemaFixture.schema)
        let name = scope.serviceName(prefix)
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"))
        let tmux = TmuxSession(scope, command: ([ipcscopePath, "attach", name] + interval + ["--schema", schema]).joined(separator: " "),
                               width: 120, height: 40)
        let (up, first) = tmux.waitFor("Request", "History")
        if !up { tmux.kill() }
        try #require(up, "attach did not start:\n\(first)")
        return (name, schema, tmux)
    }

    @Test("attach decodes a call into fields, names its function, and marks the field that changed")
    func attachShowsFields() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, schema, tmux) = try Self.attachToEcho(scope, "scht", interval: ["--interval", "700"])
        defer { tmux.kill() }

        let call = ["call", name, "set_value", "--schema", schema, "--field", "id=3", "--field", "name=pump"]
        #expect(scope.ipcscope(call + ["--field", "value=2.5"]).exitStatus == 0)
        let (decoded, screen) = tmux.waitFor("fn set_value (3)", "2.5", "\"pump\"")
        #expect(decoded, "the request pane shows fields:\n\(screen)")
        #expect(screen.split(separator: "\n").contains { $0.contains("set_value") && $0.contains("03 00 00 00") },
                "the history names the function:\n\(screen)")
        // The fields cursor starts on id and lights its bytes: put it on name, away from the lines below.
        tmux.keys("G")
        let (moved, movedScreen) = tmux.waitFor("name char[16], bytes 16-31")
        #expect(moved, "G puts the cursor on the last field:\n\(movedScreen)")

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

    @Test("the field under the cursor is lit in the hex of a real call; a byte maps back to its field; Tab completes")
    func cursorAndCompletion() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let (name, schema, tmux) = try Self.attachToEcho(scope, "schc")
        defer { tmux.kill() }
        let call = scope.ipcscope(["call", name, "set_value", "--schema", schema, "--field", "id=3", "--field", "value=2.5", "--field", "name=pump"])
        #expect(call.exitStatus == 0, "\(call.stderr)")
        var (ok, screen) = tmux.waitFor("fn set_value (3)", "id u32, bytes 0-3", "0008  00 00 00 00 00 00 04 40")
        #expect(ok, "the fields beside the hex:\n\(screen)")

        /// Each visible character of the screen line containing `text`, with whether it is drawn in
        /// reverse video (SGR 7), read from tmux's styled capture.
        func cells(_ text: String) -> [(Character, Bool)] {
            let out = scope.run(TmuxSession.tmux, ["-L", tmux.socket, "capture-pane", "-p", "-e"], timeout: 5).stdout
            for line in out.split(separator: "\n") {
                var cells: [(Character, Bool)] = []
                var reverse = false
                var rest = line[...]
                while let c = rest.first {
                    if c == "\u{1b}", rest.dropFirst().first == "[", let m = rest.firstIndex(of: "m") {
                        for p in rest[rest.index(rest.startIndex, offsetBy: 2)..<m].split(separator: ";", omittingEmptySubsequences: false) {
                            if p == "7" { reverse = true } else if p == "0" || p == "27" || p.isEmpty { reverse = false }
                        }
                        rest = rest[rest.index(after: m)...]
                    } else {
                        cells.append((c, reverse))
                        rest = rest.dropFirst()
                    }
                }
                if String(cells.map(\.0)).contains(text) { return cells }
            }
            return []
        }
        /// Whether every non-blank character of `part`, inside the line holding `text`, is in reverse video.
        func reverseAt(_ text: String, _ part: String) -> Bool {
            let c = cells(text)
            let line = String(c.map(\.0))
            guard let r = line.range(of: text)?.lowerBound else { return false }
            let start = line.distance(from: line.startIndex, to: r)
            let offset = text.distance(from: text.startIndex, to: text.range(of: part)?.lowerBound ?? text.startIndex)
            return c[(start + offset)..<min(c.count, start + offset + part.count)].allSatisfy { $0.0 == " " || $0.1 }
        }
        // Down: value. Once the call's change marks fade, only value's bytes are lit.
        tmux.keys("Down")
        (ok, screen) = tmux.waitFor("value f64, bytes 8-15")
        #expect(ok, "down moves to value:\n\(screen)")
        #expect(screen.contains(">   8  value  2.5"), "\(screen)")
        #expect(waitUntil(timeout: 10, interval: 0.1) { !cells("0000  03 00 00 00").isEmpty && !reverseAt("0000  03 00 00 00", "03") }, "id is no longer lit")
        #expect(reverseAt("0008  00 00 00 00 00 00 04 40", "00 00 00 00 00 00 04 40"), "value's bytes are lit in the hex")
        // Right, byte by byte, into the bytes of name: the cursor's byte names its field.
        tmux.keys("Right", "Right", "Right", "Right", "Right", "Right", "Right", "Right", "Right")
        (ok, screen) = tmux.waitFor("name char[16], bytes 16-31", ">  16  name")
        #expect(ok, "byte 17 maps to the field name:\n\(screen)")
        #expect(reverseAt("0010  70 75 6d 70", "70 75 6d 70"), "name's bytes are lit")
        #expect(!cells("0008  00 00 00 00 00 00 04 40").isEmpty && !reverseAt("0008  00 00 00 00 00 00 04 40", "04 40"), "value's are not any more")

        // Tab completes the function, then the field names, listing them when several fit.
        tmux.keys("i")
        tmux.type("set_v")
        tmux.keys("Tab")
        (ok, screen) = tmux.waitFor("text> set_value _")
        #expect(ok, "Tab completes the function:\n\(screen)")
        tmux.type("i")
        tmux.keys("Tab")
        tmux.type("4 ")
        tmux.keys("Tab")
        (ok, screen) = tmux.waitFor("text> set_value id=4 _", "Tab: value  name")
        #expect(ok, "the fields still open are listed:\n\(screen)")
        tmux.type("n")
        tmux.keys("Tab")
        tmux.type("tank")
        (ok, screen) = tmux.waitFor("text> set_value id=4 name=tank_")
        #expect(ok, "one candidate finishes the word:\n\(screen)")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("seq 2 status 0 32 bytes", "\"tank\"")
        #expect(ok, "the completed call is sent and shown:\n\(screen)")
        tmux.keys("C-c")
    }
}
