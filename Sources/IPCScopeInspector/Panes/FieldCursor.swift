import IPCScopeSchema
import IPCScopeObserve

/// The fields view's cursor: one byte of the payload shown in a dump pane. Up and down move it
/// field by field, left and right byte by byte; the field that covers the byte is lit in the list
/// and its bytes in the hex beside it, so either side tells where the other is.
extension InspectorModel {
    /// Where a dump pane's cursor stands: the byte, and the field covering it (an index into
    /// `fields`; nil in padding or in bytes the schema does not describe).
    package struct FieldCursor: Equatable, Sendable {
        package var byte: Int
        package var field: Int?
    }

    /// The payload a dump pane shows and its fields, when the fields view applies to it.
    func decodedShown(_ pane: Pane) -> (payload: [UInt8], decoded: DecodedPayload, diff: ByteDiff)? {
        guard fieldsView, pane == .request || pane == .response, let snap = snapshot else { return nil }
        let src = inspectedSeq.map { historySource($0, pane) } ?? liveSource(snap, pane)
        let payload = Array(src.area.prefix(min(max(0, src.size), src.area.count)))
        let function = inspectedSeq.flatMap { history.record(seq: $0)?.function } ?? snap.requestFunction
        guard let d = decodedSlot(function, pane == .request, payload) else { return nil }
        return (payload, d, src.diff)
    }

    /// The cursor of `pane` over `d` (kept inside the payload).
    func fieldCursor(_ pane: Pane, _ d: DecodedPayload, _ payloadCount: Int) -> FieldCursor {
        let byte = min(max(0, fieldByte[pane] ?? 0), max(0, payloadCount - 1))
        let index = d.fields.firstIndex { byte >= $0.offset && byte < $0.offset + $0.size }
        return FieldCursor(byte: byte, field: index)
    }

    /// The cursor of the focused dump pane, for tests and the footer; nil outside the fields view.
    package var focusedFieldCursor: FieldCursor? {
        guard let (payload, d, _) = decodedShown(focus) else { return nil }
        return fieldCursor(focus, d, payload.count)
    }

    /// Cursor keys of a dump pane in the fields view; nil: not handled here.
    mutating func handleFieldCursor(_ key: Key) -> [InspectorAction]? {
        guard let (payload, d, _) = decodedShown(focus) else { return nil }
        let c = fieldCursor(focus, d, payload.count)
        let fields = d.fields.filter { $0.size > 0 }
        let here = c.field.map { d.fields[$0].offset } ?? c.byte
        let page = max(1, (pageRows[focus] ?? 5) - 1)
        var byte = c.byte
        switch key {
        case .up, .char("k"): byte = fields.last { $0.offset < here }?.offset ?? byte
        case .down, .char("j"): byte = fields.first { $0.offset > c.byte }?.offset ?? byte
        case .left: byte = max(0, byte - 1)
        case .right: byte = min(max(0, payload.count - 1), byte + 1)
        case .pageUp:
            let i = fields.lastIndex { $0.offset < here }.map { max(0, $0 - page + 1) }
            byte = i.map { fields[$0].offset } ?? byte
        case .pageDown:
            let i = fields.firstIndex { $0.offset > c.byte }.map { min(fields.count - 1, $0 + page - 1) }
            byte = i.map { fields[$0].offset } ?? byte
        case .home, .char("g"): byte = fields.first?.offset ?? 0
        case .end, .char("G"):
            byte = fields.last?.offset ?? byte
            scroll[focus] = Int.max / 2
        default: return nil
        }
        fieldByte[focus] = byte
        return []
    }

    /// What the cursor stands on, for the pane's title (drawn by `drawDump`): `value f64, bytes 8-15`.
    func cursorLabel(_ c: FieldCursor, _ d: DecodedPayload, _ count: Int) -> String {
        if count == 0 { return "empty payload" }
        if let i = c.field {
            let f = d.fields[i]
            let span = f.size > 1 ? "bytes \(f.offset)-\(f.offset + f.size - 1)" : "byte \(f.offset)"
            return "\(f.path) \(f.type.name), \(span)"
        }
        return "byte \(c.byte): " + (c.byte >= d.restOffset ? "beyond the schema" : "padding")
    }

    // MARK: - drawing

    /// The fields list on the left, the payload's hex on the right (8 bytes a row); the cursor's
    /// field is lit in both: its line bold with a `>` mark, its bytes bold reverse (the byte
    /// under the cursor underlined too). Changed fields and bytes keep their change marks.
    mutating func drawFields(_ g: inout Grid, _ y: Int, _ w: Int, _ rows: Int, _ d: DecodedPayload, _ payload: [UInt8], _ diff: ByteDiff, _ pane: Pane) {
        let c = fieldCursor(pane, d, payload.count)
        let digits = max(4, String(max(0, payload.count - 1), radix: 16).count)
        let hexWidth = digits + 2 + 23
        // The ASCII column only when the list keeps room for a long name and value.
        let ascii = w - hexWidth - 12 - 3 >= 44
        let listWidth = max(10, w - hexWidth - (ascii ? 12 : 0) - 3)

        // The list: one line a field, then warnings and the bytes the schema leaves over.
        var lines: [(String, Style)] = []
        let nameWidth = min(max(8, listWidth / 3), d.fields.map(\.path.count).max() ?? 4)
        for (i, f) in d.fields.enumerated() {
            let text = (i == c.field ? ">" : " ") + rpad(String(f.offset), 4) + "  " + pad(f.path, nameWidth) + "  " + f.value.text
            let m = Self.mark(diff, f.offset, f.size)
            var style = m == .none ? Style.plain : Style(m.attributes, .accent)
            if i == c.field { style.attributes.insert(.bold) }
            lines.append((text, style))
        }
        for warning in d.warnings { lines.append(("! " + warning, Style(.bold, .warning))) }
        if !d.rest.isEmpty {
            lines.append((rpad(String(d.restOffset), 5) + "  rest: " + d.rest.prefix(24).map(HexDump.hex2).joined(separator: " ") + (d.rest.count > 24 ? " …" : ""), .dim))
        }
        if lines.isEmpty { lines.append(("(no fields: empty payload)", .dim)) }
        // The list scrolls as asked, but never so far that the cursor's line leaves the pane.
        var top = min(scroll[pane] ?? 0, max(0, lines.count - rows))
        if let i = c.field { top = min(max(top, i - rows + 1), i) }
        top = max(0, top)
        scroll[pane] = top
        for i in 0..<rows where top + i < lines.count {
            g.put(y + i, 0, lines[top + i].0, lines[top + i].1, maxWidth: listWidth)
            if top + i == c.field { g.restyle(y + i, 0, 1, Style(.bold, .warning)) }
        }

        // The hex: the rows of the cursor's field in view.
        let x0 = listWidth + 1
        for i in 0..<rows { g[y + i, x0] = Cell(glyphs.vertical, .dim, .muted) }
        let hx = x0 + 2
        let span = c.field.map { (d.fields[$0].offset, d.fields[$0].size) } ?? (c.byte, 1)
        let totalRows = (payload.count + 7) / 8
        let firstRow = span.0 / 8, lastRow = (span.0 + max(1, span.1) - 1) / 8
        var hexTop = lastRow < rows ? 0 : min(firstRow, lastRow - rows + 1)
        if c.byte / 8 < hexTop || c.byte / 8 >= hexTop + rows { hexTop = c.byte / 8 - rows / 2 }
        hexTop = max(0, min(hexTop, totalRows - rows))
        let lit = span.0..<(span.0 + max(1, span.1))
        for r in 0..<rows {
            let k = hexTop + r
            guard k * 8 < payload.count else { break }
            let bytes = payload[(k * 8)..<min(payload.count, k * 8 + 8)]
            var text = pad(String(HexDump.hex8(k * 8).suffix(digits)), digits) + "  " + bytes.map(HexDump.hex2).joined(separator: " ")
            if ascii { text = pad(text, hexWidth) + "  |" + HexDump.printable(bytes) + "|" }
            g.put(y + r, hx, text, .plain, maxWidth: w - hx)
            for j in 0..<bytes.count {
                let idx = k * 8 + j
                var style = Style(diff.mark(idx).attributes, diff.mark(idx) == .none ? .normal : .accent)
                if lit.contains(idx) { style = Style([.bold, .reverse], .warning) }
                if idx == c.byte { style.attributes.insert(.underline) }
                guard style != .plain else { continue }
                g.restyle(y + r, hx + digits + 2 + 3 * j, 2, style)
                if ascii { g.restyle(y + r, hx + hexWidth + 3 + j, 1, style) }
            }
        }
    }
}
