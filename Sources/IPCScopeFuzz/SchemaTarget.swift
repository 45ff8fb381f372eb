// The schema target: a mutated schema (YAML) and a payload, separated by a NUL byte. The schema
// is parsed and, when it parses, every function's layouts decode the payload, print it, and
// build from fields read out of the payload's text.
import IPCScopeSchema

extension FuzzTarget {
    static let schema = FuzzTarget(name: "schema", generate: { rng, _ in
        let seeds = schemaSeeds
        let text = Mutate.text(rng.pick(seeds), others: seeds, rng: &rng,
                               extra: ["char[", "[0]", "[99999999]", "bytes", "capacity: ", "offset: ", "packed: true",
                                       "endian: big", "enum: {", "flags: {63: x}", "padding: ", "size: ", "- a: T", "\n  - "])
        let payload = (0..<rng.below(160)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        return text + [0] + payload
    }, run: { input, _ in
        let cut = input.firstIndex(of: 0) ?? input.count
        let yaml = String(decoding: input[..<cut], as: UTF8.self)
        let payload = Array(input[min(cut + 1, input.count)...])
        guard let schema = try? Schema.parse(yaml: yaml, source: "fuzz.yaml") else { return }
        for f in schema.functions {
            for layout in [f.request, f.response].compactMap({ $0 }) {
                let d = layout.decode(payload)
                _ = d.fields.map { $0.value.text }
                _ = (d.warnings, d.rest, d.field(at: payload.count / 2))
                let words = String(decoding: payload, as: UTF8.self).split(separator: " ").prefix(8)
                let inputs = zip(layout.leaves.prefix(8), words).map { FieldInput(path: $0.path, text: String($1)) }
                if let built = try? layout.encode(inputs, what: "fuzz") { _ = layout.decode(built) }
                _ = try? layout.matches(payload, inputs, what: "fuzz")
            }
        }
    })

    /// Schemas to mutate: every type, nesting, packing, explicit offsets, flexible bytes.
    static let schemaSeeds = [
        """
        endian: little
        types:
          P: [ {x: f32}, {y: f64} ]
          M: {type: u8, enum: {0: off, 1: on}}
          K: {packed: true, size: 8, fields: [ {a: u8}, {b: u32} ]}
        functions:
          1: ping
          3:
            name: set_value
            request:
              - id: u32
              - value: f64
              - name: char[16]
              - m: M
              - p: P[2]
              - k: K
              - f: {type: u16, flags: {0: a, 15: b}, endian: big}
              - s: "i16[2][3]"
              - padding: 3
              - t: {type: u8, offset: 120}
              - b: {type: bytes, length: u16, capacity: 4}
              - rest: bytes
            response: [ {ok: bool}, {previous: f64} ]
            status: {0: ok, -2: no}
        """,
        "packed: true\nfunctions:\n  7:\n    name: f\n    request: [ {a: u8}, {b: u64}, {c: \"char[2][4]\"} ]\n",
    ]
}
