import IPCScopeKit
import IPCScopeSchema

/// The history table, the footer and the help overlay.
extension InspectorModel {
    mutating func drawHistory(_ g: inout Grid, _ L: ScreenLayout, _ now: UInt64) {
        let y = L.historyRule
        let W = L.width
        let focused = focus == .history
        g.rule(y, 0, W, title: "", glyphs)
        var x = g.put(y, 1, " History ", focused ? Style([.bold, .reverse], .accent) : .bold)
        let all = history.records
        let shown = filter.map { f in all.filter(f.matches) } ?? all
        var info = " \(history.accepted) calls "
        if let r = rate.current { info += " \(formatRate(r))/s " }
        x = g.put(y, x, info, .plain)
        if !rate.samples.isEmpty {
            let spark = sparkline(rate.samples, width: min(30, max(0, W - x - 60)), glyphs: glyphs)
            if !spark.isEmpty { x = g.put(y, x + 1, spark, Style(.bold, .accent)) + 1 }
        }
        let missedStyle = history.missed > 0 ? Style(.bold, .warning) : Style.plain
        x = g.put(y, x + 1, " missed \(history.missed) ", missedStyle)
        x = g.put(y, x, " torn \(history.tornReads) ", history.tornReads > 0 ? Style(.bold, .warning) : .plain)
        if let f = filter {
            x = g.put(y, x, " filter: \(f.text) (\(shown.count) shown) ", Style([.bold, .underline], .accent), maxWidth: W - x - 1)
        }
        if scroll[.history] ?? 0 > 0 { g.put(y, x, " scrolled ", Style(.bold, .warning), maxWidth: W - x - 1) }

        // Column header.
        let headerRow = y + 1
        let showTime = W >= 100
        let cols = showTime ? "     seq  time          fn    req    rsp  status   latency   client  first bytes"
                            : "    seq   fn   req   rsp status  latency  client  first bytes"
        g.put(headerRow, 0, cols, Style(.underline, .normal), maxWidth: W)
        let rows = L.historyRows
        let maxScroll = max(0, shown.count - rows)
        if scroll[.history] ?? 0 > maxScroll { scroll[.history] = maxScroll }
        let fromEnd = scroll[.history] ?? 0
        let end = shown.count - fromEnd
        let start = max(0, end - rows)
        if shown.isEmpty {
            let msg = all.isEmpty ? (snapshot?.layout?.traceCapacity == 0 ? "(tracing is off: the server has no trace ring)" : "(no calls yet)")
                                  : "(no calls match the filter)"
            g.put(headerRow + 1, 6, msg, .dim)
            return
        }
        let firstBytesCol = cols.count - "first bytes".count
        let n = max(0, min(16, (W - firstBytesCol - 3) / 4))
        for (i, r) in shown[start..<end].enumerated() {
            let row = headerRow + 1 + i
            var line: String
            if showTime {
                line = rpad(String(r.seq), 8) + "  " + pad(clockText(r.sentNS), 12) + " "
                line += rpad(String(r.function), 3) + " " + rpad(String(r.requestSize), 6) + " " + rpad(String(r.responseSize), 6) + " "
                line += rpad(String(r.status), 7) + " " + rpad(formatDuration(r.latencyNS, ascii: glyphs == .ascii), 9) + " "
                line += rpad(String(r.clientPID), 8) + "  "
            } else {
                line = rpad(String(r.seq), 7) + " " + rpad(String(r.function), 4) + " " + rpad(String(r.requestSize), 5) + " "
                line += rpad(String(r.responseSize), 5) + " " + rpad(String(r.status), 6) + " "
                line += rpad(formatDuration(r.latencyNS, ascii: glyphs == .ascii), 8) + " " + rpad(String(r.clientPID), 7) + "  "
            }
            if let name = schema?.function(r.function)?.name { line += name + " " }
            let head = Array(r.requestHead.prefix(min(n, Int(min(r.requestSize, 16)))))
            line += head.map(HexDump.hex2).joined(separator: " ")
            if !head.isEmpty { line += String(repeating: " ", count: max(0, (n - head.count) * 3)) + " |" + HexDump.printable(head) + "|" }
            var style = Style.plain
            if r.status < 0 || r.rejected { style = Style(.bold, .bad) }
            g.put(row, 0, line, style, maxWidth: W)
            if r.afterRecovery { g.put(row, 0, "R", Style([.bold, .reverse], .warning)) }
        }
    }

    mutating func drawFooter(_ g: inout Grid, _ L: ScreenLayout) {
        let y = L.footer
        let W = L.width
        if let p = prompt {
            let label = p.kind == .filter ? "filter (fn=1 status!=0 pid=42 lat>1ms text; Enter applies, Esc cancels): "
                                          : "break when (fn=3, /text/, hex=4865; Enter sets, empty clears): "
            let x = g.put(y, 0, label, .bold, maxWidth: W)
            let end = g.put(y, x, p.text, Style(.underline), maxWidth: W - x)
            g.put(y, end, "_", Style(.reverse), maxWidth: W - end)
            return
        }
        if let s = server, let h = s.held {
            let msg = "HELD seq \(h.seq) fn \(h.function) \(h.size) bytes (\(h.reason)): n answers, c continues, s step on/off"
            g.put(y, 0, msg, Style([.bold, .reverse], .warning), maxWidth: W)
            return
        }
        if let n = notice {
            g.put(y, 0, n, Style(.bold, .warning), maxWidth: W)
            return
        }
        var keys = "Tab pane  \(glyphs.arrowUp)\(glyphs.arrowDown)/jk PgUp PgDn scroll  h hex/text  / filter  space pause  ? help  q quit"
        if server != nil { keys += "  s step  b break" }
        g.put(y, 0, keys, .dim, maxWidth: W)
    }

    func drawHelp(_ g: inout Grid) {
        var lines = [
            "Tab / Shift-Tab   next / previous pane (focused title is lit)",
            "\(glyphs.arrowUp) \(glyphs.arrowDown) j k         scroll the focused pane by a line",
            "PgUp PgDn         scroll by a page;  g / G  top / bottom",
            "h  (or t)         hex dump / text view of the payloads",
            "f                 fields view of the payloads (with a schema: --schema FILE)",
            "/                 filter history: fn=1 status!=0 pid=42 lat>1ms word",
            "Esc               clear the filter and the notice",
            "space             pause / resume the display (history keeps counting)",
            "i or Enter        go to the client pane",
            "",
            "Client pane:  FUNCTION PAYLOAD then Enter, e.g.  1 hello\\n",
            "  Ctrl-T hex/text payload (hex takes pasted xxd / hexdump -C)",
            "  \(glyphs.arrowUp) \(glyphs.arrowDown) recall earlier calls;  Ctrl-S save under a name;  @name sends it",
            "  Esc clears the line (twice: leaves the pane);  Ctrl-U clears",
            "",
            "Changed bytes: reverse video, then underlined, then plain.",
            "q quits (Ctrl-C anywhere).  Any key closes this help.",
        ]
        if server != nil {
            lines.insert(contentsOf: ["", "Server mode:  s step mode on/off   n answer the held call",
                                      "  c continue (step off, answer)   b breakpoints: fn=3 /text/ hex=4865"], at: 8)
        }
        let w = min(g.width - 2, (lines.map(\.count).max() ?? 40) + 4)
        let h = min(g.height - 1, lines.count + 2)
        let x0 = max(0, (g.width - w) / 2), y0 = max(0, (g.height - h) / 2)
        g.fill(y0, x0, w, h)
        g.box(y0, x0, w, h, title: "Keys", glyphs)
        for (i, l) in lines.enumerated() where i < h - 2 {
            g.put(y0 + 1 + i, x0 + 2, l, .plain, maxWidth: w - 4)
        }
    }
}
