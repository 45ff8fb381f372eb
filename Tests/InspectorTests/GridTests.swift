// Golden-grid tests: the attach screen drawn from in-memory snapshots into a character grid,
// read back as text and attributes. No terminal involved.
import CIPCScope
import IPCScopeKit
import Testing
import TestSupport
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector

/// A section mid-call: RESPONSE_READY, mutex held by 1234/4661 with waiters, 7 calls traced.
private func busySection() -> SectionBytes {
    var s = SectionBytes()
    s.server()
    s.state(3)
    s.mutex(word: 0x8000_1235, ownerPID: 1234, ownerTID: 4661)
    s.request(seq: 7, function: 1, payload: Array("hello, world\n".utf8))
    s.response(seq: 7, status: 0, payload: Array("hello, world\n".utf8))
    return s
}

private func busyModel() -> InspectorModel {
    var snap = busySection().snapshot()
    snap.trace = (1...7).map { record(UInt64($0), fn: UInt32($0 % 3), sent: 9_000_000_000 + UInt64($0) * 1_000_000) }
    var m = testModel()
    m.ingest(snap, now: 10_000_000_000)
    return m
}

@Suite(.serialized) struct GridTests {
    @Test func headerPane() {
        var m = busyModel()
        let g = draw(&m)
        #expect(g.text(0).hasPrefix(" ipcscope attach  Demo  [LIVE]"))
        #expect(g.text(0).hasSuffix("every 50.0ms  ? help  q quit"))
        #expect(g.text(1) == " /dev/shm/ipcscope.Demo  uid 1000  mode 0600  28672 bytes  request 4096  response 4096  trace 256")
        #expect(g.text(2) == " server pid 4242 ipcscope serve Demo --echo ALIVE  epoch 1  heartbeat 1.0s ago  flags tracing")
    }

    @Test func stateMutexEventsPanes() {
        var m = busyModel()
        let g = draw(&m)
        let expected = [
            "─ State ───────────────────────┬─ Mutex ────────────────────────────────────────┬─ Events ──────────────────────────────",
            " 3 RESPONSE_READY for 2.0s     │ HELD pid 1234 tid 4661 for 2.5s holder         │ request  0  server waits 0",
            "  IDLE → REQUEST_READY         │ word 0x80001235: tid 4661 waiters YES died no  │ response 0  client waits 0",
            "   ↑           ↓               │ locks 7  contended 0  recovered 0              │ served 7  rejected 0",
            " RESPONSE_READY ← PROCESSING   │ threads waiting: yes (FUTEX_WAITERS)           │ next seq 7  last 12.3µs",
        ]
        #expect(Array(g.lines[3...7]) == expected)
        // The current state is lit (reverse video), the others are not.
        let row = g.row(containing: "RESPONSE_READY ←")!
        #expect(g[row, 1].attributes.contains(.reverse))
        #expect(!g[row - 2, 3].attributes.contains(.reverse))  // IDLE
    }

    @Test func stateCycleLightsEachState() {
        for (raw, name) in [(0, "IDLE"), (1, "REQUEST_READY"), (2, "PROCESSING"), (3, "RESPONSE_READY")] {
            var s = busySection()
            s.state(UInt32(raw))
            var m = testModel()
            m.ingest(s.snapshot(), now: 10_000_000_000)
            let g = draw(&m)
            let lit = (4...7).flatMap { r in (0..<30).filter { g[r, $0].attributes.contains(.reverse) }.map { g[r, $0].char } }
            #expect(String(String.UnicodeScalarView(lit)) == name)
        }
    }

    @Test func mutexWordAndOwnerRecordDisagree() {
        var s = busySection()
        s.mutex(word: 5, ownerPID: 1234, ownerTID: 7)
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        let g = draw(&m)
        #expect(g.contains("! word says tid 5, record tid 7"))
        s.mutex(word: 0x4000_0000 | 99, ownerPID: 0, ownerTID: 0)
        m.ingest(s.snapshot(), now: 10_000_000_000)
        let g2 = draw(&m)
        #expect(g2.contains("word 0x40000063: tid 99 waiters no died YES"))
        #expect(g2.contains("HELD (owner record empty)"))
    }

    @Test func requestAndResponseDumps() {
        var m = busyModel()
        let g = draw(&m)
        #expect(g.text(8).hasPrefix("─ Request ─ seq 7  fn 1  13 bytes  client 777 ────"))
        #expect(g.text(8).contains("hex 0000-004f/4096 ─"))
        #expect(g.text(9).hasPrefix("00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 00 00  |hello, world....|"))
        #expect(g.text(14).hasPrefix("─ Response ─ seq 7  status 0  13 bytes  in 50.0µs ─"))
        #expect(g.text(15).hasPrefix("00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 00 00  |hello, world....|"))
        // Bytes past the payload size are dimmed; the payload is not.
        #expect(!g[9, 10].attributes.contains(.dim))
        #expect(g[9, 10 + 3 * 13 + 1].attributes.contains(.dim))
    }

    @Test func dumpScrollsOverTheWholeCapacity() {
        var m = busyModel()
        _ = m.handle(key: .end)
        let g = draw(&m)
        #expect(g.text(13).hasPrefix("00000ff0  00 00"))
        #expect(g.text(8).contains("hex 0fb0-0fff/4096"))
        _ = m.handle(key: .home)
        _ = m.handle(key: .char("j"))
        #expect(draw(&m).text(9).hasPrefix("00000010"))
    }

    @Test func changedBytesAreMarkedAndFade() {
        var s = busySection()
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        s.request(seq: 8, function: 1, payload: Array("jello, world\n".utf8))
        m.ingest(s.snapshot(), now: 10_050_000_000)
        var g = draw(&m)
        // 'h' → 'j' in byte 0: reverse video in the hex and the ASCII column, not colour alone.
        #expect(g.text(9).hasPrefix("00000000  6a 65"))
        #expect(g[9, 10].attributes.contains(.reverse) && g[9, 11].attributes.contains(.reverse))
        #expect(g[9, 61].attributes.contains(.reverse))
        #expect(!g[9, 13].attributes.contains(.reverse))
        #expect(m.animating)
        for i in 1...3 { m.tick(now: 10_050_000_000 + UInt64(i) * 50_000_000) }
        g = draw(&m)
        #expect(g[9, 10].attributes.contains(.underline) && !g[9, 10].attributes.contains(.reverse))
        for i in 4...12 { m.tick(now: 10_050_000_000 + UInt64(i) * 50_000_000) }
        g = draw(&m)
        #expect(g[9, 10].attributes.isEmpty)
        #expect(!m.animating)
    }

    @Test func textViewToggle() {
        var m = busyModel()
        _ = m.handle(key: .char("h"))
        let g = draw(&m)
        #expect(g.text(9).hasPrefix("hello, world\\n   "))
        #expect(g.text(8).contains("text 13 bytes, line 1/2"))
        _ = m.handle(key: .char("h"))
        #expect(draw(&m).text(9).hasPrefix("00000000  68"))
    }

    @Test func historyTableFilterAndCounters() {
        var m = busyModel()
        var g = draw(&m)
        // Each count says what it counts: seen since attaching, kept (of the bound), kept whole.
        #expect(g.text(20).hasPrefix("─ History  seen 7 calls since attach  kept 7/1000, 0 whole •  missed 0  torn 0 ─"))
        #expect(g.text(21) == "      seq  time          fn    req    rsp  status   latency   client  first bytes")
        #expect(g.text(28) == "        7  t+9007ms       1      5      5       0    25.0µs      777  68 65 6c 6c 6f                   |hello|")
        for k in [Key.char("/"), .char("f"), .char("n"), .char("="), .char("2"), .enter] { _ = m.handle(key: k) }
        g = draw(&m)
        #expect(g.text(20).contains("filter: fn=2 (2 shown)"))
        #expect(g.text(22).hasPrefix("        2  t+9002ms       2"))
        #expect(g.text(23).hasPrefix("        5  t+9005ms       2"))
        #expect(g.text(24).isEmpty)
        _ = m.handle(key: .escape)
        #expect(m.filter == nil)
    }

    @Test func missedCallsAndTornReadsAreCounted() {
        var s = busySection()
        s.set64(Int(IPCSCOPE_OFF_TRACE_HEAD), 5)
        var snap = s.snapshot()
        snap.trace = (1...5).map { record(UInt64($0)) }
        var m = testModel()
        m.ingest(snap, now: 10_000_000_000)
        // 600 records written by now; the ring holds 256, two of them torn while read.
        s.set64(Int(IPCSCOPE_OFF_TRACE_HEAD), 600)
        snap = s.snapshot()
        snap.trace = (347...600).map { record(UInt64($0)) }
        snap.tornRecords = 2
        m.ingest(snap, now: 10_050_000_000)
        #expect(m.history.accepted == 259)
        #expect(m.history.missed == 600 - 259 - 2)
        #expect(m.history.tornReads == 2)
        let g = draw(&m)
        #expect(g.text(20).contains("259 calls"))
        #expect(g.text(20).contains("missed 339  torn 2"))
        #expect(g[20, g.text(20).firstRange(of: "missed")!.lowerBound.utf16Offset(in: g.text(20))].attributes.contains(.bold))
    }

    @Test func garbageObjectNeverTraps() {
        var rng = SystemRandomNumberGenerator()
        for size in [0, 10, 64, 511, 512, 4096, 28672] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let snap = Snapshot(service: "Demo", bytes: bytes, objectSize: size, serverAlive: false, takenNS: 1)
            var m = testModel()
            m.ingest(snap, now: 2)
            for (w, h) in [(120, 40), (80, 24)] {
                let g = draw(&m, width: w, height: h, now: 2)
                #expect(g.text(1).hasPrefix(" ! "), "size \(size): the problem is shown")
            }
        }
    }

    @Test func tornSnapshotShowsSizeOverCapacity() {
        var s = busySection()
        s.request(seq: 9, function: 1, payload: Array("abc".utf8), sizeOverride: 70_000)
        var m = testModel()
        m.ingest(s.snapshot(), now: 10_000_000_000)
        let g = draw(&m)
        #expect(g.text(1).contains("! request_size 70000 exceeds request_capacity 4096"))
        #expect(g.text(8).hasPrefix("─ Request ─ size over capacity!  seq 9  fn 1  70000 bytes ─"))
        #expect(g.text(9).hasPrefix("00000000  61 62 63"))
    }

    @Test func waitingForTheServerAndGone() {
        var m = testModel()
        m.ingest(error: IPCError(.noSuchService, service: "Demo", "no service named 'Demo'"), now: 1)
        var g = draw(&m)
        #expect(g.text(0).contains("[WAITING]"))
        #expect(g.contains("waiting for service 'Demo' to appear"))
        m.ingest(busySection().snapshot(), now: 2)
        #expect(draw(&m).text(0).contains("[LIVE]"))
        m.ingest(error: IPCError(.noSuchService, service: "Demo", "gone"), now: 3)
        g = draw(&m)
        #expect(g.text(2).contains("GONE (object removed)"))
        #expect(g.text(39) == "section removed (server stopped): waiting for a new server")
    }

    @Test func serverDeathAndRestartAreShown() {
        var s = busySection()
        var m = testModel()
        m.ingest(s.snapshot(), now: 1)
        m.ingest(s.snapshot(alive: false), now: 2)
        #expect(draw(&m).text(2).contains("4242 ipcscope serve Demo --echo DEAD"))
        s.server(pid: 5151, epoch: 2)
        m.ingest(s.snapshot(), now: 3)
        let g = draw(&m)
        #expect(m.restarts == 1)
        #expect(g.text(2).contains("epoch 2"))
        #expect(g.text(2).contains("restarts 1"))
        #expect(g.text(39).hasPrefix("server restarted (epoch 1 → 2, pid 5151): re-attached"))
    }

    @Test func clientPaneSendsTypedCall() {
        var m = busyModel()
        m.setWritability(.writable)
        for _ in 0..<3 { _ = m.handle(key: .tab) }
        #expect(m.focus == .client)
        var actions: [InspectorAction] = []
        for c in "2 hi\\n" { actions += m.handle(key: .char(c)) }
        #expect(draw(&m).text(9).contains("text> 2 hi\\n_"))
        actions += m.handle(key: .enter)
        #expect(actions == [.send(ClientCall(function: 2, payload: Array("hi\n".utf8), timeoutNS: 5_000_000_000))])
        m.clientFinished(ClientOutcome(call: ClientCall(function: 2, payload: Array("hi\n".utf8)), status: 0,
                                       response: Array("hi\n".utf8), seq: 8, latencyNS: 41_000, error: nil))
        let g = draw(&m)
        #expect(g.text(10).hasSuffix("│seq 8 status 0 3 bytes 41.0µs         │"))
        #expect(g.text(11).contains("│68 69 0a  |hi.|"))
        // Up recalls it; Ctrl-S names it; @name sends it again.
        _ = m.handle(key: .up)
        #expect(m.client.input == "2 hi\\n")
        _ = m.handle(key: .ctrl("s"))
        var saved: [InspectorAction] = []
        for c in "greet" { saved += m.handle(key: .char(c)) }
        saved += m.handle(key: .enter)
        #expect(saved == [.saveCalls([SavedCall(name: "greet", input: "2 hi\\n", hex: false)])])
        m.client.input = "@greet"
        #expect(m.handle(key: .enter) == [.send(ClientCall(function: 2, payload: Array("hi\n".utf8), timeoutNS: 5_000_000_000))])
    }

    @Test func clientPaneTakesPastedHexdump() {
        var m = busyModel()
        m.focus = .client
        _ = m.handle(key: .ctrl("t"))
        let paste = "7 00000000  68 65 6c 6c 6f 0a                                 |hello.|\n00000006\n"
        var actions: [InspectorAction] = []
        for c in paste { actions += m.handle(key: c == "\n" ? .enter : .char(c)) }
        #expect(actions == [.send(ClientCall(function: 7, payload: Array("hello\n".utf8), timeoutNS: 5_000_000_000))])
    }

    @Test func clientPaneSaysWhenNotWritable() {
        var m = busyModel()
        m.setWritability(.readOnly("no write permission on /dev/shm/ipcscope.Demo (mode 644)"))
        m.focus = .client
        for c in "1 x" { _ = m.handle(key: .char(c)) }
        #expect(m.handle(key: .enter).isEmpty)
        let g = draw(&m)
        #expect(g.text(9).contains("│not writable for you: calls are off"))
        #expect(g.contains("History"))  // the rest still works
    }

    @Test func narrowTerminalKeepsEveryPane() {
        var m = busyModel()
        let g = draw(&m, width: 80, height: 24)
        #expect(g.text(4).contains("│ HELD pid 1234 for 2.5s "))
        #expect(g.text(8).hasPrefix("─ Request ─ seq 7"))
        #expect(g.text(9).hasPrefix("00000000  68 65 6c 6c 6f 2c 20 77  6f 72 6c 64 0a 00 00 00  |hello, world....|"))
        #expect(g.text(11).hasPrefix("─ Response ─ seq 7"))
        #expect(g.text(14).hasPrefix("─ History  seen 7 calls since attach  kept 7/1000, 0 whole •"))
        #expect(g.text(15) == "     seq  fn   req   rsp status  latency  client  first bytes")
        #expect(g.text(20).hasPrefix("─ Client "))
        #expect(g.text(23).hasPrefix("i client  Tab pane"))
    }

    @Test func tooSmallSaysSo() {
        var m = busyModel()
        let g = draw(&m, width: 60, height: 20)
        #expect(g.contains("terminal too small: 60x20"))
        #expect(g.contains("ipcscope attach needs at least 80x24"))
    }

    @Test func asciiFallback() {
        var snap = busySection().snapshot()
        snap.trace = [record(1)]
        var m = testModel(ascii: true)
        m.ingest(snap, now: 10_000_000_000)
        let g = draw(&m)
        #expect(g.text(3).hasPrefix("- State -----"))
        #expect(g.text(5) == "  IDLE -> REQUEST_READY        | word 0x80001235: tid 4661 waiters YES died no  | response 0  client waits 0")
        #expect(g.lines.allSatisfy { $0.unicodeScalars.allSatisfy(\.isASCII) })
    }

    @Test func helpPauseAndQuit() {
        var m = busyModel()
        _ = m.handle(key: .char("?"))
        #expect(draw(&m).contains("Tab / Shift-Tab   next / previous pane"))
        _ = m.handle(key: .char("x"))
        #expect(!m.showHelp)
        _ = m.handle(key: .char(" "))
        var s = busySection()
        s.state(0)
        m.ingest(s.snapshot(), now: 10_100_000_000)
        #expect(draw(&m).text(0).contains("[PAUSED]"))
        #expect(draw(&m).text(4).contains("3 RESPONSE_READY"))  // frozen
        _ = m.handle(key: .char(" "))
        #expect(draw(&m).text(4).contains("0 IDLE"))
        #expect(m.handle(key: .char("q")) == [.quit])
    }

    @Test func breakpointsMatch() {
        let b = Breakpoints("fn=3 /hel\\x6co/ hex=ff00")
        #expect(b.match(function: 3, payload: []) == "breakpoint fn=3")
        #expect(b.match(function: 1, payload: Array("say hello".utf8)) != nil)
        #expect(b.match(function: 1, payload: [1, 0xff, 0, 2]) != nil)
        #expect(b.match(function: 1, payload: Array("nothing".utf8)) == nil)
    }
}
