import IPCScopeKit
import IPCScopeSchema

/// The `f` view of the request and response panes: the slot decoded through the schema, one
/// field a line with its offset, value and bytes; a field whose bytes just changed is marked as
/// changed bytes are in the hex dump (reverse, then underlined).
extension InspectorModel {
    /// `set_value (3)` when the schema names the function, else `3`.
    func functionLabel(_ function: UInt32) -> String {
        schema?.label(function) ?? String(function)
    }

    /// The slot decoded with the request (or, for the response, the request's function's
    /// response) layout; nil when the schema does not describe it.
    func decodedSlot(_ snap: Snapshot, _ isRequest: Bool, _ payload: [UInt8]) -> DecodedPayload? {
        guard let f = schema?.function(snap.requestFunction) else { return nil }
        return (isRequest ? f.request : f.response)?.decode(payload)
    }

    /// The strongest change mark over a field's bytes.
    static func mark(_ diff: ByteDiff, _ offset: Int, _ size: Int) -> ChangeMark {
        var best = ChangeMark.none
        for i in offset..<(offset + max(1, size)) {
            switch diff.mark(i) {
            case .fresh: return .fresh
            case .fading: best = .fading
            case .none: break
            }
        }
        return best
    }

    mutating func drawFields(_ g: inout Grid, _ y: Int, _ w: Int, _ rows: Int, _ d: DecodedPayload, _ payload: [UInt8], _ diff: ByteDiff, _ pane: Pane) {
        var lines: [(String, Style)] = []
        let nameWidth = min(24, d.fields.map(\.path.count).max() ?? 4)
        for f in d.fields {
            var text = rpad(String(f.offset), 5) + "  " + pad(f.path, nameWidth) + "  " + f.value.text
            let room = w - text.count - 4
            if room > 6 {
                let n = min(f.size, room / 3)
                let bytes = payload[min(f.offset, payload.count)..<min(f.offset + n, payload.count)]
                if !bytes.isEmpty {
                    text = pad(text, max(text.count, w - 3 * min(16, n) - 2)) + "  " + bytes.map(HexDump.hex2).joined(separator: " ")
                }
            }
            let m = Self.mark(diff, f.offset, f.size)
            lines.append((text, m == .none ? .plain : Style(m.attributes, .accent)))
        }
        for warning in d.warnings { lines.append(("! " + warning, Style(.bold, .warning))) }
        if !d.rest.isEmpty {
            lines.append((rpad(String(d.restOffset), 5) + "  rest: " + d.rest.prefix(24).map(HexDump.hex2).joined(separator: " ") + (d.rest.count > 24 ? " …" : ""), .dim))
        }
        if lines.isEmpty { lines.append(("(no fields: empty payload)", .dim)) }
        var top = min(scroll[pane] ?? 0, max(0, lines.count - rows))
        if scroll[pane] ?? 0 > top { scroll[pane] = top }
        top = max(0, top)
        for i in 0..<rows where top + i < lines.count {
            g.put(y + i, 0, lines[top + i].0, lines[top + i].1, maxWidth: w)
        }
        let label = " fields \(d.fields.count), line \(top + 1)/\(lines.count) "
        g.put(y - 1, max(0, w - label.count - 2), label, .dim)
    }
}
