// The fixes of the protocol model's findings (spec/README.md, "Findings"), checked with the Swift
// client on interleavings built by hand (Tests/TestSupport/ProtocolScenes.swift). Each test fails
// on the code as it was before its fix. MBVIPCTests has the same scenes with the C client.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import Testing
import TestSupport

@Suite("Protocol fixes (Swift client)", .serialized)
struct ProtocolFixTests {
    @Test("a client killed right after REQUEST_READY: the next call wakes the sleeping server, not its 1 s slice")
    func deadOwnersRequestIsAnnounced() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("unannounced")
        let server = scope.startEchoServer(name, extra: ["--quiet"])
        try #require(!server.hasExited, "\(server.stdout) \(server.stderr)")
        // The scene is only telling when the call starts early in the server's slice: without the
        // wake it then waits out the rest (over 0.6 s). Set up again when the machine was too slow.
        var scene: DeadOwnerScene?
        for _ in 0..<3 where scene == nil {
            let s = try deadOwnerUnannouncedRequest(scope, name) {
                scope.spawn(helperPath, ["call", name, "2", "next", "5000"])
            }.get()
            if s.sliceAge < 0.3 { scene = s }
        }
        let s = try #require(scene, "the call never started within 0.3 s of the server's slice")
        #expect(s.output.contains("status=0 size=4 text=next"), "\(s.output)")
        #expect(s.elapsed < 0.5, "the call took \(s.elapsed) s (started \(s.sliceAge) s into the server's 1 s slice): nobody woke the server")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.recoveredCount >= 1)
        #expect(snap.trace.contains { $0.requestHead.starts(with: Array("planted".utf8)) }, "the dead client's request was served too")
    }

    @Test("a step-3 waiter freed by a takeover sends its call to the new server and gets the answer")
    func step3WaiterGoesToTheNewServer() throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        var outcome: TakeoverScene?
        for attempt in 0..<4 where outcome == nil {
            let name = scope.serviceName("step3-\(attempt)")
            let s = try step3WaiterAcrossTakeover(scope, name) {
                scope.spawn(helperPath, ["call", name, "3", "mine", "5000"])
            }.get()
            // "died": the client's liveness probe fell between the kill and the takeover; again.
            if !s.output.contains("died") { outcome = s }
        }
        let s = try #require(outcome, "the client's probe fell between the kill and the takeover every time")
        #expect(s.output.contains("status=0 size=4 text=mine"), "\(s.output)")
        #expect(!s.output.contains("restarted"), "the call was sent to the new server but reported 'restarted': \(s.output)")
        #expect(s.served == ["mine"], "the new server ran the call once: \(s.served)")
    }
}
