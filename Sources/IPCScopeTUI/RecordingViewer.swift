#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema

extension IPCScopeTUI {
    /// Opens a recording (`ipcscope attach --file`) in the inspector's panes and steps through
    /// its calls: `n` next, `p` previous, `g` then a sequence number and Enter to jump.
    /// Every other key works as in a live inspector (Tab, scrolling, `h` hex/text, `/` filter).
    ///
    /// - Throws: `TerminalError` when curses cannot start (before the screen is taken).
    /// With `schema`, the dumps show the fields beside the hex as a live inspector does (`f` toggles).
    package static func view(_ playback: RecordingPlayback, file: String, ascii: Bool, schema: Schema? = nil) throws {
        var playback = playback
        setlocale(LC_ALL, "")
        let utf8 = String(cString: nl_langinfo(nl_item(CODESET))).uppercased().replacing("-", with: "") == "UTF8"
        let noColor = getenv("NO_COLOR").map { $0.pointee != 0 } ?? false
        let term = try Terminal(noColor: noColor)
        defer { term.stop() }
        var model = InspectorModel(service: playback.recording.service ?? "recording", ascii: ascii || !utf8)
        model.schema = schema
        model.fieldsView = schema != nil
        var jump: String?  // the sequence number being typed after `g`
        var problem: String?
        var dirty = true
        model.ingest(playback.snapshot(), now: monotonicNanoseconds())
        model.recording = playback.header(file: file)
        while true {
            let now = monotonicNanoseconds()
            if term.checkResize() { dirty = true }
            if dirty || model.animating {
                let (w, h) = term.size
                var grid = Grid(width: w, height: h)
                model.render(into: &grid, now: now)
                let line = jump.map { " jump to seq: \($0)_  (Enter jumps, Esc cancels)" } ?? problem.map { " " + $0 } ?? playback.statusLine
                _ = grid.put(h - 1, 0, line.padding(toLength: w), .reverse, maxWidth: w)
                term.draw(grid)
                dirty = false
            }
            guard let key = term.readKey(timeoutMS: model.animating ? 50 : 250) else {
                if model.animating { model.tick(now: monotonicNanoseconds()) }
                continue
            }
            dirty = true
            if key == .resize { term.invalidate(); continue }
            let before = playback.index
            if let typed = jump {
                switch key {
                case .enter:
                    jump = nil
                    if let seq = UInt64(typed), playback.jump(toSeq: seq) {} else {
                        problem = "no call with seq \(typed) or later in this recording"
                    }
                case .escape: jump = nil
                case .backspace, .delete: jump = String(typed.dropLast())
                case .char(let c) where c.isASCII && c.isNumber && typed.count < 20: jump = typed + String(c)
                default: break
                }
            } else if model.prompt == nil && model.focus != .client {
                problem = nil
                switch key {
                case .char("n"): playback.next()
                case .char("p"): playback.previous()
                case .char("g"): jump = ""
                default:
                    if model.handle(key: key).contains(.quit) { return }
                }
            } else if model.handle(key: key).contains(.quit) {
                return
            }
            if playback.index != before {
                model.ingest(playback.snapshot(), now: monotonicNanoseconds())
                model.recording = playback.header(file: file)
            }
        }
    }
}

extension String {
    /// The string cut or padded with spaces to `length` characters.
    func padding(toLength length: Int) -> String {
        count >= length ? String(prefix(max(0, length))) : self + String(repeating: " ", count: length - count)
    }
}
