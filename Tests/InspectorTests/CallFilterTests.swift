// The history filter and breakpoints share one term syntax: every numeric term is
// range-checked, a bad term is refused with what the field takes (never a trap, never a
// silent text search), the filter ANDs its terms and breakpoints OR them; a refused filter
// typed in attach leaves attach running and says why.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import Testing
import TestSupport

@Suite("Filter and breakpoint syntax", .serialized)
struct CallFilterTests {
    @Test("terms parse to what they say",
          arguments: [
            ("fn=3", CallTerm.compare(.function, .eq, 3)), ("f!=4294967295", .compare(.function, .ne, 4_294_967_295)),
            ("status<-2147483648", .compare(.status, .lt, -2_147_483_648)), ("st>=0x10", .compare(.status, .ge, 16)),
            ("pid<=42", .compare(.pid, .le, 42)), ("size>100", .compare(.size, .gt, 100)),
            ("lat>1ms", .compare(.latency, .gt, 1_000_000)), ("lat<1.5us", .compare(.latency, .lt, 1500)),
            ("latency>=2s", .compare(.latency, .ge, 2_000_000_000)), ("lat>250µs", .compare(.latency, .gt, 250_000)),
            ("lat>9223372036s", .compare(.latency, .gt, 9_223_372_036_000_000_000)), ("lat>500", .compare(.latency, .gt, 500)),
            ("/a\\x00b/", .contains([0x61, 0, 0x62])), ("hex=4865", .contains([0x48, 0x65])),
            ("hello", .word("hello")), ("<html>", .word("<html>")), ("4865", .word("4865")),
          ])
    func parses(_ text: String, _ expected: CallTerm) throws {
        #expect(try parseCallTerm(text) == expected)
    }

    @Test("bad terms are refused with what the field takes",
          arguments: [
            ("lat>1e300s", "lat takes a duration"), ("lat>nanms", "lat takes a duration"), ("lat>infus", "lat takes a duration"),
            ("lat>-1e30s", "lat takes a duration"), ("lat>9223372037s", "lat takes a duration"), ("lat>1..5ms", "duration"),
            ("lat>.ms", "duration"), ("lat>", "duration"), ("fn=abc", "fn takes a function number from 0 to 4294967295"),
            ("fn=4294967296", "fn takes"), ("fn=-1", "fn takes"), ("status=2147483648", "status takes"),
            ("pid=-5", "pid takes"), ("size<-1", "size takes"), ("size=99999999999999999999999", "size takes"),
            ("fn=0x-5", "fn takes"), ("foo=3", "unknown field 'foo'"), ("/abc", "between slashes"),
            ("/\\x4/", "two hex digits"), ("hex=zz", "pairs of hex digits"), ("hex=", "pairs of hex digits"),
          ])
    func refused(_ text: String, _ expected: String) {
        #expect(throws: CallFilterError.self) { try parseCallTerm(text) }
        do { _ = try HistoryFilter(parsing: "fn=1 " + text) } catch {
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.term == text)
        }
        #expect(HistoryFilter(text).problems.count == 1, "the lenient parser lists it too")
    }

    @Test("lines are bounded: long text and many terms are refused, not looped over")
    func bounded() {
        #expect(throws: CallFilterError.self) { try parseCallTerms(String(repeating: "a ", count: 3000)) }
        #expect(throws: CallFilterError.self) { try parseCallTerms(Array(repeating: "fn=1", count: 65).joined(separator: " ")) }
        #expect((try? parseCallTerms(Array(repeating: "fn=1", count: 64).joined(separator: " ")))?.count == 64)
        _ = HistoryFilter(String(repeating: "lat>1e300s ", count: 10_000))
        _ = Breakpoints(String(repeating: "fn=abc ", count: 10_000))
    }

    @Test("the filter needs every term; breakpoints stop on any; both take the same terms")
    func andVersusOr() throws {
        let a = TraceFixture.record(fn: 3, size: 5, latency: 2_000_000, head: "hello")
        let b = TraceFixture.record(fn: 4, status: -3, size: 200, latency: 10_000, head: "world")
        let f = try HistoryFilter(parsing: "fn=3 lat>1ms /hel/")
        #expect(f.matches(a) && !f.matches(b))
        #expect(!(try HistoryFilter(parsing: "fn=3 /world/")).matches(a), "AND: both must hold")
        #expect((try HistoryFilter(parsing: "status<0 size>=200 hex=776f")).matches(b))
        #expect((try HistoryFilter(parsing: "6865")).matches(a), "a bare hex word matches the hex")

        let bp = try Breakpoints(parsing: "fn=9 size>100 /hel\\x6co/")
        #expect(bp.match(function: 9, payload: []) == "breakpoint fn=9")
        #expect(bp.match(function: 1, payload: Array(repeating: 0, count: 101)) == "breakpoint size>100")
        #expect(bp.match(function: 1, payload: Array("say hello".utf8)) != nil, "OR: one term is enough")
        #expect(bp.match(function: 1, payload: Array("nothing".utf8)) == nil)
        #expect(try Breakpoints(parsing: "fn!=1 word").match(function: 2, payload: []) == "breakpoint fn!=1")
        #expect(try Breakpoints(parsing: "needle").match(function: 1, payload: Array("a needle".utf8)) != nil)
        for unknowable in ["status=0", "pid=1", "lat>1ms"] {
            do {
                _ = try Breakpoints(parsing: unknowable)
                Issue.record("accepted \(unknowable)")
            } catch {
                #expect(error.message.contains("before it is answered"), "\(error)")
            }
        }
        #expect(Breakpoints("fn=abc /x/").problems.count == 1)
        #expect(Breakpoints("fn=abc /x/").terms == [.contains([0x78])])
        #expect(!HistoryFilter.syntaxHint.isEmpty && Breakpoints.syntaxHint.contains("any"))
    }

    @Test("attach: a refused filter says why, keeps the old one, and attach keeps running")
    func attachRefusesBadFilter() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("flt")
        let server = scope.startEchoServer(name)
        try #require(server.stdout.contains("serving"), "\(server.stdout)\(server.stderr)")
        for f in [1, 2, 2] { _ = scope.ipcscope(["call", name, "-f", String(f), "--text", "x\(f)"]) }
        let tmux = TmuxSession(scope, command: "\(ipcscopePath) attach \(name)")
        defer { tmux.kill() }
        var (ok, screen) = tmux.waitFor("[LIVE]")
        try #require(ok, "\(screen)")
        tmux.type("/fn=2")
        tmux.keys("Enter")
        (ok, screen) = tmux.waitFor("fn=2 (2 shown)")
        #expect(ok, "\(screen)")
        for bad in ["lat>1e300s", "lat>nanms", "lat>infus", "lat>-1e30s", "fn=abc"] {
            tmux.type("/")
            tmux.keys("C-u")
            tmux.type(bad)
            tmux.keys("Enter")
            (ok, screen) = tmux.waitFor("filter not applied: '\(bad)'")
            #expect(ok, "\(bad): \(screen)")
            #expect(screen.contains("fn=2 (2 shown)"), "the previous filter stays")
        }
        tmux.keys("q")
        #expect(waitUntil(timeout: 5) { !tmux.capture().contains("[LIVE]") }, "attach was alive to quit")
    }
}
