/// What a cell's colour means; the front maps roles to colour pairs (or to nothing under
/// `NO_COLOR`). Meaning is never carried by colour alone: every role has text or an
/// attribute beside it.
import IPCScopeObserve
package enum ColorRole: UInt8, Sendable, CaseIterable {
    case normal = 0, title, good, warning, bad, accent, muted
}

/// Text attributes of one cell.
package struct CellAttributes: OptionSet, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let bold = CellAttributes(rawValue: 1)
    package static let reverse = CellAttributes(rawValue: 2)
    package static let underline = CellAttributes(rawValue: 4)
    package static let dim = CellAttributes(rawValue: 8)
}

/// One character cell: a single-width scalar, attributes and a colour role.
package struct Cell: Hashable, Sendable {
    package var char: Unicode.Scalar
    package var attributes: CellAttributes
    package var role: ColorRole

    package init(_ char: Unicode.Scalar = " ", _ attributes: CellAttributes = [], _ role: ColorRole = .normal) {
        self.char = char
        self.attributes = attributes
        self.role = role
    }

    package static let blank = Cell()
}

/// A style to draw text with: attributes plus a colour role.
package struct Style: Hashable, Sendable {
    package var attributes: CellAttributes
    package var role: ColorRole
    package init(_ attributes: CellAttributes = [], _ role: ColorRole = .normal) {
        self.attributes = attributes
        self.role = role
    }
    package static let plain = Style()
    package static let bold = Style(.bold)
    package static let dim = Style(.dim, .muted)
    package static let reverse = Style(.reverse)
}

/// The box-drawing and bar glyphs, in UTF-8 or plain ASCII.
package struct Glyphs: Sendable, Equatable {
    package var horizontal: Unicode.Scalar, vertical: Unicode.Scalar
    package var topLeft: Unicode.Scalar, topRight: Unicode.Scalar, bottomLeft: Unicode.Scalar, bottomRight: Unicode.Scalar
    package var teeDown: Unicode.Scalar
    package var arrowRight: String, arrowLeft: String, arrowUp: String, arrowDown: String
    /// Sparkline levels, lowest first.
    package var bars: [Unicode.Scalar]

    package static let unicode = Glyphs(horizontal: "─", vertical: "│", topLeft: "┌", topRight: "┐",
                                       bottomLeft: "└", bottomRight: "┘", teeDown: "┬",
                                       arrowRight: "→", arrowLeft: "←", arrowUp: "↑", arrowDown: "↓",
                                       bars: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"])
    package static let ascii = Glyphs(horizontal: "-", vertical: "|", topLeft: "+", topRight: "+",
                                     bottomLeft: "+", bottomRight: "+", teeDown: "+",
                                     arrowRight: "->", arrowLeft: "<-", arrowUp: "^", arrowDown: "v",
                                     bars: ["_", ".", ":", "-", "=", "+", "*", "#"])
}

/// A rectangle of cells: what the screen shows, without a terminal.
///
/// The model draws into a grid; the curses front copies it to the terminal; tests read
/// it back with `text(_:)`. Drawing outside the grid is clipped, never a trap.
package struct Grid: Sendable, Equatable {
    package let width: Int
    package let height: Int
    package private(set) var cells: [Cell]
    /// Columns drawing may touch (see `clipped(to:_:)`); everything else is left as is.
    private var clip: Range<Int>

    /// Whether column `x` may be drawn (inside the grid and the current clip).
    private func drawable(_ x: Int) -> Bool { x >= 0 && x < width && clip.contains(x) }

    package init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
        clip = 0..<self.width
    }

    /// Runs `draw` with drawing limited to `columns`: a pane's title or text can never spill
    /// into the pane beside it, whatever its length.
    package mutating func clipped(to columns: Range<Int>, _ draw: (inout Grid) -> Void) {
        let saved = clip
        clip = max(saved.lowerBound, columns.lowerBound)..<max(max(saved.lowerBound, columns.lowerBound), min(saved.upperBound, columns.upperBound))
        draw(&self)
        clip = saved
    }

    package subscript(row: Int, column: Int) -> Cell {
        get { (0..<height).contains(row) && (0..<width).contains(column) ? cells[row * width + column] : .blank }
        set { if (0..<height).contains(row) && drawable(column) { cells[row * width + column] = newValue } }
    }

    /// Row `row` as plain text, trailing blanks removed.
    package func text(_ row: Int) -> String {
        guard (0..<height).contains(row) else { return "" }
        var s = String.UnicodeScalarView()
        for c in cells[(row * width)..<((row + 1) * width)] { s.append(c.char) }
        var out = String(s)
        while out.last == " " { out.removeLast() }
        return out
    }

    /// Every row as text, joined with newlines (trailing blank rows kept as empty lines).
    package var lines: [String] { (0..<height).map(text) }

    /// Whether any row contains `needle`.
    package func contains(_ needle: String) -> Bool { lines.contains { $0.contains(needle) } }

    /// The first row containing `needle`, if any.
    package func row(containing needle: String) -> Int? { lines.firstIndex { $0.contains(needle) } }

    /// Writes `text` at (row, column), clipped to `maxWidth` and the grid; returns the column after it.
    /// Characters other than printable single-width scalars are drawn as `?` or `.`.
    @discardableResult
    package mutating func put(_ row: Int, _ column: Int, _ text: String, _ style: Style = .plain, maxWidth: Int = .max) -> Int {
        guard (0..<height).contains(row) else { return column }
        var x = column
        let end = min(width, maxWidth == .max ? width : column + max(0, maxWidth))
        let base = row * width
        for sc in text.unicodeScalars {
            if x >= end { break }
            if drawable(x) {
                cells[base + x] = Cell(Grid.displayable(sc), style.attributes, style.role)
            }
            x += 1
        }
        return x
    }

    /// Sets the style of `count` cells from (row, column) without changing their characters.
    package mutating func restyle(_ row: Int, _ column: Int, _ count: Int, _ style: Style) {
        guard (0..<height).contains(row) else { return }
        for x in max(0, column)..<max(max(0, column), min(width, column + count)) where drawable(x) {
            cells[row * width + x].attributes = style.attributes
            cells[row * width + x].role = style.role
        }
    }

    /// Adds attributes to `count` cells from (row, column).
    package mutating func addAttributes(_ row: Int, _ column: Int, _ count: Int, _ attributes: CellAttributes) {
        guard (0..<height).contains(row) else { return }
        for x in max(0, column)..<max(max(0, column), min(width, column + count)) where drawable(x) {
            cells[row * width + x].attributes.formUnion(attributes)
        }
    }

    /// Fills a rectangle with one cell.
    package mutating func fill(_ row: Int, _ column: Int, _ w: Int, _ h: Int, _ cell: Cell = .blank) {
        for y in max(0, row)..<max(max(0, row), min(height, row + h)) {
            for x in max(0, column)..<max(max(0, column), min(width, column + w)) where drawable(x) { cells[y * width + x] = cell }
        }
    }

    /// A horizontal rule with a title: `── Title ───────`.
    package mutating func rule(_ row: Int, _ column: Int, _ w: Int, title: String, _ glyphs: Glyphs,
                              style: Style = .plain, titleStyle: Style = .bold) {
        fill(row, column, w, 1, Cell(glyphs.horizontal, style.attributes, style.role))
        guard !title.isEmpty, w > 4 else { return }
        put(row, column + 2, " " + title + " ", titleStyle, maxWidth: w - 3)
    }

    /// A box outline with an optional title in the top edge.
    package mutating func box(_ row: Int, _ column: Int, _ w: Int, _ h: Int, title: String, _ glyphs: Glyphs,
                             style: Style = .plain, titleStyle: Style = .bold) {
        guard w >= 2, h >= 2 else { return }
        let s = style
        fill(row, column, w, 1, Cell(glyphs.horizontal, s.attributes, s.role))
        fill(row + h - 1, column, w, 1, Cell(glyphs.horizontal, s.attributes, s.role))
        fill(row, column, 1, h, Cell(glyphs.vertical, s.attributes, s.role))
        fill(row, column + w - 1, 1, h, Cell(glyphs.vertical, s.attributes, s.role))
        self[row, column] = Cell(glyphs.topLeft, s.attributes, s.role)
        self[row, column + w - 1] = Cell(glyphs.topRight, s.attributes, s.role)
        self[row + h - 1, column] = Cell(glyphs.bottomLeft, s.attributes, s.role)
        self[row + h - 1, column + w - 1] = Cell(glyphs.bottomRight, s.attributes, s.role)
        if !title.isEmpty && w > 4 { put(row, column + 1, " " + title + " ", titleStyle, maxWidth: w - 2) }
    }

    /// A scalar the terminal draws in one column: control and wide characters become `.`.
    static func displayable(_ sc: Unicode.Scalar) -> Unicode.Scalar {
        let v = sc.value
        if v < 0x20 || v == 0x7f || (0x80..<0xa0).contains(v) { return "." }
        // Wide ranges (CJK, emoji, ...) would take two columns and shift the row.
        if (0x1100...0x115f).contains(v) || (0x2e80...0xa4cf).contains(v) || (0xac00...0xd7a3).contains(v)
            || (0xf900...0xfaff).contains(v) || (0xfe30...0xfe4f).contains(v) || (0xff00...0xff60).contains(v)
            || (0xffe0...0xffe6).contains(v) || v >= 0x1f000 { return "?" }
        // Combining marks would merge with the cell before.
        if (0x300...0x36f).contains(v) || (0x200b...0x200f).contains(v) { return "?" }
        return sc
    }
}

// MARK: - text helpers

/// Joins `fields` with `separator`, dropping the lowest-priority fields (highest number, last
/// first among equals) until the line fits `width`: a value is never cut, a field goes whole.
func fitFields(_ fields: [(String, Int)], _ width: Int, separator: String = "  ") -> String {
    var kept = fields.filter { !$0.0.isEmpty }
    func joined() -> String { kept.map(\.0).joined(separator: separator) }
    while kept.count > 1, joined().unicodeScalars.count > width {
        let worst = kept.map(\.1).max() ?? 0
        if let i = kept.lastIndex(where: { $0.1 == worst }) { kept.remove(at: i) }
    }
    return joined()
}

/// The first of `variants` (longest first) that fits `width`; the last one when none does.
func fitVariant(_ variants: [String], _ width: Int) -> String {
    variants.first { $0.unicodeScalars.count <= width } ?? variants.last ?? ""
}

/// Pads or clips `s` to exactly `w` columns (left-aligned).
func pad(_ s: String, _ w: Int) -> String {
    guard w > 0 else { return "" }
    let n = s.unicodeScalars.count
    if n == w { return s }
    if n < w { return s + String(repeating: " ", count: w - n) }
    return String(String.UnicodeScalarView(s.unicodeScalars.prefix(w)))
}

/// Right-aligns `s` in `w` columns (clipping from the left keeps the least significant digits).
func rpad(_ s: String, _ w: Int) -> String {
    guard w > 0 else { return "" }
    let n = s.unicodeScalars.count
    if n >= w { return String(String.UnicodeScalarView(s.unicodeScalars.suffix(w))) }
    return String(repeating: " ", count: w - n) + s
}

/// A duration in ns as a short human string: `850ns`, `12.3µs`, `4.56ms`, `1.23s`, `5m03s`.
package func formatDuration(_ ns: UInt64, ascii: Bool = false) -> String {
    let mu = ascii ? "us" : "µs"
    switch ns {
    case ..<1_000: return "\(ns)ns"
    case ..<10_000: return fixed(Double(ns) / 1e3, 2) + mu
    case ..<1_000_000: return fixed(Double(ns) / 1e3, 1) + mu
    case ..<10_000_000: return fixed(Double(ns) / 1e6, 2) + "ms"
    case ..<1_000_000_000: return fixed(Double(ns) / 1e6, 1) + "ms"
    case ..<60_000_000_000: return fixed(Double(ns) / 1e9, 1) + "s"
    case ..<3_600_000_000_000:
        let s = ns / 1_000_000_000
        return "\(s / 60)m" + (s % 60 < 10 ? "0" : "") + "\(s % 60)s"
    default:
        let m = ns / 60_000_000_000
        return "\(m / 60)h" + (m % 60 < 10 ? "0" : "") + "\(m % 60)m"
    }
}

/// `value` with `digits` decimals, without Foundation.
func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e17 else { return value < 0 ? "-big" : "big" }
    let n = Int64(scaled)
    let whole = n / Int64(scale), frac = n % Int64(scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (value < 0 && n != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}
