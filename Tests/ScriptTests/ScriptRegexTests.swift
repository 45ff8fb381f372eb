// The script regex: a linear-time matcher. Its answers agree with Swift's own Regex on the
// supported syntax, catastrophic patterns answer at once, unsupported syntax is refused, and a
// real `ipcscope serve --script` answers a regex bomb promptly.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeScript
import Testing
import TestSupport

@Suite("Script regex", .serialized)
struct ScriptRegexTests {
    static let patterns = [
        "abc", "^abc$", "a.c", "a*b", "^a+$", "^(ab)+$", "colou?r", "^[0-9]+$", "^[^0-9]*$", "x{2}", "^x{2,3}$",
        "^x{2,}$", "(cat|dog)s?", "^(?:a|b)*c", "\\d\\d-\\d", "\\w+ \\w+", "^\\s*$", "[a-c-]+z", "a\\.b", "^$",
        "(a|ab)(c|bcd)(d*)", "^(a+)+$", "(x+x+)+y", "^([a-z]+)*[0-9]$", "[\\d\\s]+", "\\D+", "a{0,2}b", "^.{3}$",
        "(?i)^HeLLo", "[^\\w]", "^(a|)+$", "(|a)b",
    ]
    static let inputs = [
        "", "abc", "xabcx", "ac", "aXc", "b", "aaab", "aaaa", "abab", "aba", "color", "colour", "colouur", "123",
        "12a", "xx", "xxx", "xxxx", "cats", "dog", "abababc", "12-3", "hello world", "   ", "a-b-cz", "a.b", "axb",
        "abcd", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "xxxxxxxxxxxxxxxxxxxxxxxxxx", "abc1", "hello there", "HELLO", "!",
    ]

    @Test("answers agree with Swift's Regex on every supported construct")
    func agreesWithSwiftRegex() throws {
        var compared = 0
        for pattern in Self.patterns {
            let ours = try ScriptRegex(pattern)
            let reference = try Regex(pattern)
            // Swift's Regex backtracks: keep nested repeats to short inputs there.
            let nested = pattern.contains(")+") || pattern.contains(")*")
            for input in Self.inputs where !(nested && input.count > 12) {
                let o = ours.matches(input)
                let expected = (try? reference.firstMatch(in: input)) != nil
                #expect(o == expected, "/\(pattern)/ on '\(input)'")
                compared += 1
            }
        }
        #expect(compared > 900)
    }

    @Test("catastrophic patterns answer at once: no backtracking")
    func bombsAreLinear() throws {
        let cases: [(String, String, Bool)] = [
            ("^(a+)+$", String(repeating: "a", count: 30) + "b", false),
            ("^(a|a)*$", String(repeating: "a", count: 5000) + "!", false),
            ("^(a*)*b$", String(repeating: "a", count: 5000), false),
            ("(x+x+)+y", String(repeating: "x", count: 5000), false),
            ("^(\\w+\\s?)*$", String(repeating: "word ", count: 1000) + "!", false),
            ("^(a+)+$", String(repeating: "a", count: 5000), true),
        ]
        for (pattern, input, expected) in cases {
            let re = try ScriptRegex(pattern)
            let t0 = now()
            #expect(re.search(input) == (expected ? .match : .noMatch), "/\(pattern)/")
            #expect(now() - t0 < 1, "/\(pattern)/ on \(input.count) characters took \(now() - t0) s")
        }
    }

    @Test("a search over its step budget gives up instead of running on")
    func stepBudget() throws {
        let re = try ScriptRegex("[a-z]{500}!")
        let input = String(repeating: "a", count: 20_000)
        guard case .gaveUp(let steps) = re.search(input, stepBudget: 100_000) else {
            Issue.record("expected the search to give up"); return
        }
        #expect(steps >= 100_000 && steps < 200_000)
        #expect(re.search(String(repeating: "a", count: 500) + "!") == .match)
    }

    @Test("the engine answers -2 and names the rule when its regex gives up")
    func engineReportsGaveUp() throws {
        let script = try Script.parse(yaml: """
            rules:
              - match: {regex: "[a-z]{1000}!"}
                reply: {text: yes}
              - reply: {status: 1}
            """)
        let engine = ScriptEngine(script)
        let big = ScriptRequest(function: 0, payload: Array(repeating: UInt8(ascii: "a"), count: 200_000))
        let t0 = now()
        let d = engine.respond(to: big)
        #expect(now() - t0 < 5)
        #expect(d.rule == 1)
        #expect(d.action == .reply(status: -2, data: [], delayMS: 0))
        #expect(d.gaveUp?.contains("rule 1 (line 2) gave up") == true, "\(d.gaveUp ?? "nil")")
        let small = engine.respond(to: ScriptRequest(function: 0, payload: Array("abc".utf8)))
        #expect(small.rule == 2 && small.gaveUp == nil)
    }

    @Test("unsupported syntax is refused with what and where",
          arguments: [
            ("(a)\\1", "backreferences"), ("a(?=b)", "lookaround"), ("a(?<name>b)", "'(?' groups"),
            ("a++", "possessive"), ("[[:alpha:]]", "POSIX classes"), ("\\bword", "assertion \\b"),
            ("a{2000}", "over 1000"), ("(a{1000}){10}", "too large"), ("a{3,2}", "below the minimum"),
            ("*a", "nothing to repeat"), ("a)", "unbalanced ')'"), ("(a", "missing ')'"), ("[ab", "missing ']'"),
            ("[z-a]", "out of order"), ("a\\", "lone backslash"), ("\\x4", "two hex digits"), ("\\q", "unknown escape"),
            (String(repeating: "(", count: 200) + String(repeating: ")", count: 200), "nested deeper"),
            (String(repeating: "a", count: 5000), "at most 4096"),
          ])
    func refused(_ pattern: String, _ expected: String) {
        do {
            _ = try ScriptRegex(pattern)
            Issue.record("accepted /\(pattern)/")
        } catch {
            #expect(error.description.contains(expected), "/\(pattern)/: \(error)")
        }
    }

    @Test("a script with an unsupported regex names its line and column")
    func scriptRefusesRegex() {
        do {
            _ = try Script.parse(yaml: "rules:\n  - match: {regex: \"(a)\\\\1\"}\n    reply: {}\n", source: "r.yaml")
            Issue.record("accepted")
        } catch {
            #expect(error.description.hasPrefix("r.yaml:2:20: expected a valid regular expression"), "\(error)")
            #expect(error.message.contains("backreferences"))
        }
    }

    @Test("a real scripted server answers the regex bomb in under a second and keeps serving")
    func serverAnswersBombPromptly() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("rebomb")
        let server = scope.startScriptedServer(name, script: """
            rules: [{match: {regex: "^(a+)+$"}, reply: {text: y}}, {reply: {status: 1}}]
            """)
        try #require(server.stdout.contains("serving"), "\(server.stdout)\(server.stderr)")
        let bomb = String(repeating: "a", count: 30) + "b"
        #expect(bomb.utf8.count == 31)
        for _ in 0..<3 {
            let t0 = now()
            let (o, c) = scope.callJSON(name, ["--text", bomb, "--timeout", "5"])
            let took = now() - t0
            #expect(int(o?["status"]) == 1, "\(c.stdout) \(c.stderr)")
            #expect(took < 1, "the bomb took \(took) s end to end")
        }
        let (ok, _) = scope.callJSON(name, ["--text", String(repeating: "a", count: 40)])
        #expect(ok?["text"] as? String == "y")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 5) == 0)
    }

    @Test("a real scripted server answers -2 when a rule's regex gives up, names the rule, and keeps serving")
    func serverReportsGaveUp() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("regu")
        let server = scope.startScriptedServer(name, script: """
            rules:
              - match: {regex: "[a-z]{1000}!"}
                reply: {text: yes}
              - reply: {status: 1}
            """, extra: ["--request-capacity", "1048576", "--json"])
        try #require(server.stdout.contains("serving"), "\(server.stdout)\(server.stderr)")
        let path = scope.directory + "/big.txt"
        writeBytes(path, [UInt8](repeating: UInt8(ascii: "a"), count: 300_000))
        defer { unlink(path) }
        let (o, c) = scope.callJSON(name, ["--file", path, "--timeout", "30"])
        #expect(int(o?["status"]) == -2, "\(c.stdout) \(c.stderr)")
        #expect(waitUntil(timeout: 5) { server.stdout.contains("regex_gave_up") }, "\(server.stdout)")
        let log = jsonLines(server.stdout).first { $0["outcome"] as? String == "regex_gave_up" }
        #expect(int(log?["rule"]) == 1 && int(log?["status"]) == -2, "\(server.stdout)")
        #expect(int(scope.callJSON(name, ["--text", "short"]).0?["status"]) == 1, "still serving")
        server.signal(SIGTERM)
        #expect(server.wait(timeout: 5) == 0)
    }
}
