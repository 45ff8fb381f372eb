import CIPCScope
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording

/// Where each pane goes for a terminal size.
package struct ScreenLayout: Equatable, Sendable {
    package static let minWidth = 80
    package static let minHeight = 24

    package var width: Int, height: Int
    /// Rows of each hex dump, of the history table.
    package var dumpRows: Int, historyRows: Int
    /// Client pane beside the dumps (wide) or as a strip above the footer (narrow).
    package var clientBeside: Bool
    package var topRule: Int { 3 }
    package var requestRule: Int { 8 }
    package var responseRule: Int { requestRule + 1 + dumpRows }
    package var historyRule: Int { responseRule + 1 + dumpRows }
    package var clientStrip: Int { height - 4 }
    package var footer: Int { height - 1 }
    /// Columns of the top three panes.
    package var stateWidth: Int, mutexWidth: Int

    package init(width: Int, height: Int) {
        self.width = width
        self.height = height
        clientBeside = width >= 110
        let free = height - 13
        dumpRows = max(2, min(16, free / 5))
        historyRows = max(1, free - 2 * dumpRows - (clientBeside ? 0 : 3))
        stateWidth = width >= 110 ? 32 : 30
        mutexWidth = width >= 110 ? (width - stateWidth) * 56 / 100 : max(30, (width - stateWidth) * 53 / 100)
    }

    package var tooSmall: Bool { width < ScreenLayout.minWidth || height < ScreenLayout.minHeight }
    /// Width of the dump area.
    package var dumpWidth: Int { clientBeside ? 79 : width }
}

extension InspectorModel {
    /// Draws the whole screen for a terminal of `grid`'s size at time `now`.
    package mutating func render(into grid: inout Grid, now: UInt64) {
        grid.fill(0, 0, grid.width, grid.height)
        let L = ScreenLayout(width: grid.width, height: grid.height)
        if L.tooSmall {
            let lines = ["terminal too small: \(grid.width)x\(grid.height)",
                         "ipcscope attach needs at least \(ScreenLayout.minWidth)x\(ScreenLayout.minHeight)",
                         "make the window larger, or press q to quit"]
            for (i, l) in lines.enumerated() {
                grid.put(max(0, grid.height / 2 - 1) + i, max(0, (grid.width - l.count) / 2), l, i == 0 ? Style(.bold, .warning) : .plain)
            }
            return
        }
        pageRows[.request] = L.dumpRows
        pageRows[.response] = L.dumpRows
        pageRows[.history] = L.historyRows
        // While paused, every age is that of the frozen snapshot: a paused screen must not
        // read as a hung server.
        let clock = paused ? (snapshot?.takenNS ?? now) : now
        drawHeader(&grid, L, clock)
        guard let snap = snapshot else {
            drawWaiting(&grid, L)
            drawFooter(&grid, L)
            if showHelp { drawHelp(&grid) }
            return
        }
        if latency.shown {
            drawLatency(&grid, L, clock)
            drawFooter(&grid, L)
            if showHelp { drawHelp(&grid) }
            return
        }
        drawTop(&grid, L, snap, clock)
        drawDump(&grid, L, snap, .request, clock)
        drawDump(&grid, L, snap, .response, clock)
        drawHistory(&grid, L, now)
        drawClient(&grid, L, snap)
        drawFooter(&grid, L)
        if showHelp { drawHelp(&grid) }
    }

    // MARK: - header

    mutating func drawHeader(_ g: inout Grid, _ L: ScreenLayout, _ now: UInt64) {
        let W = L.width
        g.fill(0, 0, W, 1, Cell(" ", .reverse, .title))
        var x = g.put(0, 1, "ipcscope attach", Style([.reverse, .bold], .title))
        x = g.put(0, x + 2, (place.map { $0 + ":" } ?? "") + service, Style([.reverse, .bold], .title))
        let (word, role): (String, ColorRole) = switch attach {
        case _ where recording != nil: ("RECORDING", .accent)
        case _ where lostConnection != nil: ("CONNECTION LOST, RETRYING", .bad)
        case .attached: paused ? ("PAUSED", .warning) : ("LIVE", .good)
        case .waiting: ("WAITING", .warning)
        case .failed: ("ERROR", .bad)
        }
        x = g.put(0, x + 2, "[" + word + "]", Style([.reverse, .bold], role))
        if paused { x = g.put(0, x + 1, "ages frozen", Style(.reverse, .warning)) }
        if let r = recording { x = g.put(0, x + 1, r.file, Style(.reverse, .title), maxWidth: max(0, W - x - 20)) }
        if let c = inspectedSeq { x = g.put(0, x + 1, "[CALL seq \(c)]", Style([.reverse, .bold], .accent)) }
        let right = (wireStats.map { $0 + "  " } ?? "") + (recording != nil ? "" : "every \(formatDuration(intervalNS, ascii: glyphs == .ascii))  ") + "? help  q quit "
        if let s = server {
            // What the in-process server does: step mode, breakpoints, the call it holds.
            var what = ["serving in-process"]
            if s.stepMode { what.append("STEP") }
            if !s.breakpoints.isEmpty { what.append("break " + s.breakpoints) }
            if let h = s.held { what.append("HELD seq \(h.seq)") }
            if let rule = s.rules[s.lastRuleSeq] { what.append("seq \(s.lastRuleSeq) by \(rule)") }
            let text = fitFields(what.enumerated().map { ($0.element, $0.offset == 0 ? 3 : 1) }, max(0, W - x - right.count - 3), separator: ", ")
            g.put(0, x + 2, text, Style([.reverse, .bold], s.held != nil ? .warning : .title), maxWidth: max(0, W - x - right.count - 3))
        }
        g.put(0, max(x + 1, W - right.count), right, Style(.reverse, .title))

        guard let snap = snapshot else { return }
        if let r = recording { return drawRecordingHeader(&g, W, r) }
        let path = "/dev/shm/ipcscope." + service + (place.map { " on " + $0 } ?? "")
        var fields: [(String, Int)] = [(path, 0), ("uid \(snap.ownerUID)", 3), ("mode \(octal(snap.mode))", 2),
                                                       ("\(snap.objectSize) bytes", 4)]
        if let l = snap.layout {
            let full = "request \(l.requestCapacity)  response \(l.responseCapacity)  trace \(l.traceCapacity)"
            let short = "req/rsp/trace \(l.requestCapacity)/\(l.responseCapacity)/\(l.traceCapacity)"
            let used = fields.map(\.0).joined(separator: "  ").count + 2
            fields.append((W - 2 - used >= full.count ? full : short, 1))
        }
        g.put(1, 1, fitFields(fields, W - 2), .plain, maxWidth: W - 2)
        if let problem = snap.problems.first {
            // Not a valid section (garbage, truncated) or a torn read: say so where it is seen first.
            let more = snap.problems.count > 1 ? " (+\(snap.problems.count - 1) more)" : ""
            g.fill(1, 0, W, 1)
            g.put(1, 1, "! " + problem + more, Style([.bold, .reverse], .bad), maxWidth: W - 2)
        }

        let alive = snap.serverAlive
        var rest: [(String, Int)] = [("", 0), ("epoch \(snap.serverEpoch)", 2)]
        if snap.heartbeatNS > 0 {
            let age = formatAge(now >= snap.heartbeatNS ? now - snap.heartbeatNS : 0)
            rest.append(("heartbeat \(age) ago", 1))
        }
        var flags: [String] = []
        if snap.stepMode { flags.append("step") }
        if snap.tracing { flags.append("tracing") }
        if snap.ntObjects { flags.append("NT objects") }
        if !flags.isEmpty { rest.append(("flags " + flags.joined(separator: ","), 3)) }
        if restarts > 0 { rest.append(("restarts \(restarts)", 2)) }
        var x2 = g.put(2, 1, "server ", .plain)
        if snap.serverPID > 0 {
            x2 = g.put(2, x2, "pid \(snap.serverPID) ", .bold)
            if !(hostFacts ?? .local).judgesPids(of: snap) {
                x2 = g.put(2, x2, "(NT program) ", .dim)
            } else if let cmd = serverCommand(snap.serverPID, startTime: snap.serverStartTime) {
                // The command gets what the facts after it leave (they are worth more).
                let room = W - x2 - 1 - (alive ? 6 : 5) - (snap.shuttingDown ? 16 : 0) - 2 - fitFields(Array(rest.dropFirst()), .max).count
                x2 = g.put(2, x2, pad(cmd, min(cmd.count, max(12, room))) + " ", .dim)
            } else {
                // The pid names another program now (or none): its command is not the server's.
                let note = PidIdentity.server(pid: snap.serverPID, recordedStart: snap.serverStartTime, startTime: processStartTime).note ?? "pid gone"
                x2 = g.put(2, x2, "(" + note + ") ", Style(.bold, .warning))
            }
        } else {
            x2 = g.put(2, x2, "none ", .dim)
        }
        if case .waiting = attach {
            x2 = g.put(2, x2, "GONE (object removed)", Style([.bold, .reverse], .bad))
        } else {
            x2 = g.put(2, x2, alive ? "ALIVE" : "DEAD", Style(alive ? .bold : [.bold, .reverse], alive ? .good : .bad))
        }
        if snap.shuttingDown { x2 = g.put(2, x2 + 1, "(shutting down)", Style(.bold, .warning)) }
        let restText = fitFields(Array(rest.dropFirst()), W - x2 - 3)
        if !restText.isEmpty { g.put(2, x2, "  " + restText, .plain, maxWidth: W - x2 - 1) }
    }

    /// Rows 1 and 2 for a recording: the file and what it holds, then the call shown, where a
    /// live screen has the section object and the server's state.
    func drawRecordingHeader(_ g: inout Grid, _ W: Int, _ r: RecordingHeader) {
        let kind = r.file.hasSuffix(".pcapng") ? "pcapng" : "recording"
        let what: [(String, Int)] = [("file " + r.file, 0), ("\(kind), \(r.calls) call\(r.calls == 1 ? "" : "s")", 1),
                                     (r.epochs > 1 ? "\(r.epochs) server epochs" : "", 2),
                                     ("request \(r.requestCapacity)  response \(r.responseCapacity)", 3)]
        g.put(1, 1, fitFields(what, W - 2), .plain, maxWidth: W - 2)
        let x = g.put(2, 1, "recording ", .plain)
        let x2 = g.put(2, x, "call \(r.index + 1) of \(r.calls)", .bold)
        let server = r.serverPID.map { "server pid \($0)" } ?? "server pid not recorded"
        g.put(2, x2, ", epoch \(r.epoch), " + server + ": nothing here is live", .plain, maxWidth: W - x2 - 1)
    }

    /// An age that does not flicker: `0.3s` (tenths) below 10 s, then `12s`, `5m03s`, `2h07m`.
    func formatAge(_ ns: UInt64) -> String {
        if ns < 10_000_000_000 { return fixed(Double(ns / 100_000_000) / 10, 1) + "s" }
        return formatDuration(ns / 1_000_000_000 * 1_000_000_000)
    }

    func drawWaiting(_ g: inout Grid, _ L: ScreenLayout) {
        let (title, detail): (String, String) = switch attach {
        case .waiting(let why): ("waiting for service '\(service)' to appear", why)
        case .failed(let why): ("cannot read service '\(service)'", why)
        case .attached: ("attached", "")
        }
        let y = L.height / 2 - 2
        g.put(y, max(1, (L.width - title.count) / 2), title, Style(.bold, .warning), maxWidth: L.width - 2)
        // The detail may be long: wrap it.
        var row = y + 2
        var line = ""
        for word in detail.split(separator: " ") {
            if line.count + word.count + 1 > L.width - 8 {
                g.put(row, 4, line, .dim)
                row += 1
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { g.put(row, 4, line, .dim) }
        g.put(row + 2, 4, "this screen attaches by itself when a server starts; q quits", .plain)
    }

    // MARK: - state, mutex, events

    mutating func drawTop(_ g: inout Grid, _ L: ScreenLayout, _ snap: Snapshot, _ now: UInt64) {
        let y = L.topRule
        let sw = L.stateWidth, mw = L.mutexWidth, ew = L.width - sw - mw
        g.rule(y, 0, L.width, title: "", glyphs)
        g.put(y, 1, " State ", .bold)
        g.put(y, sw + 1, " Mutex ", .bold)
        g.put(y, sw + mw + 1, " Events ", .bold)
        g[y, sw - 1] = Cell(glyphs.teeDown)
        g[y, sw + mw - 1] = Cell(glyphs.teeDown)
        for r in 1...4 {
            g[y + r, sw - 1] = Cell(glyphs.vertical)
            g[y + r, sw + mw - 1] = Cell(glyphs.vertical)
        }
        g.clipped(to: 0..<(sw - 1)) { drawState(&$0, y + 1, 1, sw - 2, snap, now) }
        var m = self
        g.clipped(to: sw..<(sw + mw - 1)) { m.drawMutex(&$0, y + 1, sw + 1, mw - 2, snap, now) }
        self = m
        g.clipped(to: (sw + mw)..<L.width) { drawEvents(&$0, y + 1, sw + mw + 1, ew - 2, snap) }
    }

    /// The four-state cycle with the current state lit.
    func drawState(_ g: inout Grid, _ y: Int, _ x: Int, _ w: Int, _ snap: Snapshot, _ now: UInt64) {
        let name = snap.state?.name ?? "INVALID"
        var head = "\(snap.stateRaw) \(name)"
        if snap.stateSinceNS > 0, now >= snap.stateSinceNS {
            head += " for " + formatAge(now - snap.stateSinceNS)
        }
        g.put(y, x, head, snap.state == nil ? Style([.bold, .reverse], .bad) : .bold, maxWidth: w)
        let a = glyphs
        // IDLE → REQUEST_READY
        //  ↑          ↓
        // RESPONSE_READY ← PROCESSING
        let lit = Style([.reverse, .bold], .accent)
        func put(_ row: Int, _ col: Int, _ s: ProtocolState) {
            g.put(row, x + col, s.name, snap.state == s ? lit : .dim, maxWidth: max(0, w - col))
        }
        let aw = a.arrowRight.unicodeScalars.count
        put(y + 1, 1, .idle)
        g.put(y + 1, x + 6, a.arrowRight, .plain)
        put(y + 1, 7 + aw, .requestReady)
        g.put(y + 2, x + 2, a.arrowUp, .plain)
        g.put(y + 2, x + 13 + aw, a.arrowDown, .plain)
        put(y + 3, 0, .responseReady)
        g.put(y + 3, x + 15, a.arrowLeft, .plain)
        put(y + 3, 16 + aw, .processing)
    }

    /// The mutex pane. Each line is the longest variant that fits, so a value is never cut; the
    /// most important fact (free, held by whom, owner died) is always the first line and the
    /// last line's alert.
    mutating func drawMutex(_ g: inout Grid, _ y: Int, _ x: Int, _ w: Int, _ snap: Snapshot, _ now: UInt64) {
        let word = snap.mutexWord
        let age = snap.ownerSinceNS > 0 && now >= snap.ownerSinceNS ? formatAge(now - snap.ownerSinceNS) : nil
        let forAge = age.map { " for " + $0 } ?? ""
        let pid = snap.ownerPID, tid = snap.ownerTID
        let who = tid != pid && tid != 0 ? "\(pid)/\(tid)" : "\(pid)"
        if word.isFree && pid == 0 && !word.ownerDied {
            g.put(y, x, "free", Style(.bold, .good), maxWidth: w)
        } else if word.ownerDied && word.isFree {
            // The holder died; the kernel marked the word: the next locker gets EOWNERDEAD.
            let cx = g.put(y, x, "OWNER DIED", Style([.bold, .reverse], .bad))
            let rest = pid == 0 ? "" : fitVariant([" (was pid \(pid) tid \(tid))" + forAge, " (was pid \(who))" + forAge, " was \(who)" + forAge, " was \(who)", ""], w - (cx - x))
            g.put(y, cx, rest, .bold, maxWidth: w - (cx - x))
        } else {
            let cx = g.put(y, x, "HELD", Style([.bold, .reverse], .warning), maxWidth: w)
            var name = ""
            if pid != 0 && !snap.ntObjects { name = ownerNote(pid, sinceNS: snap.ownerSinceNS, snap) }
            let rest = pid == 0 ? fitVariant([" (owner record empty)", " (no record)", ""], w - 4)
                : fitVariant([" pid \(pid) tid \(tid)" + forAge + " " + name, " pid \(pid) tid \(tid)" + forAge, " pid \(pid)" + forAge,
                              " " + who + forAge, " \(pid)" + forAge, " \(pid)"], w - 4)
            g.put(y, cx, rest, .bold, maxWidth: w - (cx - x))
        }
        let hexWord = "0x" + HexDump.hex8(Int(word.raw))
        let wordLine = snap.ntObjects ? fitVariant(["mutex and events are NT objects", "NT objects"], w)
            : fitVariant(["word \(hexWord): tid \(word.ownerTID) waiters \(word.waiters ? "YES" : "no") died \(word.ownerDied ? "YES" : "no")",
                          "word \(hexWord) tid \(word.ownerTID)" + (word.ownerDied ? " DIED" : word.waiters ? " wait" : ""),
                          "\(hexWord) tid \(word.ownerTID)" + (word.ownerDied ? " DIED" : ""), hexWord], w)
        g.put(y + 1, x, wordLine, word.ownerDied ? Style(.bold, .bad) : .plain, maxWidth: w)
        let (l, c, r) = (snap.lockCount, snap.contendedCount, snap.recoveredCount)
        g.put(y + 2, x, fitVariant(["locks \(l)  contended \(c)  recovered \(r)", "lock \(l) cont \(c) recov \(r)",
                                    "lk \(l) ct \(c) rec \(r)", "lk \(l) rec \(r)", "rec \(r)"], w), .plain, maxWidth: w)
        let alert: [String]?
        if snap.ownerThreadDead {
            alert = ["! owner thread is dead (tid \(word.ownerTID))", "! OWNER DEAD (tid \(word.ownerTID))", "! OWNER DEAD"]
        } else if word.ownerDied {
            alert = ["! owner died holding it: next locker repairs", "! owner died: next locker repairs", "! OWNER DIED"]
        } else if snap.ownerMismatch {
            alert = [word.isFree ? "! word free, owner record says tid \(snap.ownerTID)" : "! word says tid \(word.ownerTID), record tid \(snap.ownerTID)",
                     "! word/record disagree", "! disagree"]
        } else {
            alert = nil
        }
        if let alert {
            g.put(y + 3, x, fitVariant(alert, w), Style([.bold, .underline], .bad), maxWidth: w)
        } else {
            g.put(y + 3, x, word.waiters ? fitVariant(["threads waiting: yes (FUTEX_WAITERS)", "waiters YES"], w) : fitVariant(["threads waiting: none", "waiters none"], w),
                  word.waiters ? Style(.bold, .warning) : .plain, maxWidth: w)
        }
    }

    func drawEvents(_ g: inout Grid, _ y: Int, _ x: Int, _ w: Int, _ snap: Snapshot) {
        let (rq, sw, rs, cw) = (snap.requestEvent, snap.serverWaiting, snap.responseEvent, snap.clientWaiting)
        g.put(y, x, fitVariant(["request  \(rq)  server waits \(sw)", "req \(rq) srv wait \(sw)", "req \(rq) srvw \(sw)", "rq \(rq) sw \(sw)", "sw \(sw)"], w),
              .plain, maxWidth: w)
        let leaked = snap.clientWaitingLooksLeaked
        g.put(y + 1, x, fitVariant(["response \(rs)  client waits \(cw)" + (leaked ? " (dead?)" : ""), "rsp \(rs) cli wait \(cw)" + (leaked ? "?" : ""),
                                    "rsp \(rs) cliw \(cw)" + (leaked ? "?" : ""), "rs \(rs) cw \(cw)" + (leaked ? "?" : ""), "cw \(cw)" + (leaked ? "?" : "")], w),
              leaked ? Style(.bold, .warning) : .plain, maxWidth: w)
        let (sv, rj) = (snap.callsServed, snap.callsRejected)
        g.put(y + 2, x, fitVariant(["served \(sv)  rejected \(rj)", "served \(sv) rej \(rj)", "srv \(sv) rej \(rj)", "srv \(sv)"], w), .plain, maxWidth: w)
        let last = formatDuration(snap.lastServiceNS, ascii: glyphs == .ascii)
        g.put(y + 3, x, fitVariant(["next seq \(snap.nextSeq)  last " + last, "last " + last], w), .plain, maxWidth: w)
    }
}

/// A file mode as four octal digits.
func octal(_ m: UInt32) -> String {
    let s = String(m & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
