// Golden-grid tests of what a new user met in `ipcscope attach`: frozen ages while paused,
// reused pids, layouts down to 80x24, pane titles, whole calls in the history, export, keys
// in server mode. The screen is drawn from in-memory sections; no terminal involved.
#if canImport(Glibc)
import Glibc
#endif
import CIPCScope
import IPCScopeKit
import Testing
import TestSupport
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector
import IPCScopePOSIX

/// RESPONSE_READY after call 7, with the request and response slots holding call 7 whole and
/// its client (777) holding the mutex while it collects the answer.
func wholeCallSection(payload: [UInt8], response: [UInt8]) -> SectionBytes {
    var s = SectionBytes()
    s.server()
    s.state(3)
    s.mutex(word: 777, ownerPID: 777, ownerTID: 777)
    s.request(seq: 7, function: 9, payload: payload)
    s.response(seq: 7, status: 0, payload: response)
    return s
}

/// A trace record agreeing with the slots of `wholeCallSection`.
private func wholeRecord(_ payload: [UInt8], _ response: [UInt8], seq: UInt64 = 7) -> TraceRecord {
    TraceRecord(seq: seq, function: 9, status: 0, requestSize: UInt32(payload.count), responseSize: UInt32(response.count),
                clientPID: 777, flags: 0, sentNS: 8_999_000_000, doneNS: 8_999_050_000,
                requestHead: Array((payload + Array(repeating: 0, count: 16)).prefix(16)))
}

/// Row `row` of `g` between columns `from` and `to` (exclusive).
private func cells(_ g: Grid, _ row: Int, _ from: Int, _ to: Int) -> String {
    String(String.UnicodeScalarView((from..<to).map { g[row, $0].char }))
}

@Suite(.serialized) struct InspectorGridTests {
    @Test func pauseFreezesAgesWithTheSnapshot() {
        var s = SectionBytes()
        s.server()
        s.state(2)
        s.mutex(word: 1235, ownerPID: 1234, ownerTID: 1235)
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        _ = m.handle(key: .char(" "))
        // Nine seconds later, still paused: the ages are those of the frozen snapshot.
        var g = draw(&m, now: 19_000_000_000)
        #expect(g.text(0).contains("[PAUSED] ages frozen"))
        #expect(g.text(2).contains("heartbeat 1.0s ago"))
        #expect(g.text(4).contains("2 PROCESSING for 2.0s"))
        #expect(g.text(4).contains("HELD pid 1234 tid 1235 for 2.5s"))
        // Resumed: the ages move again.
        _ = m.handle(key: .char(" "))
        g = draw(&m, now: 19_000_000_000)
        #expect(!g.text(0).contains("ages frozen"))
        #expect(g.text(2).contains("heartbeat 10.0s ago"))
        #expect(g.text(4).contains("2 PROCESSING for 11.0s"))
    }

    @Test func aReusedServerPidDoesNotShowAnotherProgram() {
        var s = SectionBytes()
        s.server()
        s.set64(Int(IPCSCOPE_OFF_SERVER_STARTTIME), 5000)
        for (start, expected) in [(UInt64(5000), "pid 4242 ipcscope serve Demo --echo ALIVE"), (7777, "pid 4242 (pid reused) DEAD"),
                                  (0, "pid 4242 (pid gone) DEAD")] {
            var m = testModel()
            m.processStartTime = { _ in start }
            m.ingest(s.snapshot(alive: start == 5000), now: 10_000_000_000)
            let g = draw(&m)
            #expect(g.text(2).contains(expected), "\(g.text(2))")
            if start != 5000 { #expect(!g.contains("ipcscope serve")) }
        }
    }

    @Test func pidIdentityAgainstThisProcess() {
        let me = getpid()
        let start = ProcessFacts.startTime(of: me)
        #expect(start > 0)
        #expect(PidIdentity.server(pid: me, recordedStart: start) == .same)
        #expect(PidIdentity.server(pid: me, recordedStart: start + 1) == .reused)
        // A lock taken now may be ours; one taken a nanosecond after boot cannot be.
        #expect(PidIdentity.owner(pid: me, sinceNS: monotonicNanoseconds()) == .same)
        #expect(PidIdentity.owner(pid: me, sinceNS: 1) == .reused)
        // `status` and `list` go through the same check: no command for a reused pid.
        var s = SectionBytes()
        s.server(pid: me)
        s.set64(Int(IPCSCOPE_OFF_SERVER_STARTTIME), start + 1)
        s.mutex(word: UInt32(me), ownerPID: me, ownerTID: me, since: 1)
        let report = StatusReport(s.snapshot(alive: true))
        #expect(report.serverCommand == nil)
        #expect(report.serverPidNote == "pid reused")
        #expect(report.ownerCommand == nil)
        #expect(report.text().contains("(pid reused)"))
        #expect(report.json.rendered.contains("\"pid_note\":\"pid reused\""))
    }

    @Test func ownerDiedSurvivesEveryLayout() {
        // Lesson 3 after the holder died: the kernel set OWNER_DIED and cleared the tid.
        var s = SectionBytes()
        s.server()
        s.state(0)
        s.mutex(word: 0x4000_0000, ownerPID: 1234, ownerTID: 1234, since: 6_000_000_000)
        for (w, h) in [(80, 24), (98, 30), (120, 40)] {
            var m = testModel()
            m.ingest(s.snapshot(), now: 10_000_000_000)
            let g = draw(&m, width: w, height: h)
            let L = ScreenLayout(width: w, height: h)
            let pane = (4...7).map { cells(g, $0, L.stateWidth, L.stateWidth + L.mutexWidth - 1) }
            #expect(pane[0].hasPrefix(" OWNER DIED"), "\(w)x\(h): \(pane)")
            #expect(pane[1].contains("DIED") || pane[1].contains("died YES"), "\(w)x\(h): \(pane)")
            #expect(pane[3].lowercased().contains("owner died"), "\(w)x\(h): \(pane)")
            #expect(!pane.joined().contains("disagree"), "\(w)x\(h): the died bit explains the free word")
        }
    }

    @Test func eightyByTwentyFourNeverCutsAValue() {
        var s = SectionBytes()
        s.server(served: 37679)
        s.state(2)
        s.mutex(word: 30109 | 0x8000_0000, ownerPID: 30109, ownerTID: 30109)
        s.set64(Int(IPCSCOPE_OFF_LOCK_COUNT), 37683)
        s.set64(Int(IPCSCOPE_OFF_CONTENDED_COUNT), 24935)
        s.set64(Int(IPCSCOPE_OFF_RECOVERED_COUNT), 12)
        s.set32(Int(IPCSCOPE_OFF_REQUEST_EVENT), 37683)
        s.set32(Int(IPCSCOPE_OFF_SERVER_WAITING), 1)
        s.set32(Int(IPCSCOPE_OFF_RESPONSE_EVENT), 37682)
        s.set32(Int(IPCSCOPE_OFF_CLIENT_WAITING), 1)
        s.set32(Int(IPCSCOPE_OFF_SERVER_FLAGS), UInt32(IPCSCOPE_SERVER_TRACING | IPCSCOPE_SERVER_STEP_MODE))
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        let g = draw(&m, width: 80, height: 24)
        let L = ScreenLayout(width: 80, height: 24)
        let mutex = (4...7).map { cells(g, $0, L.stateWidth, L.stateWidth + L.mutexWidth - 1) }
        let events = (4...7).map { cells(g, $0, L.stateWidth + L.mutexWidth, 80) }
        #expect(mutex[0].contains("HELD pid 30109 for 2.5s"), "\(mutex)")
        let counters = mutex[2].split(separator: " ")
        #expect(counters.contains("37683") && counters.contains("24935") && counters.last == "12", "\(mutex)")
        #expect(events[0].split(separator: " ").contains("37683"), "\(events)")
        #expect(events[0].trimmingCharacters(" ").hasSuffix(" 1"), "server waits has its value: \(events)")
        #expect(events[1].trimmingCharacters(" ").hasSuffix(" 1"), "client waits has its value: \(events)")
        #expect(events[2].contains("37679"), "\(events)")
        // Header: whole capacities and whole flags, or none.
        #expect(g.text(1).contains("4096/4096/256") || g.text(1).contains("request 4096  response 4096"), "\(g.text(1))")
        #expect(!g.text(2).contains("flags") || g.text(2).contains("flags step,tracing"), "\(g.text(2))")
        #expect(g.text(2).contains("heartbeat 1.0s ago"))
        // Every line ends inside the screen with a whole word (nothing runs to the last column cut).
        for row in 0..<24 { #expect(g.text(row).unicodeScalars.count <= 80) }
    }

    @Test func aLongResponseTitleStaysInItsPane() {
        var s = SectionBytes()
        s.server()
        s.state(3)
        s.request(seq: 1, function: 9, payload: Array("is anyone there?".utf8))
        s.response(seq: 1, status: -3, payload: Array(repeating: 0x41, count: 55))
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        let g = draw(&m)
        let L = ScreenLayout(width: 120, height: 40)
        let row = L.responseRule
        #expect(g.text(row).contains("status -3 no handler"))
        // Columns of the client box are the client box's: its left edge, never title text.
        #expect(g[row, L.dumpWidth + 1].char == "│", "\(g.text(row))")
        #expect(cells(g, row, 0, L.dumpWidth).contains("hex 0000-"), "the position label still fits: \(g.text(row))")
    }

    @Test func gridClipKeepsDrawingInsideItsColumns() {
        var g = Grid(width: 20, height: 2)
        g.put(0, 0, String(repeating: "x", count: 20))
        g.clipped(to: 0..<10) { inner in
            inner.put(0, 5, "abcdefghij")
            inner.fill(1, 0, 20, 1, Cell("="))
            inner[1, 15] = Cell("!")
        }
        #expect(g.text(0) == "xxxxxabcdexxxxxxxxxx")
        #expect(g.text(1) == "==========")
        g.put(1, 15, "ok")
        #expect(g.text(1) == "==========     ok", "the clip ends with the closure")
    }

    @Test func historyCountsSayWhatTheyCount() {
        var s = SectionBytes()
        s.server(served: 37679)
        var snap = s.snapshot()
        snap.trace = [record(37679)]
        var m = testModel()
        m.ingest(snap, now: 10_000_000_000)
        let g = draw(&m)
        #expect(g.text(20).contains("seen 1 call since attach  kept 1/1000"), "\(g.text(20))")
        #expect(g.text(6).contains("served 37679"))
    }

    @Test func wholeCallsAreKeptSelectedShownAndExported() throws {
        let payload = Array("a request longer than sixteen bytes, whole".utf8)
        let response = Array("and its whole answer".utf8)
        var snap = wholeCallSection(payload: payload, response: response).snapshot()
        snap.trace = [record(5, payload: "head only please, 20b"), wholeRecord(payload, response)]
        var m = testModel()
        m.ingest(snap, now: 10_000_000_000)
        #expect(m.history.whole(snap.trace[1])?.request == payload)
        #expect(m.history.whole(snap.trace[0]) == nil)
        var g = draw(&m)
        #expect(g.text(20).contains("kept 2/1000, 1 whole •"))
        let rows = g.lines.filter { $0.contains("  t+") }
        #expect(rows.count == 2)
        #expect(rows.last?.hasPrefix(" •      7  t+") == true, "\(rows)")
        #expect(rows.first?.hasPrefix("        5  t+") == true, "\(rows)")

        // Select with the arrows (from the newest), Enter shows that call in the dump panes.
        m.focus = .history
        _ = m.handle(key: .up)
        #expect(m.selectedSeq == 7)
        _ = m.handle(key: .enter)
        #expect(m.inspectedSeq == 7)
        // Live slots move on to another call: the dumps keep showing call 7.
        var next = SectionBytes()
        next.server(served: 8)
        next.request(seq: 8, function: 1, payload: Array("live".utf8))
        m.ingest(next.snapshot(), now: 10_100_000_000)
        g = draw(&m)
        #expect(g.text(0).contains("[CALL seq 7]"))
        #expect(g.text(8).contains("CALL seq 7  fn 9  \(payload.count) bytes"), "\(g.text(8))")
        #expect(g.text(9).hasPrefix("00000000  61 20 72 65 71 75 65 73  74 20 6c 6f 6e 67 65 72  |a request longer|"))
        #expect(g.text(10).hasPrefix("00000010  20 74 68 61 6e 20 73 69  78 74 65 65 6e 20 62 79  | than sixteen by|"))
        let rspRule = ScreenLayout(width: 120, height: 40).responseRule
        #expect(g.text(rspRule).contains("CALL seq 7  status 0  \(response.count) bytes"))
        #expect(g.text(rspRule + 1).contains("|and its whole an|"))
        // A call seen only through its trace record says so.
        _ = m.handle(key: .up)
        _ = m.handle(key: .enter)
        g = draw(&m)
        #expect(m.inspectedSeq == 5)
        #expect(g.text(8).contains("head only: first 16 of 21"), "\(g.text(8))")
        #expect(g.text(rspRule).contains("not seen whole"))
        // Export: the selected call, then the whole history, as watch --json lines.
        guard case .export(let name, let text) = m.handle(key: .char("x")).first else { Issue.record("no export"); return }
        #expect(name == "ipcscope-Demo-seq5")
        #expect(text.hasPrefix("{\"event\":\"call\",\"seq\":5,\"function\":1,"))
        #expect(text.contains("\"whole\":false"))
        guard case .export(let all, let lines) = m.handle(key: .char("X")).first else { Issue.record("no export"); return }
        #expect(all == "ipcscope-Demo-history")
        #expect(lines.split(separator: "\n").count == 2)
        #expect(lines.contains("\"request_hex\":\"" + payload.map(HexDump.hex2).joined() + "\""))
        #expect(lines.contains("\"response_hex\":\"" + response.map(HexDump.hex2).joined() + "\""))
        // W: the same history as a recording; the whole call with both payloads, the other partial.
        guard case .record(let rname, let interface, let calls, let missed) = m.handle(key: .char("W")).first else {
            Issue.record("no recording"); return
        }
        #expect(rname == "ipcscope-Demo-history" && interface.service == "Demo" && missed == 0)
        var bytes: [UInt8] = []
        var writer = try PcapNGWriter(application: "test", clock: HostClock()) { bytes += $0 }
        try writer.use(interface)
        for c in calls { try writer.write(c) }
        try writer.finish()
        let read = try PcapNG.read(bytes)
        #expect(read.calls.map(\.seq) == [5, 7])
        #expect(read.calls[0].partial && read.calls[0].request.count == 16)
        #expect(!read.calls[1].partial && read.calls[1].request == payload && read.calls[1].response == response)
        #expect(read.interfaces == [interface])
        // A filter narrows it as it narrows X.
        _ = m.handle(key: .char("/"))
        for ch in "fn=9" { _ = m.handle(key: .char(ch)) }
        _ = m.handle(key: .enter)
        guard case .record(_, _, let only, _) = m.handle(key: .char("W")).first else { Issue.record("no filtered recording"); return }
        #expect(only.map(\.seq) == [7])
        _ = m.handle(key: .escape)
        // Back to live.
        _ = m.handle(key: .char("l"))
        g = draw(&m)
        #expect(m.inspectedSeq == nil)
        #expect(g.text(8).contains("seq 8  fn 1  4 bytes"))
    }

    @Test func aTornSlotIsNotTakenForTheWholeCall() {
        // The slot holds other bytes than the record's head: not the same call.
        let payload = Array("the real request body".utf8)
        var snap = wholeCallSection(payload: Array("another body entirely".utf8), response: []).snapshot()
        snap.trace = [wholeRecord(payload, [])]
        var m = testModel()
        m.ingest(snap, now: 10_000_000_000)
        #expect(m.history.whole(snap.trace[0]) == nil)
    }

    @Test func slotsAreCopiedOnlyWhenNobodyCanBeWritingThem() {
        let payload = Array("a request that must not be torn".utf8), response = Array("ok".utf8)
        func wholeAfter(_ edit: (inout SectionBytes) -> Void, settled: Bool = true, quiet: Bool = false) -> Bool {
            var s = wholeCallSection(payload: payload, response: response)
            edit(&s)
            var snap = s.snapshot()
            snap.slotsSettled = settled
            snap.mutexQuiet = quiet
            snap.trace = [wholeRecord(payload, response)]
            var m = testModel()
            m.ingest(snap, now: 10_000_000_000)
            return m.history.whole(snap.trace[0]) != nil
        }
        #expect(wholeAfter { _ in })
        // The copy raced a change of state or seq: nothing is trusted.
        #expect(!wholeAfter({ _ in }, settled: false))
        // RESPONSE_READY with the mutex free: the client gave up; another may be writing.
        #expect(!wholeAfter { $0.mutex(word: 0, ownerPID: 0, ownerTID: 0) })
        // IDLE: the next client may be writing the request under the mutex…
        #expect(!wholeAfter { $0.state(0) })
        // …unless the mutex stayed free and untaken through the copy.
        #expect(wholeAfter({ $0.state(0); $0.mutex(word: 0, ownerPID: 0, ownerTID: 0) }, quiet: true))
    }

    @Test func historyBoundKeepsTheNewestCalls() {
        var snap = wholeCallSection(payload: [1], response: [2]).snapshot()
        snap.trace = (1...7).map { record(UInt64($0)) }
        var m = InspectorModel(service: "Demo", historyLimit: 3)
        m.clockText = { _ in "t" }
        m.processStartTime = { _ in 1 }
        m.ingest(snap, now: 10_000_000_000)
        #expect(m.history.records.map(\.seq) == [5, 6, 7])
        #expect(draw(&m).text(20).contains("seen 7 calls since attach  kept 3/3"))
    }

    @Test func clientPaneIsOneKeyAwayAndSaysSo() {
        for start in Pane.allCases where start != .client {
            var m = testModel()
            m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
            m.focus = start
            _ = m.handle(key: .char("i"))
            #expect(m.focus == .client, "from \(start)")
        }
        var m = testModel()
        m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
        #expect(draw(&m, width: 80, height: 24).text(23).hasPrefix("i client"))
        #expect(draw(&m).text(39).hasPrefix("i client"))
    }

    @Test func heldCallIsAnsweredWhateverHasTheFocus() {
        var m = testModel()
        m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
        m.server = ServerModeState(description: "echo")
        #expect(m.handle(key: .char("s")) == [.setStepMode(true)])
        m.setWritability(.writable)
        m.focus = .client
        for c in "1 hi" { _ = m.handle(key: .char(c)) }
        // In step mode the pane's call waits until answered: no timeout.
        #expect(m.handle(key: .enter) == [.send(ClientCall(function: 1, payload: Array("hi".utf8), timeoutNS: nil))])
        m.server?.held = HeldCall(seq: 8, function: 1, size: 2, reason: "step mode")
        var g = draw(&m)
        #expect(g.text(0).contains("serving in-process, STEP, HELD seq 8"), "\(g.text(0))")
        #expect(g.text(39).contains("HELD seq 8 fn 1 2 bytes (step mode) ^N answers, ^R continues"), "\(g.text(39))")
        // `n` is text in the pane; Ctrl-N answers; Ctrl-R continues.
        #expect(m.handle(key: .char("n")).isEmpty)
        #expect(m.client.input == "n")
        #expect(m.handle(key: .ctrl("n")) == [.releaseHeld])
        #expect(m.handle(key: .ctrl("r")) == [.setStepMode(false), .releaseHeld])
        #expect(m.server?.stepMode == false)
        m.focus = .request
        g = draw(&m)
        #expect(g.text(39).contains("n or ^N answers"))
        #expect(m.handle(key: .char("n")) == [.releaseHeld])
    }

    @Test func clientPaneTimeoutIsSettable() {
        var m = testModel()
        m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
        m.setWritability(.writable)
        m.focus = .client
        for c in "timeout 30s" { _ = m.handle(key: .char(c)) }
        #expect(m.handle(key: .enter).isEmpty)
        #expect(m.client.timeoutNS == 30_000_000_000)
        #expect(draw(&m).contains("calls now wait at most 30.0s"))
        for c in "2 x" { _ = m.handle(key: .char(c)) }
        #expect(m.handle(key: .enter) == [.send(ClientCall(function: 2, payload: Array("x".utf8), timeoutNS: 30_000_000_000))])
        m.clientFinished(ClientOutcome(call: ClientCall(function: 2, payload: []), status: 0, response: [], seq: 9, latencyNS: 1, error: nil))
        for c in "timeout off" { _ = m.handle(key: .char(c)) }
        _ = m.handle(key: .enter)
        #expect(m.client.timeoutNS == 0)
        for c in "2 x" { _ = m.handle(key: .char(c)) }
        #expect(m.handle(key: .enter) == [.send(ClientCall(function: 2, payload: Array("x".utf8), timeoutNS: nil))])
        m.clientFinished(ClientOutcome(call: ClientCall(function: 2, payload: []), status: 0, response: [], seq: 10, latencyNS: 1, error: nil))
        for c in "timeout soon" { _ = m.handle(key: .char(c)) }
        _ = m.handle(key: .enter)
        #expect(m.client.problem?.contains("'soon' is not a duration") == true)
    }

    @Test func serverModeShowsWhichRuleAnswered() {
        var snap = wholeCallSection(payload: [1, 2], response: [3]).snapshot()
        snap.trace = [wholeRecord([1, 2], [3])]
        var m = testModel()
        m.server = ServerModeState(description: "script r.yaml (2 rules)")
        m.server?.answered(seq: 7, by: "rule 2", limit: 100)
        m.ingest(snap, now: 10_000_000_000)
        let g = draw(&m)
        #expect(g.text(21).contains("client  rule      first bytes"))
        #expect(g.lines.contains { $0.contains("      777  rule 2    01 02") }, "\(g.lines[22...24])")
        #expect(g.text(ScreenLayout(width: 120, height: 40).responseRule).contains("by rule 2"))
        if case .export(_, let text) = m.exportHistory().first { #expect(text.contains("\"rule\":\"rule 2\"")) } else { Issue.record("no export") }
    }

    @Test func helpKeysLineUp() {
        for ascii in [false, true] {
            var m = testModel(ascii: ascii)
            m.server = ServerModeState(description: "echo")
            _ = m.handle(key: .char("?"))
            let g = draw(&m)
            let rows = g.lines.filter { $0.contains("scroll the focused pane") || $0.contains("next / previous pane") || $0.contains("go to the client pane") }
            #expect(rows.count == 3)
            let starts = Set(rows.map { row -> Int in
                let words = ["scroll the", "next / previous", "go to the client"]
                let w = words.first { row.contains($0) }!
                return row.unicodeScalars.distance(from: row.unicodeScalars.startIndex, to: row.firstRange(of: w)!.lowerBound.samePosition(in: row.unicodeScalars)!)
            })
            #expect(starts.count == 1, "descriptions start in one column (ascii \(ascii)): \(rows)")
        }
    }

    @Test func headerNamesTheRuleOfTheLastCall() {
        var m = testModel()
        m.server = ServerModeState(description: "script r.yaml (2 rules)")
        m.server?.answered(seq: 3, by: "rule 2", limit: 10)
        m.ingest(wholeCallSection(payload: [1], response: [1]).snapshot(), now: 10_000_000_000)
        #expect(draw(&m).text(0).contains("serving in-process, seq 3 by rule 2"))
    }

    @Test func helpFitsEightyByTwentyFour() {
        var m = testModel()
        m.server = ServerModeState(description: "echo")
        _ = m.handle(key: .char("?"))
        let g = draw(&m, width: 80, height: 24)
        #expect(g.contains("Any key closes this help"))
        #expect(g.contains("go to the client pane"))
        #expect(g.contains("Ctrl-N anywhere"))
    }
}
