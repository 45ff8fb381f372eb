// The schema model in-process: C layout rules, bad schemas refused with line and column,
// payloads shorter or longer than the layout, and hostile input that must never trap.
import IPCScopeSchema
import IPCScopeObserve
import IPCScopeRecording
@testable import IPCScopeInspector
import Testing
import TestSupport

@Suite("Schema model")
struct SchemaModelTests {
    static func layout(_ yaml: String, _ function: UInt32 = 1) throws -> Layout {
        try #require(try Schema.parse(yaml: yaml).function(function)?.request)
    }

    @Test("natural alignment, packed, explicit offsets, padding, declared size, big-endian")
    func layoutRules() throws {
        let natural = try Self.layout("functions:\n  1:\n    name: f\n    request: [ {a: u8}, {b: f64}, {c: u16} ]\n")
        #expect(natural.fields.map(\.offset) == [0, 8, 16])
        #expect(natural.size == 24 && natural.alignment == 8)
        let packed = try Self.layout("packed: true\nfunctions:\n  1:\n    name: f\n    request: [ {a: u8}, {b: f64}, {c: u16} ]\n")
        #expect(packed.fields.map(\.offset) == [0, 1, 9])
        #expect(packed.size == 11)
        let explicit = try Self.layout("""
            functions:
              1:
                name: f
                request:
                  fields:
                    - a: u8
                    - padding: 2
                    - b: {type: u16, offset: 6, endian: big}
                    - c: char[3]
                  size: 16
            """)
        #expect(explicit.fields.map(\.offset) == [0, 6, 8])
        #expect(explicit.size == 16)
        #expect(try explicit.encode([FieldInput(path: "b", text: "0x0102")], what: "f") == [0, 0, 0, 0, 0, 0, 1, 2] + [UInt8](repeating: 0, count: 8))
    }

    @Test("a payload shorter than the layout decodes as far as it goes; a longer one shows the rest as bytes")
    func shortAndLong() throws {
        let l = try Self.layout("functions:\n  1:\n    name: f\n    request: [ {id: u32}, {value: f64}, {mode: {type: u8, enum: {0: off}}} ]\n")
        let full = try l.encode([FieldInput(path: "id", text: "7"), FieldInput(path: "value", text: "2.5")], what: "f")
        #expect(full.count == 24)
        let short = l.decode(Array(full.prefix(12)))
        #expect(short.fields.map(\.path) == ["id"])
        #expect(short.fields.first?.value == .integer(7))
        #expect(short.warnings == ["the payload is 12 bytes: 'value' (f64, bytes 8..<16) and what follows are missing"])
        #expect(short.restOffset == 4 && short.rest.count == 8, "the padding and the part of value that came are shown as bytes")
        var long = full
        long[16] = 9
        long += [0xaa, 0xbb]
        let d = l.decode(long)
        #expect(d.fields.map(\.path) == ["id", "value", "mode"])
        #expect(d.field("mode")?.value == .enumeration(9, nil))
        #expect(d.warnings.contains("'mode' is 9, a value with no name in its enum"))
        #expect(d.warnings.contains("2 bytes after the 24 the schema describes: shown as bytes"))
        #expect(d.rest == [0xaa, 0xbb] && d.restOffset == 24)
        #expect(l.decode([]).fields.isEmpty)
    }

    @Test("flexible bytes take what follows; a length past the payload is cut with a warning")
    func flexibleBytes() throws {
        let l = try Self.layout("functions:\n  1:\n    name: f\n    request: [ {n: u16}, {data: {type: bytes, length: u8}} ]\n")
        #expect(try l.encode([FieldInput(path: "data", text: "0a0b")], what: "f") == [0, 0, 2, 0x0a, 0x0b])
        let d = l.decode([1, 0, 9, 0x0a])
        #expect(d.field("data")?.value == .bytes([0x0a]))
        #expect(d.warnings == ["'data' says 9 bytes, but only 1 follow in the payload: showing 1"])
    }

    @Test("a million unnamed enum values give a bounded list of warnings")
    func boundedWarnings() throws {
        let l = try Self.layout("functions:\n  1:\n    name: f\n    request: [ {m: {type: u8, enum: {0: off}, count: 100000}} ]\n")
        let d = l.decode([UInt8](repeating: 7, count: 100_000))
        #expect(d.warnings.count == 33)
        #expect(d.warnings.last == "99968 more warnings like these")
    }

    static let badSchemas: [(String, String)] = [
        ("", "1:1: expected a mapping with a 'functions:' key"),
        ("functions: [1]", "1:12: expected 'functions:' to be a non-empty mapping"),
        ("function:\n  1: f\n", "1:1: unknown key 'function' in the schema"),
        ("functions:\n  -1: f\n", "2:3: expected a function number from 0 to 4294967295"),
        ("functions:\n  1: 9lives\n", "2:6: expected a function name of letters"),
        ("functions:\n  1: f\n  2: f\n", "3:6: the function name 'f' is used twice"),
        ("functions:\n  1:\n    name: f\n    request: u32\n", "4:14: expected 'request:' to be a struct"),
        ("functions:\n  1:\n    name: f\n    request: []\n", "4:14: expected at least one field"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: u8, b: u8} ]\n", "4:16: expected a field like '- id: u32'"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: u8}, {a: u8} ]\n", "4:26: the field name 'a' is used twice"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: char} ]\n", "4:20: a C string needs its size"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: \"u8[0]\"} ]\n", "4:20: expected an array dimension from 1"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: \"u8[99999999999]\"} ]\n", "4:20: expected an array dimension"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: \"u8[1048576][2]\"} ]\n", "spans more than the 1048576 bytes"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: u32}, {b: {type: u8, offset: 2}} ]\n", "4:30: offset 2 of 'b' overlaps the field before it"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: {type: f32, enum: {0: x}}} ]\n", "4:38: 'enum:' needs an integer 'type:'"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: {type: u8, enum: {256: x}}} ]\n", "4:38: enum value 256 does not fit in u8"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: {type: u8, flags: {8: x}}} ]\n", "4:39: expected a bit number from 0 to 7"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: bytes}, {b: u8} ]\n", "4:28: flexible bytes (no 'capacity:') must be the last field"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: {fields: [ {b: bytes} ]}} ]\n", "4:35: flexible bytes (no 'capacity:') may only end a request"),
        ("functions:\n  1:\n    name: f\n    request: [ {a: {type: u8, length: u16}} ]\n", "'length:' and 'capacity:' go with 'type: bytes'"),
        ("endian: middle\nfunctions:\n  1: f\n", "1:9: expected 'endian:' to be little or big"),
        ("types:\n  u8: [ {a: u8} ]\nfunctions:\n  1: f\n", "2:3: the type name 'u8' is already taken"),
        ("types:\n  A: [ {b: B} ]\n  B: [ {a: u8} ]\nfunctions:\n  1: f\n", "2:12: unknown type 'B'"),
        ("functions:\n  1:\n    name: f\n    status: {x: ok}\n", "4:14: expected a status code"),
        ("functions:\n  1:\n    name: f\n    respond: [ {a: u8} ]\n", "4:5: unknown key 'respond' in function 1"),
        ("functions:\n  1: [unclosed\n", "expected valid YAML"),
        ("functions:\n  1: f\n  1: g\n", "expected each key once in a mapping"),
    ]

    @Test("every bad schema is refused with line, column and what was expected")
    func badSchemas() {
        for (yaml, expected) in Self.badSchemas {
            do {
                _ = try Schema.parse(yaml: yaml, source: "s.yaml")
                Issue.record("accepted: \(yaml)")
            } catch {
                #expect(error.description.contains(expected), "\(yaml)\n→ \(error.description)")
                #expect(error.description.hasPrefix("s.yaml:") && !error.description.contains("\n"))
            }
        }
    }

    @Test("deep nesting and huge layouts are refused, not followed")
    func limits() {
        var types = "types:\n  T0: [ {a: u8} ]\n"
        for i in 1...20 { types += "  T\(i): [ {a: T\(i - 1)}, {b: u8} ]\n" }
        #expect(throws: SchemaError.self) { try Schema.parse(yaml: types + "functions:\n  1:\n    name: f\n    request: [ {x: T20} ]\n") }
        var wide = "types:\n  T0: [ {a: \"u8[1024]\"} ]\n"
        for i in 1...4 { wide += "  T\(i): [ {a: \"T\(i - 1)[1024]\"} ]\n" }
        #expect(throws: SchemaError.self) { try Schema.parse(yaml: wide + "functions:\n  1: f\n") }
        var many = "types:\n  P: [ {a: u8} ]\nfunctions:\n  1:\n    name: f\n    request: [ {x: \"P[5000]\"} ]\n"
        #expect(throws: SchemaError.self) { try Schema.parse(yaml: many) }
        many = String(repeating: "#", count: Schema.maxFileSize + 1)
        #expect(throws: SchemaError.self) { try Schema.parse(yaml: many) }
    }

    @Test("hostile input: every cut of a schema, random bytes through every layout, never a trap")
    func hostile() throws {
        let text = SchemaFixture.schema
        let utf8 = Array(text.utf8)
        var parsed = 0
        for cut in stride(from: 0, through: utf8.count, by: 3) {
            if (try? Schema.parse(yaml: String(decoding: utf8.prefix(cut), as: UTF8.self))) != nil { parsed += 1 }
        }
        #expect(parsed > 0)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var b = utf8
            for _ in 0..<3 { b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0x20...0x7e, using: &rng) }
            _ = try? Schema.parse(yaml: String(decoding: b, as: UTF8.self))
        }
        let schema = try Schema.parse(yaml: text)
        for f in schema.functions {
            for l in [f.request, f.response].compactMap({ $0 }) {
                for n in 0..<(l.size + 40) {
                    let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    let d = l.decode(bytes)
                    #expect(d.restOffset <= bytes.count)
                    _ = d.fields.map(\.value.text)
                }
            }
        }
    }
}

// MARK: - the schema in the inspector's grid

/// An inspector at 120x40 on a section whose slots hold set_value (3): id 3, value 2.5, name
/// "pump", answered ok with previous 1.5; the fields view on.
private func fieldsModel() throws -> InspectorModel {
    let schema = try Schema.parse(yaml: SchemaFixture.schema)
    let set = try #require(schema.function(named: "set_value"))
    let request = try #require(set.request).encode([FieldInput(path: "id", text: "3"), FieldInput(path: "value", text: "2.5"),
                                                     FieldInput(path: "name", text: "pump")], what: "set_value")
    let response = try #require(set.response).encode([FieldInput(path: "ok", text: "true"), FieldInput(path: "previous", text: "1.5")],
                                                      what: "set_value")
    var s = SectionBytes()
    s.server()
    s.state(3)
    s.request(seq: 7, function: 3, payload: request)
    s.response(seq: 7, status: 0, payload: response)
    var m = testModel()
    m.schema = schema
    m.fieldsView = true
    m.ingest(s.snapshot(), now: 10_000_000_000)
    return m
}

/// The attributes of the two cells of byte `j` of hex row `row` in the request pane's fields view
/// (list 47 columns, a rule, the hex from column 50: `0000  03 00 ...`).
private func hexByte(_ g: Grid, _ row: Int, _ j: Int) -> (String, CellAttributes) {
    let x = 50 + 6 + 3 * j
    return (String(String.UnicodeScalarView([g[row, x].char, g[row, x + 1].char])), g[row, x].attributes.intersection(g[row, x + 1].attributes))
}

@Suite("Schema in the inspector's grid", .serialized)
struct SchemaGridTests {
    @Test("the field under the cursor is lit in the hex beside it; up/down walk fields, left/right bytes")
    func cursorLightsTheFieldInTheHex() throws {
        var m = try fieldsModel()
        var g = draw(&m)
        let lit: CellAttributes = [.bold, .reverse]
        // Request rule at row 8: the list, then the hex of the same payload, 8 bytes a row.
        #expect(g.text(9).hasPrefix(">   0  id     3"), "\(g.text(9))")
        #expect(g.text(9).contains("│ 0000  03 00 00 00 00 00 00 00"), "\(g.text(9))")
        #expect(g.text(10).contains("value  2.5") && g.text(10).contains("0008  00 00 00 00 00 00 04 40"), "\(g.text(10))")
        #expect(g.text(8).contains(" id u32, byte") || g.text(8).contains(" id u32, bytes 0-3 "), "\(g.text(8))")
        #expect((0..<4).allSatisfy { hexByte(g, 9, $0).1.isSuperset(of: lit) }, "id's four bytes are lit")
        #expect((4..<8).allSatisfy { !hexByte(g, 9, $0).1.contains(.reverse) }, "the padding after id is not")
        #expect(hexByte(g, 9, 0).1.contains(.underline), "the cursor's byte is underlined too")
        #expect(!(0..<8).contains { hexByte(g, 10, $0).1.contains(.reverse) })
        #expect(g[9, 0].char == ">" && g[9, 0].attributes.contains(.bold))

        // Down: the next field, value (bytes 8-15), lit in the list and in the hex.
        _ = m.handle(key: .down)
        g = draw(&m)
        #expect(m.focusedFieldCursor == .init(byte: 8, field: 1))
        #expect(g.text(10).hasPrefix(">   8  value") && g.text(9).hasPrefix("    0  id"))
        #expect(g.text(8).contains(" value f64, bytes 8-15 "), "\(g.text(8))")
        #expect((0..<8).allSatisfy { hexByte(g, 10, $0).1.isSuperset(of: lit) })
        #expect(!(0..<8).contains { hexByte(g, 9, $0).1.contains(.reverse) })
        // Right: byte by byte inside value; left twice: the padding between id and value.
        _ = m.handle(key: .right)
        g = draw(&m)
        #expect(hexByte(g, 10, 1).1.contains(.underline) && !hexByte(g, 10, 0).1.contains(.underline))
        _ = m.handle(key: .left)
        _ = m.handle(key: .left)
        g = draw(&m)
        #expect(m.focusedFieldCursor == .init(byte: 7, field: nil))
        #expect(g.text(8).contains(" byte 7: padding "), "\(g.text(8))")
        #expect(!g.text(9).hasPrefix(">") && !g.text(10).hasPrefix(">"))
        #expect(hexByte(g, 9, 7).1 == [.bold, .reverse, .underline], "the padding byte alone is lit")
        // The opposite way: any byte maps to the field that covers it (byte 20 is inside name).
        for _ in 0..<13 { _ = m.handle(key: .right) }
        g = draw(&m)
        #expect(m.focusedFieldCursor == .init(byte: 20, field: 2))
        #expect(g.text(11).hasPrefix(">  16  name") && g.text(8).contains(" name char[16], bytes 16-31 "), "\(g.text(8))")
        #expect((0..<8).allSatisfy { hexByte(g, 11, $0).1.isSuperset(of: lit) && hexByte(g, 12, $0).1.isSuperset(of: lit) })
        // Up goes back a field; g to the first; the other pane keeps its own cursor.
        _ = m.handle(key: .up)
        #expect(m.focusedFieldCursor?.field == 1)
        _ = m.handle(key: .char("g"))
        #expect(m.focusedFieldCursor == .init(byte: 0, field: 0))
        _ = m.handle(key: .tab)
        #expect(m.focus == .response && m.focusedFieldCursor == .init(byte: 0, field: 0))
        _ = m.handle(key: .char("G"))
        #expect(m.focusedFieldCursor == .init(byte: 8, field: 1))
        g = draw(&m)
        let rsp = 9 + ScreenLayout(width: 120, height: 40).dumpRows + 1
        #expect(g.text(rsp + 1).hasPrefix(">   8  previous  1.5"), "\(g.text(rsp + 1))")
        #expect(g.text(39).contains("field") && g.text(39).contains("byte"), "the footer names the cursor keys: \(g.text(39))")
        // Without the fields view the arrows scroll the hex again.
        _ = m.handle(key: .char("f"))
        _ = m.handle(key: .down)
        #expect(m.focusedFieldCursor == nil && m.scroll[.response] == 1)
    }

    @Test("Tab in the client pane completes function, field and enum names, listing them when several fit")
    func tabCompletes() throws {
        var m = try fieldsModel()
        m.setWritability(.writable)
        _ = m.handle(key: .char("i"))
        func type(_ text: String) { for c in text { _ = m.handle(key: .char(c)) } }
        type("se")
        #expect(draw(&m).contains("functions: set_value"), "the function names are hinted while typing")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "set_value " && m.focus == .client)
        // An empty word: every field, listed; the input stays.
        _ = m.handle(key: .tab)
        #expect(m.client.input == "set_value " && m.client.completions == ["id", "value", "name"])
        var g = draw(&m)
        let row = try #require(g.row(containing: "Tab: id  value  name"), "\(g.lines.joined(separator: "\n"))")
        let col = try #require((0..<g.width).first { x in (0..<4).allSatisfy { g[row, x + $0].char == Array("Tab:".unicodeScalars)[$0] } })
        #expect(g[row, col].attributes.contains(.bold) && g[row, col].role == .accent, "the candidates stand out")
        type("v")
        #expect(m.client.completions.isEmpty, "an edit closes the list")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "set_value value=")
        type("2.5 ")
        _ = m.handle(key: .tab)
        #expect(m.client.completions == ["id", "name"], "fields already given are not offered again")
        type("n")
        _ = m.handle(key: .tab)
        type("pump zz")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "set_value value=2.5 name=pump zz" && m.client.problem == "nothing completes 'zz'")
        g = draw(&m)
        #expect(g.contains("! nothing completes 'zz'"))

        // Enum names after '=', a shared prefix grows the word, then a single candidate finishes it.
        _ = m.handle(key: .ctrl("u"))
        type("ev")
        _ = m.handle(key: .tab)
        type("mo")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "everything mode=")
        _ = m.handle(key: .tab)
        #expect(m.client.completions == ["mode=off", "mode=on", "mode=auto"])
        type("o")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "everything mode=o" && m.client.completions == ["mode=off", "mode=on"])
        type("f")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "everything mode=off " && m.client.completions.isEmpty)
        type("ok=")
        _ = m.handle(key: .tab)
        #expect(m.client.completions == ["ok=true", "ok=false"])
        type("t")
        _ = m.handle(key: .tab)
        #expect(m.client.input == "everything mode=off ok=true ")
        type("u")
        _ = m.handle(key: .tab)
        #expect(m.client.completions == ["u8", "u16", "u32", "u64"] && m.client.input.hasSuffix(" u"))
        // The completed call is sent as typed.
        _ = m.handle(key: .ctrl("u"))
        type("set_value i")
        _ = m.handle(key: .tab)
        type("3")
        let sent = m.handle(key: .enter)
        guard case .send(let call)? = sent.first else { Issue.record("not sent: \(sent)"); return }
        #expect(call.function == 3 && call.payload.prefix(4) == [3, 0, 0, 0])

        // An empty line, or no schema: Tab changes the pane as before.
        _ = m.handle(key: .tab)
        #expect(m.focus == .request)
        var plain = testModel()
        plain.ingest(SectionBytes().snapshot(), now: 1)
        _ = plain.handle(key: .char("i"))
        for c in "1 hi" { _ = plain.handle(key: .char(c)) }
        _ = plain.handle(key: .tab)
        #expect(plain.focus == .request && plain.client.input == "1 hi")
    }
}
