import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
import IPCScopePOSIX

/// `--schema FILE`, shared by every verb that shows or builds payloads.
struct SchemaOptions: ParsableArguments {
    @Option(help: "Decode payloads with this schema (default: $XDG_CONFIG_HOME/ipcscope/schemas/NAME.yaml if it exists; see docs/schemas.md).",
            completion: .file(extensions: ["yaml", "yml"]))
    var schema: String?

    /// The schema for `service`; a bad or unreadable schema is one line on stderr and exit 1.
    func load(service: String?) throws -> Schema? {
        do {
            return try Schema.find(service: service, explicit: schema)
        } catch {
            printError("\(error.description): fix the schema (see docs/schemas.md)")
            throw ExitCode(1)
        }
    }
}

// MARK: - decoded payloads as JSON and text

extension DecodedPayload {
    /// The fields as one JSON object, nested as in the schema.
    var fieldsJSON: JSON { .object(root.map { ($0.0, $0.1.json) }) }

    /// `fields`, and `warnings` / `rest_hex` when something did not decode, for a JSON object.
    var jsonPairs: [(String, JSON)] {
        var out: [(String, JSON)] = [("fields", fieldsJSON)]
        if !warnings.isEmpty { out.append(("warnings", .array(warnings.map { .string($0) }))) }
        if !rest.isEmpty { out.append(("rest_hex", .hex(rest))) }
        return out
    }

    /// One line per field (`  value     f64   2.5`), then the warnings, then the rest as bytes.
    func textLines(indent: String = "  ", style: TextStyle) -> [String] {
        let width = min(28, fields.map(\.path.count).max() ?? 0)
        var out = fields.map { f in
            indent + f.path.padding(toLength: max(width, f.path.count), withPad: " ", startingAt: 0) + "  " + f.value.text
        }
        out += warnings.map { indent + style.yellow("! " + $0) }
        if !rest.isEmpty {
            out.append(indent + "rest (\(rest.count) bytes at \(restOffset)): " + rest.prefix(32).map { HexDump.hex2($0) }.joined(separator: " ") + (rest.count > 32 ? " …" : ""))
        }
        return out
    }
}

extension DecodedNode {
    var json: JSON {
        switch self {
        case .structure(let children): .object(children.map { ($0.0, $0.1.json) })
        case .array(let items): .array(items.map(\.json))
        case .field(let f): f.value.json
        }
    }
}

extension FieldValue {
    /// Numbers as numbers, enums by name (the number when it has none), flags as {value, set: [names]},
    /// C strings as strings, bytes as hex.
    var json: JSON {
        switch self {
        case .integer(let v): Int64(exactly: v).map { JSON.int($0) } ?? UInt64(exactly: v).map { JSON.uint($0) } ?? .string(String(v))
        case .float(let v): v.isFinite ? .double(v) : .string(FieldValue.float(v).text)
        case .bool(let b): .bool(b != 0)
        case .string(let s): .string(s)
        case .bytes(let b): .hex(b)
        case .enumeration(let v, let name): name.map { JSON.string($0) } ?? FieldValue.integer(v).json
        case .flags(let v, let names): .object([("value", .uint(v)), ("set", .array(names.map { JSON.string($0) }))])
        case .array(let items): .array(items.map(\.json))
        }
    }
}

// MARK: - one payload through the schema

extension Schema {
    /// The request of call `function` decoded, or nil when the schema does not describe it.
    func decodeRequest(_ function: UInt32, _ payload: [UInt8]) -> DecodedPayload? {
        self.function(function)?.request?.decode(payload)
    }

    /// The response of call `function` decoded, or nil when the schema does not describe it.
    func decodeResponse(_ function: UInt32, _ payload: [UInt8]) -> DecodedPayload? {
        self.function(function)?.response?.decode(payload)
    }

    /// A trace record's request head (the ring keeps its first 16 bytes) decoded as far as it goes.
    func decodeHead(_ r: TraceRecord) -> DecodedPayload? {
        let kept = Int(min(UInt32(r.requestHead.count), r.requestSize))
        guard var d = decodeRequest(r.function, Array(r.requestHead.prefix(kept))) else { return nil }
        if Int(r.requestSize) > kept {
            d.warnings = d.warnings.filter { !$0.hasPrefix("the payload is") }
            d.warnings.append("the trace ring keeps the first \(kept) of the request's \(r.requestSize) bytes: the fields after them are not shown")
        }
        return d
    }

    /// What `status` means for `function`, if the schema says.
    func meaning(status: Int32, function: UInt32) -> String? {
        self.function(function)?.statuses[status]
    }
}

// MARK: - building a call from fields

/// The function to call: `name` (a schema name or a number) when given, else `fallback`
/// (`--function`). A name no schema knows is a usage error.
func resolveFunction(_ name: String?, fallback: UInt32, schema: Schema?, service: String) throws -> UInt32 {
    guard let name else { return fallback }
    if let f = schema?.function(named: name) { return f.number }
    if let n = UInt32(name) { return n }
    guard let schema else {
        throw usageFailure("function '\(name)' is not a number and no schema names it: give --schema FILE or put one at \(Schema.conventionalPath(service: service) ?? "$XDG_CONFIG_HOME/ipcscope/schemas/\(service).yaml")")
    }
    throw usageFailure("\(schema.source) has no function '\(name)': its functions are \(schema.functions.map { "\($0.name) (\($0.number))" }.joined(separator: ", "))")
}

/// The request payload built from `--field` arguments through the schema's request layout.
func buildPayload(_ fields: [String], function: UInt32, schema: Schema?, service: String) throws -> [UInt8] {
    guard let schema else {
        throw usageFailure("--field needs a schema for '\(service)': give --schema FILE or put one at \(Schema.conventionalPath(service: service) ?? "$XDG_CONFIG_HOME/ipcscope/schemas/\(service).yaml")")
    }
    guard let f = schema.function(function) else {
        throw usageFailure("\(schema.source) has no function \(function): its functions are \(schema.functions.map { "\($0.name) (\($0.number))" }.joined(separator: ", "))")
    }
    guard let layout = f.request else { throw usageFailure("\(schema.source) gives no request layout for \(f.name): send --text, --hex or --file instead") }
    do {
        var inputs: [FieldInput] = []
        for a in fields { inputs.append(try FieldInput.parse(a)) }
        return try layout.encode(inputs, what: "\(f.name)'s request")
    } catch {
        throw usageFailure(error.message)
    }
}

// MARK: - status

extension IPCScope.Status {
    /// The slots' payloads decoded (the response as an answer to the request's function).
    static func decodedSlots(_ s: Snapshot, _ schema: Schema) -> (DecodedPayload?, DecodedPayload?) {
        (schema.decodeRequest(s.requestFunction, s.requestPayload), schema.decodeResponse(s.requestFunction, s.responsePayload))
    }

    /// The report's JSON with `schema`: the function's name and both slots' fields.
    static func withFields(_ json: JSON, _ s: Snapshot, _ schema: Schema?) -> JSON {
        guard let schema, s.isValid, case .object(let pairs) = json else { return json }
        let (req, rsp) = decodedSlots(s, schema)
        var o: [(String, JSON)] = []
        if let f = schema.function(s.requestFunction) { o.append(("function_name", .string(f.name))) }
        if let req { o.append(("request", .object(req.jsonPairs))) }
        if let rsp { o.append(("response", .object(rsp.jsonPairs))) }
        return .object(pairs + [("decoded", .object(o))])
    }

    /// A `decoded` section after the report: both slots' fields.
    static func fieldsText(_ s: Snapshot, _ schema: Schema?) -> String {
        guard let schema, s.isValid else { return "" }
        let style = stdoutStyle
        let (req, rsp) = decodedSlots(s, schema)
        var out = style.bold("decoded (\(schema.source))") + "\n"
        out += "  request slot: \(schema.label(s.requestFunction))\n"
        out += (req?.textLines(indent: "    ", style: style) ?? ["    (the schema gives no request layout)"]).map { $0 + "\n" }.joined()
        out += "  response slot" + (schema.meaning(status: s.responseStatus, function: s.requestFunction).map { ", status \(s.responseStatus) (\($0))" } ?? "") + "\n"
        out += (rsp?.textLines(indent: "    ", style: style) ?? ["    (the schema gives no response layout)"]).map { $0 + "\n" }.joined()
        return out
    }
}
