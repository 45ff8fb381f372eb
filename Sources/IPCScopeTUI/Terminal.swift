#if canImport(Glibc)
import Glibc
#endif
import CNcurses
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector

/// The curses screen: copies a model's `Grid` to the terminal (changed cells only) and
/// reads keys. Owns curses from `init` to `stop()`.
final class Terminal {
    private var shown: Grid?
    private let color: Bool
    private var stopped = false

    /// Starts curses (setlocale first), with colour unless `noColor`.
    init(noColor: Bool) throws {
        TerminalGuard.arm()
        guard CNcurses_start() == 0 else {
            TerminalGuard.disarm()
            throw TerminalError("cannot start curses: is TERM set to a known terminal?")
        }
        color = noColor ? false : CNcurses_start_colors()
    }

    deinit { stop() }

    /// Restores the terminal (idempotent).
    func stop() {
        guard !stopped else { return }
        stopped = true
        CNcurses_stop()
        TerminalGuard.disarm()
    }

    /// The terminal size now.
    var size: (width: Int, height: Int) { (Int(CNcurses_cols()), Int(CNcurses_lines())) }

    /// Draws `grid`; only cells that differ from the last drawn grid are sent.
    func draw(_ grid: Grid) {
        let full = shown.map { $0.width != grid.width || $0.height != grid.height } ?? true
        if full { CNcurses_clear() }
        let w = grid.width
        grid.cells.withUnsafeBufferPointer { cells in
            let old = full ? nil : shown
            for i in 0..<cells.count {
                let c = cells[i]
                if let o = old, o.cells[i] == c { continue }
                let pair: Int16 = color && c.role != .normal ? Int16(c.role.rawValue) : 0
                // Never write the bottom-right cell: curses would scroll the screen.
                if i == cells.count - 1 { continue }
                CNcurses_put(Int32(i / w), Int32(i % w), c.char.value, UInt32(c.attributes.rawValue), pair)
            }
        }
        shown = grid
        CNcurses_refresh()
    }

    /// Follows a size change even when SIGWINCH was delivered to another thread; true when resized.
    func checkResize() -> Bool {
        guard CNcurses_check_resize() != 0 else { return false }
        invalidate()
        return true
    }

    /// Forgets what is on screen, so the next `draw` repaints everything.
    func invalidate() { shown = nil }

    /// Waits at most `timeoutMS` for a key (0: poll).
    func readKey(timeoutMS: Int) -> Key? {
        CNcurses_timeout(Int32(max(0, timeoutMS)))
        let k = CNcurses_get_key()
        switch k {
        case Int32(CNCURSES_KEY_NONE): return nil
        case Int32(CNCURSES_KEY_UP): return .up
        case Int32(CNCURSES_KEY_DOWN): return .down
        case Int32(CNCURSES_KEY_LEFT): return .left
        case Int32(CNCURSES_KEY_RIGHT): return .right
        case Int32(CNCURSES_KEY_PPAGE): return .pageUp
        case Int32(CNCURSES_KEY_NPAGE): return .pageDown
        case Int32(CNCURSES_KEY_HOME): return .home
        case Int32(CNCURSES_KEY_END): return .end
        case Int32(CNCURSES_KEY_BACKSPACE): return .backspace
        case Int32(CNCURSES_KEY_DC): return .delete
        case Int32(CNCURSES_KEY_BTAB): return .backTab
        case Int32(CNCURSES_KEY_RESIZE): return .resize
        case Int32(CNCURSES_KEY_ENTER): return .enter
        case 9: return .tab
        case 10, 13: return .enter
        case 27: return .escape
        case 8, 127: return .backspace
        case 1...26: return .ctrl(Character(Unicode.Scalar(UInt8(k) + 0x60)))
        case 32...: return Unicode.Scalar(UInt32(k)).map { .char(Character($0)) }
        default: return nil
        }
    }
}

/// Curses could not start.
struct TerminalError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
