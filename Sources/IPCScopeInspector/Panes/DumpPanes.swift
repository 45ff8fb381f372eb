import IPCScopeKit
import IPCScopeSchema
import IPCScopeObserve

/// The request and response panes: `hexdump -C` lines over the whole capacity, or text.
extension InspectorModel {
    /// What one dump pane shows: the live slot, or a call picked in the history.
    struct DumpSource {
        /// Facts for the title, most important first (priority 0 is never dropped).
        var info: [(String, Int)]
        /// The bytes to dump (the slot's whole capacity, or the call's payload).
        var area: [UInt8]
        /// How many of `area` are the payload (the rest is dimmed).
        var size: Int
        var diff: ByteDiff
        var bad = false
    }

    /// The live slot of `pane`.
    func liveSource(_ snap: Snapshot, _ pane: Pane) -> DumpSource {
        let isRequest = pane == .request
        let area = isRequest ? snap.requestArea : snap.responseArea
        let size = Int(isRequest ? snap.requestSize : snap.responseSize)
        var info: [(String, Int)]
        if isRequest {
            var client = "client \(snap.requestClientPID)"
            if snap.requestClientTID != snap.requestClientPID && snap.requestClientTID != 0 { client += "/\(snap.requestClientTID)" }
            info = [("seq \(snap.requestSeq)", 0), ("fn \(functionLabel(snap.requestFunction))", 0), ("\(snap.requestSize) bytes", 1), (client, 2)]
        } else {
            info = [("seq \(snap.responseSeq)", 0), ("status \(snap.responseStatus)\(statusMeaning(snap.responseStatus))", 0),
                    ("\(snap.responseSize) bytes", 1)]
            if snap.requestSeq == snap.responseSeq, snap.responseDoneNS >= snap.requestSentNS, snap.requestSentNS > 0 {
                info.append(("in " + formatDuration(snap.responseDoneNS - snap.requestSentNS, ascii: glyphs == .ascii), 2))
            }
            if let rule = server?.rules[snap.responseSeq] { info.append(("by " + rule, 1)) }
        }
        var src = DumpSource(info: info, area: area, size: size, diff: isRequest ? requestDiff : responseDiff)
        if size > area.count {
            src.info.insert(("size over capacity!", 0), at: 0)
            src.bad = true
        }
        return src
    }

    /// The call `seq` from the history: whole when it was seen whole, else the record's first bytes.
    func historySource(_ seq: UInt64, _ pane: Pane) -> DumpSource {
        let isRequest = pane == .request
        guard let r = history.record(seq: seq) else {
            return DumpSource(info: [("seq \(seq) is no longer kept: l goes back to live", 0)], area: [], size: 0, diff: ByteDiff(), bad: true)
        }
        let whole = history.whole(r)
        var info: [(String, Int)] = [("CALL seq \(r.seq)", 0)]
        let bytes: [UInt8]
        if isRequest {
            info += [("fn \(functionLabel(r.function))", 0), ("\(r.requestSize) bytes", 1), ("client \(r.clientPID)", 2)]
            bytes = whole?.request ?? Array(r.requestHead.prefix(min(16, Int(r.requestSize))))
            if whole == nil { info.insert(("head only: first \(bytes.count) of \(r.requestSize)", 0), at: 1) }
        } else {
            info += [("status \(r.status)\(statusMeaning(r.status))", 0), ("\(r.responseSize) bytes", 1),
                     ("in " + formatDuration(r.latencyNS, ascii: glyphs == .ascii), 2)]
            bytes = whole?.response ?? []
            if whole == nil { info.insert(("not seen whole", 0), at: 1) }
            if let rule = server?.rules[r.seq] { info.append(("by " + rule, 1)) }
        }
        return DumpSource(info: info, area: bytes, size: bytes.count, diff: ByteDiff())
    }

    mutating func drawDump(_ g: inout Grid, _ L: ScreenLayout, _ snap: Snapshot, _ pane: Pane, _ now: UInt64) {
        let w = L.dumpWidth
        var me = self
        // Nothing of this pane, its title included, may spill into the client pane beside it.
        g.clipped(to: 0..<w) { me.drawDumpClipped(&$0, L, snap, pane) }
        self = me
    }

    private mutating func drawDumpClipped(_ g: inout Grid, _ L: ScreenLayout, _ snap: Snapshot, _ pane: Pane) {
        let isRequest = pane == .request
        let y = isRequest ? L.requestRule : L.responseRule
        let w = L.dumpWidth
        let src = inspectedSeq.map { historySource($0, pane) } ?? liveSource(snap, pane)
        let area = src.area, size = src.size, diff = src.diff
        let capacity = area.count
        let focused = focus == pane
        g.rule(y, 0, w, title: "", glyphs)
        var x = g.put(y, 1, " " + pane.title + " ", focused ? Style([.bold, .reverse], .accent) : .bold)
        let rows = L.dumpRows
        let lines = max(1, (capacity + 15) / 16)
        var top = min(scroll[pane] ?? 0, max(0, lines - rows))
        if scroll[pane] ?? 0 > top { scroll[pane] = top }
        top = max(0, top)
        let shownEnd = min(capacity, (top + rows) * 16)
        let function = inspectedSeq.flatMap { history.record(seq: $0)?.function } ?? snap.requestFunction
        let payload = Array(area.prefix(min(size, capacity)))
        let decoded = fieldsView ? decodedSlot(function, isRequest, payload) : nil
        // The position label: what the fields cursor stands on, or which bytes the hex shows.
        let where_ = decoded.map { cursorLabel(fieldCursor(pane, $0, payload.count), $0, payload.count) }
            ?? (textView ? "" : capacity == 0 ? "empty" : "hex \(HexDump.hex8(top * 16).suffix(4))-\(HexDump.hex8(max(0, shownEnd - 1)).suffix(4))/\(capacity)")
        // The title's facts drop whole, lowest priority first, so the position label still fits.
        let room = w - x - 3 - (where_.isEmpty ? 0 : where_.count + 3)
        let info = fitFields(src.info, room)
        x = g.put(y, x + 1, " " + info + " ", src.bad ? Style(.bold, .bad) : inspectedSeq != nil ? Style(.bold, .accent) : .plain, maxWidth: w - x - 2)
        if let decoded {
            drawFields(&g, y + 1, w, rows, decoded, payload, diff, pane)
            if x + where_.count + 3 <= w { g.put(y, max(x + 1, w - where_.count - 3), " " + where_ + " ", .dim) }
        } else if textView {
            drawText(&g, y + 1, w, rows, Array(area.prefix(min(size, capacity))), diff, pane)
        } else {
            for i in 0..<rows {
                let k = top + i
                guard k * 16 < capacity else { break }
                let bytes = area[(k * 16)..<min(capacity, k * 16 + 16)]
                g.put(y + 1 + i, 0, HexDump.line(k * 16, bytes), .plain, maxWidth: w)
                for (j, _) in bytes.enumerated() {
                    let idx = k * 16 + j
                    var attrs = diff.mark(idx).attributes
                    let outside = idx >= size
                    if outside { attrs.insert(.dim) }
                    guard !attrs.isEmpty else { continue }
                    let role: ColorRole = outside ? .muted : .accent
                    g.restyle(y + 1 + i, 10 + 3 * j + (j > 7 ? 1 : 0), 2, Style(attrs, role))
                    g.restyle(y + 1 + i, 61 + j, 1, Style(attrs, role))
                }
            }
            if x + where_.count + 3 <= w { g.put(y, max(x + 1, w - where_.count - 3), " " + where_ + " ", .dim) }
        }
    }

    /// The framework's reserved statuses, spelled out.
    func statusMeaning(_ s: Int32) -> String {
        switch s {
        case -1: " bad request"
        case -2: " handler failed"
        case -3: " no handler"
        case -4: " shutting down"
        default: ""
        }
    }

    /// The payload as text: printable ASCII as is, `\n` ends a line, others as `\xHH`.
    mutating func drawText(_ g: inout Grid, _ y: Int, _ w: Int, _ rows: Int, _ payload: [UInt8], _ diff: ByteDiff, _ pane: Pane) {
        // Build lines of (scalar, byte index).
        var lines: [[(Unicode.Scalar, Int)]] = [[]]
        func emit(_ s: String, _ i: Int) {
            for sc in s.unicodeScalars {
                if lines[lines.count - 1].count >= w { lines.append([]) }
                lines[lines.count - 1].append((sc, i))
            }
        }
        for (i, b) in payload.enumerated() {
            switch b {
            case 0x0a: emit("\\n", i); lines.append([])
            case 0x09: emit("\\t", i)
            case 0x0d: emit("\\r", i)
            case 0x20..<0x7f: emit(String(Unicode.Scalar(b)), i)
            default: emit("\\x" + HexDump.hex2(b), i)
            }
        }
        if payload.isEmpty { lines = [Array("(empty payload)".unicodeScalars.map { ($0, -1) })] }
        var top = min(scroll[pane] ?? 0, max(0, lines.count - rows))
        if scroll[pane] ?? 0 > top { scroll[pane] = top }
        top = max(0, top)
        for i in 0..<rows where top + i < lines.count {
            for (x, (sc, idx)) in lines[top + i].enumerated() {
                let attrs = idx < 0 ? CellAttributes.dim : diff.mark(idx).attributes
                g[y + i, x] = Cell(Grid.displayable(sc), attrs, idx < 0 ? .muted : (attrs.isEmpty ? .normal : .accent))
            }
        }
        let label = " text \(payload.count) bytes, line \(top + 1)/\(lines.count) "
        g.put(y - 1, max(0, w - label.count - 2), label, .dim)
    }
}
