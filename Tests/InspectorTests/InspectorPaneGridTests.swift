// Golden-grid tests of the inspector's header for a recording and of giving up a held call
// from the client pane. The screen is drawn from in-memory sections; no terminal involved.
import IPCScopeKit
import Testing
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector

@Suite(.serialized) struct InspectorPaneGridTests {
    @Test func escCancelsThePanesHeldCall() {
        var m = testModel()
        m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
        m.server = ServerModeState(description: "echo")
        _ = m.handle(key: .char("s"))
        m.setWritability(.writable)
        m.focus = .client
        for c in "1 hi" { _ = m.handle(key: .char(c)) }
        _ = m.handle(key: .enter)
        m.server?.held = HeldCall(seq: 8, function: 1, size: 2, reason: "step mode", clientPID: 4321)
        var g = draw(&m)
        #expect(g.contains("calling...  Esc cancels") && g.text(39).contains("Esc cancels"), "\(g.text(39))")
        #expect(m.handle(key: .escape) == [.cancelCall])
        m.clientCancelled(seq: 8)
        #expect(draw(&m).contains("cancelling call 8..."))
        // The call finishes (let go by the server): its answer is dropped, the pane is free.
        m.server?.held = nil
        m.clientFinished(ClientOutcome(call: ClientCall(function: 1, payload: Array("hi".utf8)), status: 0, response: Array("hi".utf8),
                                       seq: 8, latencyNS: 5_000_000_000, error: nil))
        g = draw(&m)
        #expect(!m.client.inFlight && g.contains("fn 1 failed: cancelled: the in-process"), "\(g.lines.joined(separator: "\n"))")
        #expect(m.client.last?.error?.hasPrefix("cancelled: the in-process server let call 8 go and its answer (status 0, 2 bytes) was dropped") == true)
        #expect(!g.contains("calling..."))
        // Refused (another process's call is the one held): the reason is shown, the call goes on.
        for c in "1 again" { _ = m.handle(key: .char(c)) }
        _ = m.handle(key: .enter)
        m.server?.held = HeldCall(seq: 9, function: 1, size: 2, reason: "step mode", clientPID: 1234)
        #expect(m.handle(key: .escape) == [.cancelCall])
        m.clientCancelRefused("your call waits behind call 9")
        #expect(m.client.inFlight && draw(&m).contains("! your call waits behind call 9"))
        // Once refused, Esc is Esc again (the call ends when answered or timed out).
        m.server?.held = nil
        #expect(m.handle(key: .escape).isEmpty && m.focus == .request && m.client.inFlight)
        m.clientFinished(ClientOutcome(call: ClientCall(function: 1, payload: Array("again".utf8)), status: 0, response: [],
                                       seq: 9, latencyNS: 1_000_000, error: nil))
        // Nothing held here (a call to another server, or waiting for the mutex): Esc tells the
        // client to give up; the next Esc is Esc again.
        m.focus = .client
        for c in "1 slow" { _ = m.handle(key: .char(c)) }
        _ = m.handle(key: .enter)
        #expect(draw(&m).contains("calling...  Esc cancels"))
        #expect(m.handle(key: .escape) == [.cancelCall])
        m.clientCancelling()
        g = draw(&m)
        #expect(g.contains("giving up the call...") && !g.contains("Esc cancels"), "\(g.lines.joined(separator: "\n"))")
        #expect(m.handle(key: .escape).isEmpty && m.focus == .request && m.client.inFlight)
        m.clientFinished(ClientOutcome(call: ClientCall(function: 1, payload: Array("slow".utf8)), status: nil, response: [],
                                       seq: 0, latencyNS: 300_000_000, error: "cancelled: stopped waiting"))
        g = draw(&m)
        #expect(!m.client.inFlight && !m.client.cancelRequested && g.contains("fn 1 failed: cancelled: stopped"), "\(g.lines.joined(separator: "\n"))")
    }

    @Test func aRecordingSaysWhatItIsInsteadOfALiveState() throws {
        let calls = (1...3).map { i in
            RecordedCall(seq: UInt64(i), function: 2, status: 0, requestSize: 2, responseSize: 2, clientPID: 900, clientTID: 900,
                         epoch: i < 3 ? 4 : 5, flags: [], sentNS: 1_000, doneNS: 2_000, request: [1, 2], response: [3, 4])
        }
        var p = try RecordingPlayback(Recording(interfaces: [], calls: calls))
        var m = testModel()
        m.ingest(p.snapshot(now: 10_000_000_000), now: 10_000_000_000)
        m.recording = p.header(file: "calls.pcapng")
        var g = draw(&m)
        #expect(g.text(0).contains("[RECORDING] calls.pcapng") && !g.text(0).contains("LIVE") && !g.text(0).contains("every"))
        #expect(g.text(1).hasPrefix(" file calls.pcapng  pcapng, 3 calls  2 server epochs"), "\(g.text(1))")
        #expect(!g.text(1).contains("/dev/shm"))
        #expect(g.text(2) == " recording call 1 of 3, epoch 4, server pid not recorded: nothing here is live", "\(g.text(2))")
        #expect(!g.contains("DEAD") && !g.contains("server none"))
        p.next()
        p.next()
        m.ingest(p.snapshot(now: 10_000_000_000), now: 10_000_000_000)
        m.recording = p.header(file: "calls.pcapng")
        g = draw(&m, width: 80, height: 24)
        #expect(g.text(2).hasPrefix(" recording call 3 of 3, epoch 5, server pid not recorded"), "\(g.text(2))")
    }
}
