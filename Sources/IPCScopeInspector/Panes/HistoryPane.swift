import IPCScopeKit
import IPCScopeSchema
import IPCScopeObserve

/// The history table, the footer and the help overlay.
extension InspectorModel {
    mutating func drawHistory(_ g: inout Grid, _ L: ScreenLayout, _ now: UInt64) {
        let y = L.historyRule
        let W = L.width
        let focused = focus == .history
        g.rule(y, 0, W, title: "", glyphs)
        var x = g.put(y, 1, " History ", focused ? Style([.bold, .reverse], .accent) : .bold)
        let all = history.records
        let shown = shownRecords
        // Say what each number counts: calls seen since attaching (the Events pane's `served`
        // counts the server's whole life), calls kept (bounded by --history) and kept whole.
        let seen = history.accepted
        var fields: [(String, Int)] = [
            ("seen \(seen) call\(seen == 1 ? "" : "s") since attach", 0),
            ("kept \(all.count)/\(history.limit), \(history.wholeCount) whole \(wholeMark)", 2),
        ]
        if let r = rate.current { fields.append(("\(formatRate(r))/s", 3)) }
        if history.missed > 0 || W >= 100 { fields.append(("missed \(history.missed)", 1)) }
        if history.tornReads > 0 || W >= 100 { fields.append(("torn \(history.tornReads)", 4)) }
        var tail = ""
        if let f = filter { tail = " filter: \(f.text) (\(shown.count) shown) " }
        let room = W - x - tail.count - 3
        let info = fitFields(fields, room)
        x = g.put(y, x, " " + info + " ", .plain, maxWidth: W - x - 1)
        if history.missed > 0, let r = info.firstRange(of: "missed \(history.missed)") {
            // The count that matters in the warning colour.
            let col = x - info.unicodeScalars.count - 1 + info.unicodeScalars.distance(from: info.unicodeScalars.startIndex, to: r.lowerBound)
            g.restyle(y, col, "missed \(history.missed)".count, Style(.bold, .warning))
        }
        if !rate.samples.isEmpty, W - x - tail.count > 12 {
            let spark = sparkline(rate.samples, width: min(30, W - x - tail.count - 4), glyphs: glyphs)
            if !spark.isEmpty { x = g.put(y, x + 1, spark, Style(.bold, .accent)) + 1 }
        }
        if !tail.isEmpty { x = g.put(y, x, tail, Style([.bold, .underline], .accent), maxWidth: W - x - 1) }

        // Column header.
        let headerRow = y + 1
        let showTime = W >= 100
        let cols = showTime ? "      seq  time          fn    req    rsp  status   latency   client  " + (server != nil ? "rule      " : "") + "first bytes"
                            : "     seq  fn   req   rsp status  latency  client  " + (server != nil ? "rule    " : "") + "first bytes"
        g.put(headerRow, 0, cols, Style(.underline, .normal), maxWidth: W)
        let rows = L.historyRows
        if shown.isEmpty {
            let msg = all.isEmpty ? (snapshot?.layout?.traceCapacity == 0 ? "(tracing is off: the server has no trace ring)" : "(no calls yet)")
                                  : "(no calls match the filter)"
            g.put(headerRow + 1, 6, msg, .dim)
            return
        }
        // The window: `scroll` counts rows up from the newest; a selection is always in view.
        let maxScroll = max(0, shown.count - rows)
        var fromEnd = min(scroll[.history] ?? 0, maxScroll)
        if let sel = selectedSeq, let i = shown.firstIndex(where: { $0.seq == sel }) {
            let upFromEnd = shown.count - 1 - i
            if upFromEnd < fromEnd { fromEnd = upFromEnd }
            if upFromEnd >= fromEnd + rows { fromEnd = upFromEnd - rows + 1 }
        }
        scroll[.history] = fromEnd
        let end = shown.count - fromEnd
        let start = max(0, end - rows)
        let firstBytesCol = cols.count - "first bytes".count
        let n = max(0, min(16, (W - firstBytesCol - 3) / 4))
        for (i, r) in shown[start..<end].enumerated() {
            let row = headerRow + 1 + i
            let whole = history.whole(r) != nil
            var line = " " + (whole ? wholeMark : " ")
            if showTime {
                line += rpad(String(r.seq), 7) + "  " + pad(clockText(r.sentNS), 12) + " "
                line += rpad(String(r.function), 3) + " " + rpad(String(r.requestSize), 6) + " " + rpad(String(r.responseSize), 6) + " "
                line += rpad(String(r.status), 7) + " " + rpad(formatDuration(r.latencyNS, ascii: glyphs == .ascii), 9) + " "
                line += rpad(String(r.clientPID), 8) + "  "
                if server != nil { line += pad(ruleText(r.seq), 8) + "  " }
            } else {
                line += rpad(String(r.seq), 6) + " " + rpad(String(r.function), 3) + " " + rpad(String(r.requestSize), 5) + " "
                line += rpad(String(r.responseSize), 5) + " " + rpad(String(r.status), 6) + " "
                line += rpad(formatDuration(r.latencyNS, ascii: glyphs == .ascii), 8) + " " + rpad(String(r.clientPID), 7) + "  "
                if server != nil { line += pad(ruleText(r.seq), 6) + "  " }
            }
            if let name = schema?.function(r.function)?.name { line += name + " " }
            let head = Array(r.requestHead.prefix(min(n, Int(min(r.requestSize, 16)))))
            line += head.map(HexDump.hex2).joined(separator: " ")
            if !head.isEmpty { line += String(repeating: " ", count: max(0, (n - head.count) * 3)) + " |" + HexDump.printable(head) + "|" }
            var style = Style.plain
            if r.status < 0 || r.rejected { style = Style(.bold, .bad) }
            if r.seq == selectedSeq { style.attributes.insert(.reverse) }
            if r.seq == inspectedSeq { style.attributes.insert(.underline) }
            g.put(row, 0, line, style, maxWidth: W)
            if r.seq == selectedSeq { g.restyle(row, 0, W, style) }
            if r.afterRecovery { g.put(row, 0, "R", Style([.bold, .reverse], .warning)) }
        }
    }

    /// Marks a history row whose whole request and response are kept.
    var wholeMark: String { glyphs == .ascii ? "*" : "•" }

    /// Which rule of the in-process server answered `seq` (`r2`, `none`, `echo`), short.
    func ruleText(_ seq: UInt64) -> String { server?.rules[seq] ?? "" }

    mutating func drawFooter(_ g: inout Grid, _ L: ScreenLayout) {
        let y = L.footer
        let W = L.width
        if let p = prompt {
            let label = p.kind == .filter ? "filter, ALL terms (fn=1 status!=0 pid=42 lat>1ms text; Enter applies, Esc cancels): "
                                          : "break when ANY term (fn=3 /text/ hex=4865; Enter sets, empty clears): "
            let x = g.put(y, 0, label, .bold, maxWidth: W)
            let end = g.put(y, x, p.text, Style(.underline), maxWidth: W - x)
            g.put(y, end, "_", Style(.reverse), maxWidth: W - end)
            return
        }
        if let s = server, let h = s.held {
            // The held call must be answerable whatever has the focus: Ctrl keys are never text.
            let cancel = focus == .client && client.canGiveUp && h.fault == nil
            let how = cancel ? "^N answers, ^R continues, Esc cancels" : focus == .client ? "^N answers, ^R continues (step off)" : "n or ^N answers, c continues, s step on/off"
            let msg = fitFields([("HELD seq \(h.seq) fn \(h.function) \(h.size) bytes", 0), ("(\(h.reason))", 2), (how, 1)], W, separator: " ")
            g.put(y, 0, msg, Style([.bold, .reverse], .warning), maxWidth: W)
            return
        }
        if let n = notice {
            g.put(y, 0, n, Style(.bold, .warning), maxWidth: W)
            return
        }
        let ud = glyphs.arrowUp + glyphs.arrowDown
        if latency.shown {
            let keys: [(String, Int)] = [("\(glyphs.arrowUp)\(glyphs.arrowDown) function", 0), ("r reset", 0), ("% or Esc back", 0),
                                         ("i client", 1), ("space pause", 2), ("? help", 0), ("q quit", 0)]
            g.put(y, 0, fitFields(keys, W), .dim, maxWidth: W)
            return
        }
        var keys: [(String, Int)] = [("i client", 0), ("Tab pane", 1), ("% latency", 1), ("? help", 0), ("q quit", 0)]
        if focus == .history {
            keys.insert(contentsOf: [("\(ud) select", 1), ("Enter show call", 1), ("x/X export", 2), ("W pcapng", 3)], at: 2)
        } else if decodedShown(focus) != nil {
            keys.insert(contentsOf: [("\(ud) field", 1), ("\(glyphs.arrowLeft)\(glyphs.arrowRight) byte", 2)], at: 2)
        } else {
            keys.insert(("\(ud) PgUp PgDn scroll", 3), at: 2)
        }
        if inspectedSeq != nil { keys.insert(("l live", 0), at: 2) }
        keys.insert(contentsOf: [("h hex/text", 3), ("/ filter", 2), ("space pause", 2)], at: keys.count - 2)
        if server != nil { keys.insert(contentsOf: [("s step", 1), ("b break", 2)], at: keys.count - 2) }
        g.put(y, 0, fitFields(keys, W), .dim, maxWidth: W)
    }

    func drawHelp(_ g: inout Grid) {
        let ud = glyphs.arrowUp + " " + glyphs.arrowDown + " j k"
        var lines = [
            "i                 go to the client pane (from anywhere; Esc twice leaves it)",
            "Tab / Shift-Tab   next / previous pane (focused title is lit)",
            pad(ud, 18) + "scroll the focused pane by a line",
            "PgUp PgDn         scroll by a page;  g / G  top / bottom",
            "h  (or t)         hex dump / text view of the payloads",
            "f                 fields view: each payload decoded beside its hex (--schema FILE);",
            "  \(glyphs.arrowUp) \(glyphs.arrowDown) field by field, \(glyphs.arrowLeft) \(glyphs.arrowRight) byte by byte: the field is lit in the hex",
            "/                 filter history: fn=1 status!=0 pid=42 lat>1ms word",
            "Esc               back to live, else clear the filter and the notice",
            "space             pause / resume the display (history keeps counting)",
            "%                 latency: percentiles per function, histogram, calls per second;",
            "  \(glyphs.arrowUp) \(glyphs.arrowDown) pick a function, r resets the counts, % or Esc goes back",
            "",
            "History pane:  \(ud) select a call,  Enter shows it in the dump panes,",
            "  l (or Ctrl-L anywhere) back to live;  x exports the selected call,",
            "  X every call kept, as JSON Lines;  W as pcapng (replay, Wireshark);",
            "  \(wholeMark) marks calls kept whole (the others are recorded partial)",
            "",
            "Client pane:  FUNCTION PAYLOAD then Enter, e.g.  1 hello\\n",
            "  Ctrl-T hex/text payload (hex takes pasted xxd / hexdump -C)",
            "  \(glyphs.arrowUp) \(glyphs.arrowDown) recall earlier calls;  Ctrl-S save under a name;  @name sends it",
            "  with a schema:  set_value id=3 value=2.5 name=pump;  Tab completes the",
            "  function, field, enum or @name being typed (Shift-Tab: next pane)",
            "  timeout 30s  sets how long calls wait (timeout off: until answered)",
            "  Esc clears the line (twice: leaves the pane);  Ctrl-U clears;",
            "  while a call waits, Esc gives it up (a call held here is let go and",
            "  its answer dropped; elsewhere the server still answers what it got)",
            "",
            "Changed bytes: reverse video, then underlined, then plain.",
            "q quits (Ctrl-C anywhere).  Any key closes this help.",
        ]
        if server != nil {
            lines.insert(contentsOf: ["", "Server mode:  s step mode on/off   n (Ctrl-N anywhere) answer the held call",
                                      "  c (Ctrl-R anywhere) continue: step off, answer",
                                      "  b breakpoints: fn=3 /text/ hex=4865 (any term holds a call)"], at: 9)
        }
        // On a short terminal the blank separators go first, then the last line stays in view.
        if lines.count > g.height - 3 { lines.removeAll { $0.isEmpty } }
        if lines.count > g.height - 3, let last = lines.last {
            lines = Array(lines.prefix(max(0, g.height - 4))) + [last]
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
