// The fixes of the protocol model's findings (spec/README.md, "Findings"), checked with the C
// client (c_probe) on interleavings built by hand (Tests/TestSupport/ProtocolScenes.swift), against
// the C++ echo server and a Swift server. Each test fails on the library as it was before its fix.
// KitTests/ProtocolFixTests.swift has the same scenes with the Swift client.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import Testing
import TestSupport

@Suite("C library: protocol fixes", .serialized)
struct CLibraryProtocolFixTests {
    @Test("a C client killed right after REQUEST_READY: the next C call wakes the sleeping C++ server at once")
    func deadOwnersRequestIsAnnounced() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        let name = scope.serviceName("cunannounced")
        let server = CLibraryInteropTests.startCxxServer(scope, b, name)
        try #require(!server.hasExited, "\(server.stdout) \(server.stderr)")
        var scene: DeadOwnerScene?
        for _ in 0..<3 where scene == nil {
            let s = try deadOwnerUnannouncedRequest(scope, name) {
                scope.spawn(b.probe, ["call", name, "2", "next", "4096", "5000"])
            }.get()
            if s.sliceAge < 0.3 { scene = s }
        }
        let s = try #require(scene, "the call never started within 0.3 s of the server's slice")
        #expect(s.output.contains("reply status=0 size=4 text=next"), "\(s.output)")
        #expect(s.elapsed < 0.5, "the call took \(s.elapsed) s (started \(s.sliceAge) s into the server's 1 s slice): nobody woke the server")
        let snap = try SectionReader(service: name).snapshot()
        #expect(snap.recoveredCount >= 1)
        #expect(snap.trace.contains { $0.requestHead.starts(with: Array("planted".utf8)) }, "the dead client's request was served too")
    }

    @Test("a C step-3 waiter freed by a takeover sends its call to the new server and gets the answer")
    func step3WaiterGoesToTheNewServer() throws {
        let b = try CLib.require()
        let scope = TestScope()
        defer { scope.cleanup(); removeTree(scope.directory) }
        var outcome: TakeoverScene?
        for attempt in 0..<4 where outcome == nil {
            let name = scope.serviceName("cstep3-\(attempt)")
            let s = try step3WaiterAcrossTakeover(scope, name) {
                scope.spawn(b.probe, ["call", name, "3", "mine", "4096", "5000"])
            }.get()
            if !s.output.contains("died") { outcome = s }
        }
        let s = try #require(outcome, "the client's probe fell between the kill and the takeover every time")
        #expect(s.output.contains("reply status=0 size=4 text=mine"), "\(s.output)")
        #expect(!s.output.contains("restarted"), "the call was sent to the new server but reported 'restarted': \(s.output)")
        #expect(s.served == ["mine"], "the new server ran the call once: \(s.served)")
    }
}
