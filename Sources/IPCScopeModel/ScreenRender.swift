import CIPCScope
import IPCScopeKit

/// Where each pane goes for a terminal size.
public struct ScreenLayout: Equatable, Sendable {
    public static let minWidth = 80
    public static let minHeight = 24

    public var width: Int, height: Int
    /// Rows of each hex dump, of the history table.
    public var dumpRows: Int, historyRows: Int
    /// Client pane beside the dumps (wide) or as a strip above the footer (narrow).
    public var clientBeside: Bool
    public var topRule: Int { 3 }
    public var requestRule: Int { 8 }
    public var responseRule: Int { requestRule + 1 + dumpRows }
    public var historyRule: Int { responseRule + 1 + dumpRows }
    public var clientStrip: Int { height - 4 }
    public var footer: Int { height - 1 }
    /// Columns of the top three panes.
    public var stateWidth: Int, mutexWidth: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        clientBeside = width >= 110
        let free = height - 13
        dumpRows = max(2, min(16, free / 5))
        historyRows = max(1, free - 2 * dumpRows - (clientBeside ? 0 : 3))
        stateWidth = width >= 110 ? 32 : 30
        mutexWidth = width >= 110 ? (width - stateWidth) * 56 / 100 : max(30, (width - stateWidth) * 53 / 100)
    }

    public var tooSmall: Bool { width < ScreenLayout.minWidth || height < ScreenLayout.minHeight }
    /// Width of the dump area.
    public var dumpWidth: Int { clientBeside ? 79 : width }
}

extension InspectorModel {
    /// Draws the whole screen for a terminal of `grid`'s size at time `now`.
    public mutating func render(into grid: inout Grid, now: UInt64) {
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
        drawHeader(&grid, L, now)
        guard let snap = snapshot else {
            drawWaiting(&grid, L)
            drawFooter(&grid, L)
            if showHelp { drawHelp(&grid) }
            return
        }
        drawTop(&grid, L, snap, now)
        drawDump(&grid, L, snap, .request, now)
        drawDump(&grid, L, snap, .response, now)
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
        x = g.put(0, x + 2, service, Style([.reverse, .bold], .title))
        let (word, role): (String, ColorRole) = switch attach {
        case .attached: paused ? ("PAUSED", .warning) : ("LIVE", .good)
        case .waiting: ("WAITING", .warning)
        case .failed: ("ERROR", .bad)
        }
        x = g.put(0, x + 2, "[" + word + "]", Style([.reverse, .bold], role))
        if let s = server {
            g.put(0, x + 2, "serving in-process" + (s.stepMode ? ", step mode" : ""), Style(.reverse, .title))
        }
        let right = "every \(formatDuration(intervalNS, ascii: glyphs == .ascii))  ? help  q quit "
        g.put(0, max(x + 1, W - right.count), right, Style(.reverse, .title))

        guard let snap = snapshot else { return }
        let path = "/dev/shm/ipcscope." + service
        var line1 = "\(path)  uid \(snap.ownerUID)  mode \(octal(snap.mode))  \(snap.objectSize) bytes"
        if let l = snap.layout {
            line1 += "  request \(l.requestCapacity)  response \(l.responseCapacity)  trace \(l.traceCapacity)"
        }
        g.put(1, 1, line1, .plain, maxWidth: W - 2)
        if let problem = snap.problems.first {
            // Not a valid section (garbage, truncated) or a torn read: say so where it is seen first.
            let more = snap.problems.count > 1 ? " (+\(snap.problems.count - 1) more)" : ""
            g.fill(1, 0, W, 1)
            g.put(1, 1, "! " + problem + more, Style([.bold, .reverse], .bad), maxWidth: W - 2)
        }

        var x2 = g.put(2, 1, "server ", .plain)
        if snap.serverPID > 0 {
            let cmd = snap.ntObjects ? "(NT program)" : serverCommand(snap.serverPID) ?? "?"
            x2 = g.put(2, x2, "pid \(snap.serverPID) ", .bold)
            x2 = g.put(2, x2, pad(cmd, min(cmd.count, 30)) + " ", .dim)
        } else {
            x2 = g.put(2, x2, "none ", .dim)
        }
        let alive = snap.serverAlive
        if case .waiting = attach {
            x2 = g.put(2, x2, "GONE (object removed)", Style([.bold, .reverse], .bad))
        } else {
            x2 = g.put(2, x2, alive ? "ALIVE" : "DEAD", Style(alive ? .bold : [.bold, .reverse], alive ? .good : .bad))
        }
        if snap.shuttingDown { x2 = g.put(2, x2 + 1, "(shutting down)", Style(.bold, .warning)) }
        var rest = "  epoch \(snap.serverEpoch)"
        if snap.heartbeatNS > 0 {
            let age = formatAge(now >= snap.heartbeatNS ? now - snap.heartbeatNS : 0)
            rest += "  heartbeat \(age) ago"
        }
        var flags: [String] = []
        if snap.stepMode { flags.append("step") }
        if snap.tracing { flags.append("tracing") }
        if snap.ntObjects { flags.append("NT objects") }
        if !flags.isEmpty { rest += "  flags " + flags.joined(separator: ",") }
        if restarts > 0 { rest += "  restarts \(restarts)" }
        g.put(2, x2, rest, .plain, maxWidth: W - x2 - 1)
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
        drawState(&g, y + 1, 1, sw - 2, snap, now)
        drawMutex(&g, y + 1, sw + 1, mw - 2, snap, now)
        drawEvents(&g, y + 1, sw + mw + 1, ew - 2, snap)
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

    mutating func drawMutex(_ g: inout Grid, _ y: Int, _ x: Int, _ w: Int, _ snap: Snapshot, _ now: UInt64) {
        let word = snap.mutexWord
        if word.isFree && snap.ownerPID == 0 {
            g.put(y, x, "free", Style(.bold, .good), maxWidth: w)
        } else {
            var cx = g.put(y, x, "HELD", Style([.bold, .reverse], .warning), maxWidth: w)
            let who = snap.ownerPID != 0 ? " pid \(snap.ownerPID) tid \(snap.ownerTID)" : " (owner record empty)"
            cx = g.put(y, cx, who, .bold, maxWidth: w - (cx - x))
            if snap.ownerSinceNS > 0, now >= snap.ownerSinceNS {
                cx = g.put(y, cx, " for " + formatAge(now - snap.ownerSinceNS), .plain, maxWidth: w - (cx - x))
            }
            if snap.ownerPID != 0 && !snap.ntObjects { g.put(y, cx, " " + ownerName(snap.ownerPID), .dim, maxWidth: w - (cx - x)) }
        }
        let hexWord = "0x" + HexDump.hex8(Int(word.raw))
        let wide = w >= 44
        let wordLine = snap.ntObjects ? (wide ? "mutex and events are NT objects" : "NT objects")
                     : wide ? "word \(hexWord): tid \(word.ownerTID) waiters \(word.waiters ? "YES" : "no") died \(word.ownerDied ? "YES" : "no")"
                            : "word \(hexWord) tid \(word.ownerTID)"
        g.put(y + 1, x, wordLine, word.ownerDied ? Style(.bold, .bad) : .plain, maxWidth: w)
        g.put(y + 2, x, wide ? "locks \(snap.lockCount)  contended \(snap.contendedCount)  recovered \(snap.recoveredCount)"
                             : "lock \(snap.lockCount) cont \(snap.contendedCount) recov \(snap.recoveredCount)", .plain, maxWidth: w)
        if snap.ownerThreadDead {
            g.put(y + 3, x, wide ? "! owner thread is dead (tid \(word.ownerTID))" : "! OWNER DEAD", Style([.bold, .underline], .bad), maxWidth: w)
        } else if snap.ownerMismatch {
            let msg = !wide ? "! word/record disagree"
                : word.isFree ? "! word free, owner record says tid \(snap.ownerTID)"
                : "! word says tid \(word.ownerTID), record tid \(snap.ownerTID)"
            g.put(y + 3, x, msg, Style([.bold, .underline], .bad), maxWidth: w)
        } else if word.ownerDied {
            g.put(y + 3, x, wide ? "! owner died holding it: next locker repairs" : "! OWNER DIED", Style([.bold, .underline], .bad), maxWidth: w)
        } else {
            g.put(y + 3, x, word.waiters ? (wide ? "threads waiting: yes (FUTEX_WAITERS)" : "waiters YES") : (wide ? "threads waiting: none" : "waiters none"),
                  word.waiters ? Style(.bold, .warning) : .plain, maxWidth: w)
        }
    }

    func drawEvents(_ g: inout Grid, _ y: Int, _ x: Int, _ w: Int, _ snap: Snapshot) {
        let wide = w >= 30
        g.put(y, x, wide ? "request  \(snap.requestEvent)  server waits \(snap.serverWaiting)"
                         : "req \(snap.requestEvent) srv wait \(snap.serverWaiting)", .plain, maxWidth: w)
        let leaked = snap.clientWaitingLooksLeaked
        g.put(y + 1, x, wide ? "response \(snap.responseEvent)  client waits \(snap.clientWaiting)" + (leaked ? " (dead?)" : "")
                             : "rsp \(snap.responseEvent) cli wait \(snap.clientWaiting)" + (leaked ? "?" : ""),
              leaked ? Style(.bold, .warning) : .plain, maxWidth: w)
        g.put(y + 2, x, wide ? "served \(snap.callsServed)  rejected \(snap.callsRejected)"
                             : "served \(snap.callsServed) rej \(snap.callsRejected)", .plain, maxWidth: w)
        g.put(y + 3, x, (wide ? "next seq \(snap.nextSeq)  last " : "last ") + formatDuration(snap.lastServiceNS, ascii: glyphs == .ascii),
              .plain, maxWidth: w)
    }
}

/// A file mode as four octal digits.
func octal(_ m: UInt32) -> String {
    let s = String(m & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - s.count)) + s
}
