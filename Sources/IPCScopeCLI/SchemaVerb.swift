import ArgumentParser
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
import IPCScopePOSIX

extension IPCScope {
    struct SchemaCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "schema",
            abstract: "Check a schema and print its layouts (offsets, sizes, padding), as pahole does.",
            discussion: """
                Reads a schema (see docs/schemas.md) and prints, per function, the request and \
                response layouts: each field's offset, type and size, the padding C inserts \
                between fields and at the end, and sizeof. A bad schema is one line, \
                file:line:column, and exit 1.

                Examples:
                  ipcscope schema pump.yaml
                  ipcscope schema --service Pump        # $XDG_CONFIG_HOME/ipcscope/schemas/Pump.yaml
                  ipcscope schema pump.yaml --lua > pump.lua
                  wireshark -X lua_script:ipcscope.lua -X lua_script:pump.lua calls.pcapng
                """)

        @Argument(help: "The schema file.", completion: .file(extensions: ["yaml", "yml"]))
        var file: String?

        @Option(help: "Check the conventional schema of this service instead of a file.")
        var service: String?

        @Flag(help: "Print a Wireshark Lua dissector for the schema's fields instead (load it beside docs/wireshark/ipcscope.lua).")
        var lua = false

        func validate() throws {
            guard (file == nil) != (service == nil) else { throw ValidationError("give a schema FILE or --service NAME (one of them)") }
        }

        func run() throws {
            let path = file ?? Schema.conventionalPath(service: service ?? "") ?? ""
            let schema: Schema
            do {
                schema = try Schema.load(path: path)
            } catch {
                printError("\(error.description): fix the schema (see docs/schemas.md)")
                throw ExitCode(1)
            }
            if lua {
                let base = String(path.split(separator: "/").last ?? "schema").split(separator: ".").first.map(String.init) ?? "schema"
                printOut(SchemaLua.generate(schema, protoName: base))
                return
            }
            var out = "\(path): ok, \(schema.functions.count) function\(schema.functions.count == 1 ? "" : "s")\n"
            for f in schema.functions {
                out += "\n\(f.name) (\(f.number))\n"
                for (what, layout) in [("request", f.request), ("response", f.response)] {
                    guard let layout else { out += "  \(what): bytes (no layout)\n"; continue }
                    out += "  \(what): \(layout.size) bytes\(layout.flexible ? " + data" : ""), align \(layout.alignment)\n"
                    out += Self.lines(layout, base: 0, indent: "    ").joined()
                }
                if !f.statuses.isEmpty {
                    out += "  status: " + f.statuses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
                }
            }
            printOut(out)
        }

        /// One line per field (nested structs indented), and a line per hole C leaves.
        static func lines(_ l: Layout, base: Int, indent: String) -> [String] {
            var out: [String] = []
            var end = 0
            for f in l.fields {
                if f.offset > end { out.append(indent + rpad(base + end) + "  (\(f.offset - end) bytes padding)\n") }
                out.append(indent + rpad(base + f.offset) + "  " + f.name.padding(toLength: max(16, f.name.count), withPad: " ", startingAt: 0)
                           + " " + f.type.name.padding(toLength: max(14, f.type.name.count), withPad: " ", startingAt: 0) + " " + String(f.type.size) + "\n")
                if case .structure(let inner) = f.type { out += lines(inner, base: base + f.offset, indent: indent + "  ") }
                end = f.offset + f.type.size
            }
            if l.size > end { out.append(indent + rpad(base + end) + "  (\(l.size - end) bytes padding at the end)\n") }
            return out
        }

        static func rpad(_ n: Int) -> String {
            let s = String(n)
            return String(repeating: " ", count: max(0, 6 - s.count)) + s
        }
    }
}
