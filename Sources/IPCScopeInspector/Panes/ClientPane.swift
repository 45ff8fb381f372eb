import IPCScopeKit
import IPCScopeObserve

/// The client pane: type a call, send it, see the answer.
extension InspectorModel {
    mutating func drawClient(_ g: inout Grid, _ L: ScreenLayout, _ snap: Snapshot) {
        let focused = focus == .client
        let titleStyle = focused ? Style([.bold, .reverse], .accent) : Style.bold
        var lines: [(String, Style)] = []
        let mode = client.hex ? "hex" : "text"
        switch client.writability {
        case .readOnly(let why):
            lines.append(("not writable for you: calls are off", Style(.bold, .warning)))
            lines.append((why, .dim))
            lines.append(("(the rest of the screen still works)", .dim))
        default:
            if let name = client.naming {
                lines.append(("save as: " + name + "_", Style(.bold, .accent)))
            } else {
                let cursor = focused ? "_" : ""
                let input = client.input.split(separator: "\n", omittingEmptySubsequences: false)
                // A pasted dump spans lines: keep its function in view with the last line.
                let fn = client.input.drop { $0 == " " }.prefix { $0 != " " && $0 != "\n" }
                let shownInput = input.count > 1 ? "fn \(fn), \(input.count) lines: " + String(input.last ?? "") : client.input
                lines.append(("\(mode)> " + shownInput + cursor, focused ? Style(.bold) : .plain))
            }
            if let p = client.problem {
                lines.append(("! " + p, Style(.bold, .bad)))
            } else if !client.completions.isEmpty {
                lines.append(("Tab: " + client.completions.prefix(16).joined(separator: "  ") + (client.completions.count > 16 ? " ..." : ""), Style(.bold, .accent)))
            } else if let i = client.info {
                lines.append((i, Style(.bold, .good)))
            } else if client.inFlight {
                let cancellable = client.canGiveUp && server?.held?.fault == nil
                lines.append(("calling..." + (cancellable ? "  Esc cancels" : ""), Style(.bold, .warning)))
            } else if let o = client.last {
                if let e = o.error {
                    lines.append(("fn \(o.call.function) failed: " + e, Style(.bold, .bad)))
                } else {
                    let st = o.status ?? 0
                    lines.append(("seq \(o.seq) status \(st) \(o.response.count) bytes \(formatDuration(o.latencyNS, ascii: glyphs == .ascii))",
                                  st < 0 ? Style(.bold, .bad) : Style(.bold, .good)))
                    let head = Array(o.response.prefix(8))
                    lines.append((head.map(HexDump.hex2).joined(separator: " ") + (head.isEmpty ? "(empty)" : "  |" + HexDump.printable(head) + "|"), .plain))
                    lines += answerFields(o)
                }
            } else {
                lines.append(("FUNCTION PAYLOAD, Enter sends: 1 hello\\n", .dim))
            }
        }
        if focused, client.completions.isEmpty, let hint = fieldHint() { lines.append((hint, Style(.dim, .accent))) }
        let wait = client.timeoutNS == 0 ? "no timeout" : "timeout " + formatDuration(client.timeoutNS, ascii: glyphs == .ascii)
        if focused {
            // The saved names are a reminder of what `@name` can send, shown only while typing.
            if !client.saved.isEmpty { lines.append(("@name sends: " + client.saved.map { "@" + $0.name }.joined(separator: " "), .dim)) }
            let tab = schema != nil || !client.saved.isEmpty ? "Tab completes " : ""
            lines.append(("^T hex/text \(glyphs.arrowUp)\(glyphs.arrowDown) recall ^S save \(tab)Esc clear  \(wait)", .dim))
        } else {
            lines.append(("i types a call  \(wait)", .dim))
        }

        if L.clientBeside {
            let x = L.dumpWidth + 1, y = L.requestRule, w = L.width - x, h = 2 + 2 * L.dumpRows
            g.box(y, x, w, h, title: "", glyphs)
            g.put(y, x + 1, " Client ", titleStyle)
            let target = snap.serverPID > 0 ? " fn \(glyphs.arrowRight) pid \(snap.serverPID) " : ""
            g.put(y, x + 10, target, .dim, maxWidth: w - 11)
            var row = y + 1
            for (text, style) in lines where row < y + h - 1 {
                // Wrap long lines inside the box.
                var rest = Substring(text)
                repeat {
                    let part = rest.prefix(w - 2)
                    g.put(row, x + 1, String(part), style, maxWidth: w - 2)
                    rest = rest.dropFirst(part.count)
                    row += 1
                } while !rest.isEmpty && row < y + h - 1
            }
        } else {
            let y = L.clientStrip
            g.rule(y, 0, L.width, title: "", glyphs)
            let x = g.put(y, 1, " Client ", titleStyle)
            if let hint = lines.dropFirst(2).first { g.put(y, x + 1, " " + hint.0 + " ", .dim, maxWidth: L.width - x - 3) }
            for (i, (text, style)) in lines.prefix(2).enumerated() {
                g.put(y + 1 + i, 1, text, style, maxWidth: L.width - 2)
            }
        }
    }
}
