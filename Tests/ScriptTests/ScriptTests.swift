// The script parser and engine, in-process: every matcher, answer and fault kind, and
// bad scripts refused with line, column and what was expected.
import IPCScopeScript
import Testing
import TestSupport

@Suite("CLI script engine")
struct CLIScriptEngineTests {
    static let yaml = """
        rules:
          - match: { function: 1, text: "ping" }
            reply: { status: 0, text: "pong" }
          - match: { function: [2, 3], hex: "00 ff" }
            reply: { status: 1, hex: "de ad be ef" }
          - match: { function: 4, prefix: "GET " }
            reply: { echo: true, status: 2 }
          - match: { function: 4, contains: "needle" }
            reply: { status: 3, template: "f{function} {size}B '{text}' {hex} #{count} {{x}}" }
          - match: { function: 5, regex: "^[0-9]+$" }
            reply: { status: 4, text: "digits" }
            delay_ms: 15
          - match: { function: 6, size: "2..4" }
            reply: { status: 5, text: "mid" }
          - match: { function: 6, size: "10.." }
            reply: { status: 6, text: "big" }
          - match: { function: 7 }
            cycle: [ {status: 0, text: a}, {status: 7, text: b, delay_ms: 5}, {fault: never_answer} ]
          - match: { function: 8 }
            fault: exit
            exit_code: 9
          - match: { function: 9 }
            fault: never_answer
          - match: any
            reply: { status: 99 }
        """

    static func reply(_ d: ScriptDecision) -> (Int32, String)? {
        if case .reply(let s, let data, _) = d.action { return (s, String(decoding: data, as: UTF8.self)) }
        return nil
    }

    @Test("every matcher picks its rule; first match wins; no match is status -3")
    func matchers() throws {
        let engine = ScriptEngine(try Script.parse(yaml: Self.yaml))
        func ask(_ f: UInt32, _ text: String) -> ScriptDecision {
            engine.respond(to: ScriptRequest(function: f, payload: Array(text.utf8), seq: 42, clientPID: 7))
        }
        #expect(Self.reply(ask(1, "ping"))! == (0, "pong"))
        #expect(ask(1, "ping!").rule == 11, "text is an exact match; the catch-all answers")
        let hex = engine.respond(to: ScriptRequest(function: 3, payload: [0x00, 0xff]))
        #expect(hex.rule == 2)
        if case .reply(1, let data, _) = hex.action { #expect(data == [0xde, 0xad, 0xbe, 0xef]) } else { Issue.record("hex rule") }
        #expect(Self.reply(ask(4, "GET /x"))! == (2, "GET /x"), "prefix + echo")
        #expect(Self.reply(ask(4, "hay needle hay"))! == (3, "f4 14B 'hay needle hay' 686179206e6565646c6520686179 #1 {x}"),
                "contains + template")
        let digits = ask(5, "12345")
        #expect(Self.reply(digits)! == (4, "digits"))
        #expect(digits.action.delayMS == 15)
        #expect(ask(5, "12a45").rule == 11, "regex anchored with ^$")
        #expect(Self.reply(ask(6, "abc"))! == (5, "mid"))
        #expect(Self.reply(ask(6, "abcdefghijk"))! == (6, "big"))
        #expect(ask(6, "a").rule == 11)
        #expect(ask(8, "").action == .exit(code: 9, delayMS: 0))
        #expect(ask(9, "").action == .neverAnswer(delayMS: 0))
        // cycle: a, b (5 ms), never_answer, a, ...
        #expect(Self.reply(ask(7, ""))! == (0, "a"))
        let b = ask(7, "")
        #expect(Self.reply(b)! == (7, "b"))
        #expect(b.action.delayMS == 5)
        #expect(ask(7, "").action == .neverAnswer(delayMS: 0))
        #expect(Self.reply(ask(7, ""))! == (0, "a"))
        // No catch-all: status -3.
        let bare = ScriptEngine(try Script.parse(yaml: "rules:\n  - match: {function: 1}\n    reply: {text: x}\n"))
        let none = bare.respond(to: ScriptRequest(function: 2, payload: []))
        #expect(none.rule == nil)
        #expect(none.action == .reply(status: -3, data: [], delayMS: 0))
    }

    @Test("a file reply is read at load time, relative to the script")
    func fileReply() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        _ = scope.file("answer.bin", "from a file\n")
        let path = scope.file("s.yaml", "- match: {function: 1}\n  reply: {file: answer.bin}\n")
        let engine = ScriptEngine(try Script.load(path: path))
        #expect(Self.reply(engine.respond(to: ScriptRequest(function: 1, payload: [])))! == (0, "from a file\n"))
    }

    @Test("bad scripts are refused with line, column and what was expected",
          arguments: [
            ("rules:\n  - match: {function: 1}\n    replly: {text: x}\n", 3, 5, "unknown key 'replly'"),
            ("rules:\n  - match: {function: 1}\n    fault: explode\n", 3, 12, "never_answer or exit"),
            ("rules:\n  - match: {function: 1, regex: \"a(\"}\n    reply: {}\n", 2, 33, "regular expression"),
            ("rules:\n  - match: {function: one}\n    reply: {}\n", 2, 23, "function number"),
            ("rules:\n  - match: {function: 1}\n", 2, 5, "one of 'reply:', 'fault:' or 'cycle:'"),
            ("rules:\n  - match: {function: 1, text: a, hex: \"61\"}\n    reply: {}\n", 2, 40, "either 'text:' or 'hex:'"),
            ("rules:\n  - match: {size: \"9..2\"}\n    reply: {}\n", 2, 19, "range"),
            ("rules:\n  - match: {function: 1}\n    reply: {template: \"{nope}\"}\n", 3, 23, "unknown placeholder"),
            ("rules:\n  - match: {function: 1}\n    reply: {status: 0, text: [a\n", 4, 1, "valid YAML"),
            ("rulez: []\n", 1, 1, "expected 'rules'"),
            ("rules:\n  - match: {function: 1}\n    reply: {file: /nonexistent/x}\n", 3, 19, "readable regular file"),
            ("rules:\n  - match: {function: 1}\n    cycle: []\n", 3, 12, "non-empty list"),
          ])
    func badScripts(_ yaml: String, _ line: Int, _ column: Int, _ expected: String) {
        do {
            _ = try Script.parse(yaml: yaml, source: "bad.yaml")
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.column == column, "\(error)")
            #expect(error.message.contains(expected), "\(error)")
            #expect(error.description.hasPrefix("bad.yaml:\(line):\(column): "))
        }
    }
}
