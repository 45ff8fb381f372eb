import IPCScopeKit
import IPCScopeSchema

/// The request and response panes: `hexdump -C` lines over the whole capacity, or text.
extension InspectorModel {
    mutating func drawDump(_ g: inout Grid, _ L: ScreenLayout, _ snap: Snapshot, _ pane: Pane, _ now: UInt64) {
        let isRequest = pane == .request
        let y = isRequest ? L.requestRule : L.responseRule
        let w = L.dumpWidth
        let area = isRequest ? snap.requestArea : snap.responseArea
        let size = Int(isRequest ? snap.requestSize : snap.responseSize)
        let diff = isRequest ? requestDiff : responseDiff
        var info: String
        if isRequest {
            info = "seq \(snap.requestSeq)  fn \(functionLabel(snap.requestFunction))  \(snap.requestSize) bytes  client \(snap.requestClientPID)"
            if snap.requestClientTID != snap.requestClientPID && snap.requestClientTID != 0 { info += "/\(snap.requestClientTID)" }
        } else {
            info = "seq \(snap.responseSeq)  status \(snap.responseStatus)\(statusMeaning(snap.responseStatus))  \(snap.responseSize) bytes"
            if snap.requestSeq == snap.responseSeq, snap.responseDoneNS >= snap.requestSentNS, snap.requestSentNS > 0 {
                info += "  in " + formatDuration(snap.responseDoneNS - snap.requestSentNS, ascii: glyphs == .ascii)
            }
        }
        let capacity = area.count
        if size > capacity { info += "  (size over capacity!)" }
        let focused = focus == pane
        g.rule(y, 0, w, title: "", glyphs)
        var x = g.put(y, 1, " " + pane.title + " ", focused ? Style([.bold, .reverse], .accent) : .bold)
        x = g.put(y, x + 1, " " + info + " ", size > capacity ? Style(.bold, .bad) : .plain, maxWidth: w - x - 2)
        let rows = L.dumpRows
        if fieldsView, let decoded = decodedSlot(snap, isRequest, Array(area.prefix(min(size, capacity)))) {
            drawFields(&g, y + 1, w, rows, decoded, Array(area.prefix(min(size, capacity))), diff, pane)
        } else if textView {
            drawText(&g, y + 1, w, rows, Array(area.prefix(min(size, capacity))), diff, pane)
        } else {
            let lines = max(1, (capacity + 15) / 16)
            var top = min(scroll[pane] ?? 0, max(0, lines - rows))
            if scroll[pane] ?? 0 > top { scroll[pane] = top }
            top = max(0, top)
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
            let shownEnd = min(capacity, (top + rows) * 16)
            let where_ = capacity == 0 ? "empty" : "hex \(HexDump.hex8(top * 16).suffix(4))-\(HexDump.hex8(max(0, shownEnd - 1)).suffix(4))/\(capacity)"
            g.put(y, max(x + 1, w - where_.count - 3), " " + where_ + " ", .dim)
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
