import IPCScopeObserve

/// The latency pane (`%`): percentiles per function, a log-scale histogram of the selected
/// series, the queued/service split, and a heatmap line (a column per second) per series.
/// It takes the screen between the header and the footer.
extension InspectorModel {
    // MARK: - keys

    /// Keys while the pane is shown; nil lets the global meaning apply (quit, help, pause and
    /// the Ctrl keys of server mode). Every other key is swallowed: the panes it would move are
    /// hidden.
    mutating func handleLatency(_ key: Key) -> [InspectorAction]? {
        let order = latency.seriesOrder
        let at = order.firstIndex { $0 == latency.selected } ?? 0
        func select(_ i: Int) { latency.selected = order[max(0, min(order.count - 1, i))] }
        switch key {
        case .up, .char("k"): select(at - 1)
        case .down, .char("j"): select(at + 1)
        case .pageUp, .home, .char("g"): select(0)
        case .pageDown, .end, .char("G"): select(order.count - 1)
        case .char("r"): latency.reset()  // the title says "since r"
        case .char("%"), .escape, .char("l"): latency.shown = false
        case .char("i"):
            latency.shown = false
            focus = .client
        case .char("q"), .char("Q"), .char("?"), .char(" "): return nil
        default: break
        }
        return []
    }

    // MARK: - drawing

    /// The name of a series: `all calls`, or the function as the history names it.
    func seriesName(_ s: UInt32?) -> String {
        guard let f = s else { return "all calls" }
        return schema?.function(f).map { "\($0.name) (\(f))" } ?? "fn \(f)"
    }

    mutating func drawLatency(_ g: inout Grid, _ L: ScreenLayout, _ clock: UInt64) {
        let W = L.width
        let top = L.topRule
        let rows = L.footer - top  // rows top ..< footer
        let st = latency.stats
        let ascii = glyphs == .ascii
        let order = latency.seriesOrder
        if !order.contains(where: { $0 == latency.selected }) { latency.selected = nil }
        let sel = latency.selected

        // Title rule: what is counted and since when.
        g.rule(top, 0, W, title: "", glyphs)
        var x = g.put(top, 1, " Latency ", Style([.bold, .reverse], .accent))
        let n = st.all.count
        var facts: [(String, Int)] = [("\(n) call\(n == 1 ? "" : "s") " + (latency.resets > 0 ? "since r" : "since attach"), 0),
                                      ("latency: sent " + glyphs.arrowRight + " answered", 2), ("r resets", 1)]
        if history.missed > 0 { facts.insert(("missed \(history.missed)", 0), at: 1) }
        if st.otherCalls > 0 { facts.append(("\(st.otherCalls) of functions past \(LatencyStats.maxFunctions) in all only", 3)) }
        x = g.put(top, x, " " + fitFields(facts, W - x - 3) + " ", .plain, maxWidth: W - x - 1)

        // Fixed rows: title, table header, three split lines, two rules, axis, legend.
        let free = rows - 9
        let tableRows = max(1, min(order.count, free >= 24 ? 9 : 4, free - 2))
        let heatLines = max(1, min(order.count, free >= 24 ? min(6, tableRows) : 1, free - tableRows - 1))
        let histRows = max(1, free - tableRows - heatLines)

        var y = top + 1
        drawLatencyTable(&g, y, W, tableRows, order, sel, ascii)
        y += 1 + tableRows
        drawSplit(&g, y, W, sel, ascii)
        y += 3
        g.rule(y, 0, W, title: "", glyphs)
        g.put(y, 1, " Histogram: " + seriesName(sel) + " ", .bold, maxWidth: W - 2)
        // The heatmap follows the bars; rows they leave go below it.
        y += 1 + drawLatencyHistogram(&g, y + 1, W, histRows, sel, ascii)
        drawHeat(&g, y, W, heatLines, order, sel, clock, ascii)
    }

    private func drawLatencyTable(_ g: inout Grid, _ y: Int, _ W: Int, _ rows: Int, _ order: [UInt32?], _ sel: UInt32?, _ ascii: Bool) {
        let nameWidth = max(12, min(24, W - 62))
        let head = "  " + pad("function", nameWidth) + rpad("calls", 8) + rpad("p50", 9) + rpad("p90", 9) + rpad("p99", 9) + rpad("p99.9", 9) + rpad("max", 9)
            + (W >= nameWidth + 2 + 62 + 8 ? rpad("status≠0", 9) : "")
        g.put(y, 0, ascii ? head.replacing("≠", with: "!=") : head, Style(.underline), maxWidth: W)
        // The selection is always in view.
        let at = order.firstIndex { $0 == sel } ?? 0
        let first = max(0, min(at - rows + 1, order.count - rows))
        for (i, s) in order.dropFirst(max(0, first)).prefix(rows).enumerated() {
            guard let series = latency.stats.series(s) ?? (s == nil ? LatencyStats.Series() : nil) else { continue }
            let sum = series.summary
            var line = (s == sel ? glyphs.arrowRight.unicodeScalars.count == 1 ? glyphs.arrowRight + " " : "> " : "  ")
            line += pad(seriesName(s), nameWidth) + rpad(String(sum.count), 8)
            for p in LatencyStats.Percentile.allCases {
                line += rpad(sum.count == 0 ? "-" : formatDuration(p.value(sum), ascii: ascii), 9)
            }
            if W >= nameWidth + 2 + 62 + 8 { line += rpad(String(series.failed), 9) }
            var style = s == sel ? Style([.bold, .reverse], .accent) : (s == nil ? Style.bold : .plain)
            if s != sel && series.failed > 0 && series.failed == series.count { style = Style(.bold, .bad) }
            g.put(y + 1 + i, 0, line, style, maxWidth: W)
            if s == sel { g.restyle(y + 1 + i, 0, W, style) }
        }
        if order.count > rows {
            let more = " \(order.count - rows) more: \(glyphs.arrowUp)\(glyphs.arrowDown) "
            g.put(y, max(0, W - more.count - 1), more, .dim)
        }
    }

    /// Queued (behind other calls) apart from service (the server's handling), and the mutex
    /// waits no trace record holds.
    private func drawSplit(_ g: inout Grid, _ y: Int, _ W: Int, _ sel: UInt32?, _ ascii: Bool) {
        let series = latency.stats.series(sel)
        let pcts: [LatencyStats.Percentile] = [.p50, .p99, .max]
        func values(_ s: LatencyStats.Summary) -> String {
            pcts.map { $0.label + " " + pad(s.count == 0 ? "-" : formatDuration($0.value(s), ascii: ascii), 7) }.joined(separator: " ")
        }
        let q = series?.queuedSummary ?? .init(), sv = series?.serviceSummary ?? .init()
        let known = series?.splitCount ?? 0, total = series?.count ?? 0
        let queuedNote = fitVariant(["before the server could start it (behind other calls)", "behind other calls", ""], W - 52)
        g.put(y, 1, "queued  " + values(q) + "  " + queuedNote, q.max > 0 ? Style(.bold, .warning) : .plain, maxWidth: W - 2)
        var serviceNote = known < total ? "\(known) of \(total) split (the call before unseen)" : "the server's handling"
        let span = latency.stats.lastDoneNS > latency.stats.firstSentNS ? latency.stats.lastDoneNS - latency.stats.firstSentNS : 0
        if span > 0, let s = series {
            let busy = Double(s.serviceTotal) / Double(span) * 100
            serviceNote = fitVariant([serviceNote + ", server busy \(fixed(min(100, busy), 0))%", "busy \(fixed(min(100, busy), 0))%", ""], W - 52)
        }
        g.put(y + 1, 1, "service " + values(sv) + "  " + serviceNote, .plain, maxWidth: W - 2)
        let m = latency.mutexWaits
        let share = m.locks > 0 ? fixed(Double(m.contended) / Double(m.locks) * 100, 0) + "%" : "-"
        let mutexLine = fitVariant([
            "clients waiting for the mutex: \(share) of \(m.locks) calls (\(m.contended) contended; before sent_ns, in no record)",
            "mutex waits: \(share) of \(m.locks) calls (\(m.contended) contended)", "mutex waits \(share)",
        ], W - 2)
        g.put(y + 2, 1, mutexLine, m.contended > 0 ? Style(.bold, .warning) : .dim, maxWidth: W - 2)
    }

    /// Horizontal bars, one per log-scale bucket (merged when they do not fit), lowest first.
    /// Returns the rows drawn.
    private func drawLatencyHistogram(_ g: inout Grid, _ y: Int, _ W: Int, _ rows: Int, _ sel: UInt32?, _ ascii: Bool) -> Int {
        guard let counts = latency.buckets[sel], counts.total > 0,
              let lo = counts.counts.firstIndex(where: { $0 > 0 }), let hi = counts.counts.lastIndex(where: { $0 > 0 })
        else {
            g.put(y, 6, "(no calls yet)", .dim)
            return 1
        }
        let span = hi - lo + 1
        let per = (span + rows - 1) / rows
        let groups = stride(from: lo, through: hi, by: per).map { k in (k, min(hi, k + per - 1)) }
        let sums = groups.map { (a, b) in counts.counts[a...b].reduce(0, +) }
        let peak = max(1, sums.max() ?? 1)
        let labelWidth = 13
        let countWidth = 16
        let barWidth = max(4, W - labelWidth - countWidth - 3)
        let full: Unicode.Scalar = ascii ? "#" : "█"
        let eighths: [Unicode.Scalar] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        for (i, (a, b)) in groups.enumerated() {
            let label = (a == 0 ? "0" : LatencyBuckets.edgeText(a - 1, ascii: ascii)) + "-"
                + (b == LatencyBuckets.count - 1 ? "more" : LatencyBuckets.edgeText(b, ascii: ascii))
            let c = sums[i]
            // Bar length in eighths of a cell, rounded; any non-zero count shows at least a sliver.
            let units = c == 0 ? 0 : max(1, Int((Double(c) / Double(peak) * Double(barWidth * 8)).rounded()))
            var bar = String(repeating: String(full), count: units / 8)
            if units % 8 != 0 { bar.unicodeScalars.append(ascii ? (units % 8 >= 4 ? "#" : "|") : eighths[units % 8 - 1]) }
            let pct = fixed(Double(c) / Double(counts.total) * 100, 1) + "%"
            g.put(y + i, 1, rpad(label, labelWidth - 1) + " " + (ascii ? "|" : "│"), .plain)
            let end = g.put(y + i, labelWidth + 2, bar, Style(.bold, c == peak ? .accent : .normal), maxWidth: barWidth)
            g.put(y + i, end + 1, c == 0 ? "" : "\(c) (\(pct))", .plain, maxWidth: W - end - 2)
        }
        return groups.count
    }

    /// Shades, lightest first (ASCII: `.:*#`).
    var shades: [Unicode.Scalar] { glyphs == .ascii ? [".", ":", "*", "#"] : ["░", "▒", "▓", "█"] }

    /// The heatmap: a line per series (the selected one first), a column per second ending now;
    /// a column's shade is the bucket of that second's p99, against the series' p50 bucket:
    /// the lightest at or under it, then up to 10x, up to 100x, over 100x. Blank: no calls.
    private func drawHeat(_ g: inout Grid, _ y: Int, _ W: Int, _ lines: Int, _ order: [UInt32?], _ sel: UInt32?, _ clock: UInt64, _ ascii: Bool) {
        g.rule(y, 0, W, title: "", glyphs)
        let labelWidth = lines > 1 ? 14 : 0
        let cols = max(1, W - 2 - labelWidth)
        let newest = latency.seconds.last?.second ?? 0
        // Live: the right edge is now; a recording (or a clock behind the records) ends at the last call.
        let right = recording == nil ? max(clock / 1_000_000_000, newest) : newest
        g.put(y, 1, fitVariant([" Calls over time: a column a second, shade = the second's p99 ", " Over time: a column a second ", " Over time "], W - 2), .bold)
        let series = [sel] + order.filter { $0 != sel }.prefix(max(0, lines - 1))
        var legendBase: Int?
        for (i, s) in series.enumerated() {
            let row = y + 1 + i
            let base = latency.buckets[s]?.bucket(atPercentile: 50) ?? 0
            if i == 0 { legendBase = latency.buckets[s] != nil ? base : nil }
            if labelWidth > 0 { g.put(row, 1, pad(seriesName(s), labelWidth - 1), s == sel ? Style(.bold, .accent) : .plain) }
            var bySecond: [UInt64: BucketCounts] = [:]
            for sec in latency.seconds where sec.second + UInt64(cols) > right { bySecond[sec.second] = sec.counts(s) }
            for c in 0..<cols {
                let second = right &- UInt64(cols - 1 - c)
                guard second <= right, let counts = bySecond[second], let b = counts.bucket(atPercentile: 99) else { continue }
                let level = b <= base ? 0 : b <= base + 3 ? 1 : b <= base + 6 ? 2 : 3
                let role: ColorRole = [.good, .normal, .warning, .bad][level]
                g[row, 1 + labelWidth + c] = Cell(shades[level], level >= 2 ? [.bold] : [], role)
            }
        }
        // The time axis and the legend.
        let axis = y + 1 + lines
        let left = "-\(cols - 1)s"
        g.put(axis, 1 + labelWidth, left, .dim)
        if cols > 24 { g.put(axis, 1 + labelWidth + cols / 2 - 2, "-\(cols - 1 - cols / 2)s", .dim) }
        g.put(axis, 1 + labelWidth + cols - 3, "now", .dim)
        guard let base = legendBase else {
            g.put(axis + 1, 1, "no calls yet", .dim)
            return
        }
        let e = { (k: Int) in LatencyBuckets.edgeText(min(LatencyBuckets.count - 1, k), ascii: ascii) }
        let sh = shades.map { String($0) }, le = ascii ? "<=" : "≤"
        // The thresholds are the first line's (its p50's bucket, 10x, 100x); other lines shade
        // against their own p50 the same way.
        let scale = "\(sh[0]) p99 \(le)\(e(base))  \(sh[1]) \(le)\(e(base + 3))  \(sh[2]) \(le)\(e(base + 6))  \(sh[3]) more"
        let why = lines > 1 ? "(\(seriesName(sel)); each line against its own p50: ≤1x, 10x, 100x; blank: no calls)"
                            : "(from its p50 \(le)\(e(base)); blank: no calls)"
        g.put(axis + 1, 1, fitVariant([scale + "   " + (ascii ? why.replacing("≤", with: "<=") : why), scale + "  blank: no calls", scale], W - 2), .plain, maxWidth: W - 2)
    }
}
