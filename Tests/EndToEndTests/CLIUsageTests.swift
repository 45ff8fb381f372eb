// Small things a new user trips on at the command line: usage errors exit 64 in every verb,
// a negative function index is explained, the echo server names no rule it does not have,
// an unreadable script gives one remedy, `list` shows whole command lines.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TestSupport

@Suite(.serialized) struct CLIUsageTests {
    @Test func badNamesAreUsageErrorsInEveryVerb() {
        let scope = TestScope()
        defer { scope.cleanup() }
        for args in [["call", "bad/name", "--text", "x"], ["status", "bad/name"], ["watch", "bad/name", "--limit", "1"],
                     ["serve", "bad/name", "--echo"], ["bench", "bad/name", "--count", "1"]] {
            let r = scope.ipcscope(args, timeout: 10)
            #expect(r.exitStatus == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("use only A-Z a-z 0-9 . _ -"), "\(args): \(r.stderr)")
        }
    }

    @Test func aNegativeFunctionIsExplained() {
        let scope = TestScope()
        defer { scope.cleanup() }
        for args in [["--function", "-1"], ["-f", "-1"], ["--function", "4294967296"]] {
            let r = scope.ipcscope(["call", "Anything"] + args + ["--text", "x"], timeout: 10)
            #expect(r.exitStatus == 64)
            #expect(r.stderr.contains("is not a function index: give a whole number from 0 to 4294967295"), "\(r.stderr)")
            #expect(!r.stderr.contains("Missing value"))
        }
    }

    @Test func echoServerNamesNoRuleAndListShowsTheCommandLine() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("echo")
        let server = scope.startEchoServer(name)
        let call = scope.ipcscope(["call", name, "-f", "3", "--text", "hi"], timeout: 10)
        #expect(call.exitStatus == 0)
        #expect(server.waitForOutput("rule=echo", timeout: 5), "\(server.stdout)")
        #expect(!server.stdout.contains("rule=1"))
        let list = scope.ipcscope(["list"], timeout: 10)
        let row = list.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map(String.init) ?? ""
        #expect(row.contains("ipcscope serve \(name)"), "the whole command line, not just ipcscope: \(list.stdout)")
    }

    @Test func anUnreadableScriptGivesOneRemedy() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let r = scope.ipcscope(["serve", scope.serviceName("noscript"), "--script", scope.directory + "/missing.yaml"], timeout: 10)
        #expect(r.exitStatus == 1)
        #expect(r.stderr.contains("cannot be read"), "\(r.stderr)")
        #expect(r.stderr.contains("check the path"))
        #expect(!r.stderr.contains("fix the script"), "\(r.stderr)")
    }

    @Test func attachRefusesBadBounds() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let h = scope.ipcscope(["attach", "X", "--history", "0"], timeout: 10)
        #expect(h.exitStatus == 64)
        #expect(h.stderr.contains("--history 0 is out of range"))
        let t = scope.ipcscope(["attach", "X", "--call-timeout", "-3"], timeout: 10)
        #expect(t.exitStatus == 64)
        #expect(t.stderr.contains("is not a number of seconds"), "\(t.stderr)")
    }

    @Test func aTimeoutNamesTheState() {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("hung")
        let script = scope.file("hung.yaml", """
            rules:
              - match: {function: 5}
                fault: never_answer
            """)
        let server = scope.spawn(ipcscopePath, ["serve", name, "--script", script])
        #expect(server.waitForOutput("serving", timeout: 10))
        let r = scope.ipcscope(["call", name, "-f", "5", "--timeout", "0.5"], timeout: 10)
        #expect(r.exitStatus == 1)
        #expect(r.stderr.contains("(state 2 PROCESSING)"), "\(r.stderr)")
        server.killAndReap()
    }
}
