import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeSchema
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct Call: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Call a service and print the answer.",
            discussion: """
                The payload comes from --text, --hex, --file, or stdin (when none is given and \
                stdin is not a terminal). Prints a status line and the response in hexdump -C \
                layout; --raw writes the bytes only, --as-text the bytes as text, --json one JSON \
                object per call (JSON Lines with --repeat).

                Exit status:
                  0   every call was answered (whatever its status, unless --status-exit-code)
                  1   a call failed (no such service, timeout, server gone, payload too large, ...);
                      one line on stderr says what to do
                  N   with --status-exit-code N: a call was answered with a non-zero status
                  64  usage error (bad option, bad --hex, unreadable --file)

                Examples:
                  ipcscope call MyService --function 1 --text 'hello\\n'
                  ipcscope call MyService -f 2 --hex '70 69 6e 67'
                  xxd -r -p dump.hex | ipcscope call MyService -f 3 --raw > answer.bin
                  ipcscope call MyService --text ping --repeat 100 --json | jq .status
                  ipcscope call Pump set_value --field id=3 --field value=2.5 --field name=pump
                """)

        @Argument(help: "The service name.")
        var name: String

        @Argument(help: "The function, by its schema name or number (instead of --function).")
        var functionName: String?

        // `.unconditional`: `--function -1` is a wrong value to explain, not a missing one.
        @Option(name: [.short, .long], parsing: .unconditional, help: "The function index (0 to 4294967295).",
                transform: { text in
                    guard let f = UInt32(text.trimmingSpaces) else {
                        throw ValidationError("--function '\(text)' is not a function index: give a whole number from 0 to 4294967295")
                    }
                    return f
                })
        var function: UInt32 = 0

        @Option(help: "Payload as text; escapes \\n \\t \\r \\0 \\\\ \\xHH.")
        var text: String?

        @Option(help: "Payload as hex (spaces allowed; pasted xxd or hexdump -C text works).")
        var hex: String?

        @Option(help: "Payload from a file ('-' for stdin).", completion: .file())
        var file: String?

        @Option(name: .customLong("field"), help: "Build the payload from a schema field, NAME=VALUE (repeat for each field; see docs/schemas.md).")
        var fields: [String] = []

        @OptionGroup var schemaOptions: SchemaOptions

        @Option(help: "Make the call this many times.")
        var `repeat` = 1

        @Option(help: "Seconds to wait for each answer (default 5; \(Seconds.rangeText)).", transform: Seconds.parse)
        var timeout = Seconds(5)!

        @Flag(help: "Write the response bytes only, nothing else.")
        var raw = false

        @Flag(help: "Print the response as text (invalid UTF-8 shown as U+FFFD).")
        var asText = false

        @Flag(help: "Print one JSON object per call.")
        var json = false

        @Flag(name: .shortAndLong, help: "hexdump -C -v: show repeated lines instead of '*'.")
        var verbose = false

        @Flag(name: .shortAndLong, help: "No status line (text and hexdump output).")
        var quiet = false

        @Option(help: "Exit with this code when a call answers a non-zero status.")
        var statusExitCode: Int32?

        @OptionGroup var trust: TrustOptions

        @OptionGroup(title: "Remote hosts and containers (the agent must run as 'mbvipc-agent --allow-calls')") var remote: RemoteOptions

        func validate() throws {
            let sources = [text, hex, file].compactMap { $0 }
            guard sources.count <= 1 else { throw ValidationError("give one payload source: --text, --hex or --file") }
            guard fields.isEmpty || sources.isEmpty else { throw ValidationError("give either --field or one of --text, --hex, --file") }
            guard [raw, asText, json].filter({ $0 }).count <= 1 else { throw ValidationError("give one output form: --raw, --as-text or --json") }
            guard self.repeat >= 1 else { throw ValidationError("--repeat must be 1 or more") }
            if let c = statusExitCode { guard (1...255).contains(c) else { throw ValidationError("--status-exit-code must be 1 to 255") } }
        }

        func payload() throws -> [UInt8] {
            do {
                if let hex { return try parseHex(hex) }
                if let text { return try unescape(text) }
            } catch {
                throw usageFailure("\(error)")
            }
            if let file {
                guard let b = readFileBytes(file) else {
                    throw usageFailure("cannot read --file '\(file)': \(String(cString: strerror(errno))); check the path")
                }
                return b
            }
            if isatty(0) == 0 { return readAll(fd: 0) ?? [] }
            return []
        }

        func run() throws {
            let schema = try schemaOptions.load(service: name)
            let function = try resolveFunction(functionName, fallback: self.function, schema: schema, service: name)
            let payload = fields.isEmpty ? try payload() : try buildPayload(fields, function: function, schema: schema, service: name)
            if remote.isRemote { return try runRemote(function: function, payload: payload, schema: schema) }
            let client: Client
            do {
                client = try Client(service: name, options: trust.clientOptions)
            } catch {
                throw failCall(error)
            }
            var nonZero = false
            for _ in 0..<self.repeat {
                let t0 = monotonicNanoseconds()
                let reply: Reply
                do {
                    reply = try client.call(function: function, payload: payload, timeout: timeout.duration)
                } catch {
                    throw failCall(error)
                }
                let latency = monotonicNanoseconds() - t0
                if reply.status != 0 { nonZero = true }
                let decoded = reply.data.isEmpty && reply.status != 0 ? nil : schema?.decodeResponse(function, reply.data)
                show(reply, latency: latency, function: function, decoded: decoded,
                     meaning: schema?.meaning(status: reply.status, function: function))
            }
            if nonZero, let code = statusExitCode { throw ExitCode(code) }
        }

        /// `call --host/--via/--container`: each call made by the agent on the section's host, as
        /// an ordinary libmbvipc client (only an agent started with --allow-calls makes it).
        private func runRemote(function: UInt32, payload: [UInt8], schema: Schema?) throws {
            do { _ = try ServiceName(name) } catch { throw fail(error) }
            let connection = try remote.connect()
            defer { connection.close() }
            let place = connection.transport.place
            guard connection.hello.callsAllowed else {
                printError("the agent \(place) only reads: it was not started as 'mbvipc-agent --allow-calls'; start it so (with --host or --container: --agent-command 'mbvipc-agent --allow-calls'; with --via: in the command)")
                throw ExitCode(1)
            }
            var nonZero = false
            for _ in 0..<self.repeat {
                let t0 = monotonicNanoseconds()
                let answer: AgentCallReply
                do {
                    answer = try connection.call(service: name, function: function, request: payload,
                                                 timeoutMS: UInt32(clamping: max(1, timeout.nanoseconds / 1_000_000)))
                } catch {
                    throw remoteFailure(error, place: place)
                }
                let latency = monotonicNanoseconds() - t0
                let reply = Reply(status: answer.status, data: answer.response, seq: 0)
                if reply.status != 0 { nonZero = true }
                let decoded = reply.data.isEmpty && reply.status != 0 ? nil : schema?.decodeResponse(function, reply.data)
                show(reply, latency: latency, function: function, decoded: decoded,
                     meaning: schema?.meaning(status: reply.status, function: function))
            }
            if nonZero, let code = statusExitCode { throw ExitCode(code) }
        }

        private func show(_ reply: Reply, latency: UInt64, function: UInt32, decoded: DecodedPayload?, meaning: String?) {
            if json {
                var pairs: [(String, JSON)] = [
                    ("service", .string(name)), ("function", .number(function)), ("seq", .uint(reply.seq)),
                    ("status", .number(reply.status)), ("size", .number(reply.data.count)),
                    ("data_hex", .hex(reply.data)), ("text", .string(String(decoding: reply.data, as: UTF8.self))),
                    ("latency_ns", .uint(latency)),
                ]
                if let meaning { pairs.append(("status_meaning", .string(meaning))) }
                printJSON(.object(pairs + (decoded?.jsonPairs ?? [])))
            } else if raw {
                reply.data.withUnsafeBytes { b in
                    var done = 0
                    while done < b.count {
                        let n = write(1, b.baseAddress! + done, b.count - done)
                        if n <= 0 { break }
                        done += n
                    }
                }
            } else {
                if !quiet {
                    let st = reply.status == 0 ? stdoutStyle.green("status 0") : stdoutStyle.red("status \(reply.status)")
                    printLine("\(st)\(meaning.map { " (\($0))" } ?? ""), \(reply.data.count) bytes (seq \(reply.seq), \(Units.duration(ns: latency)))")
                }
                if let decoded, !asText {
                    printOut(decoded.textLines(style: stdoutStyle).map { $0 + "\n" }.joined())
                }
                if asText {
                    let t = String(decoding: reply.data, as: UTF8.self)
                    printOut(t.hasSuffix("\n") || t.isEmpty ? t : t + "\n")
                } else {
                    printOut(HexDump.format(reply.data, verbose: verbose))
                }
            }
        }

        /// One line on stderr (and, with --json, an error object on stdout); exit 1.
        private func failCall(_ error: IPCError) -> ExitCode {
            if json {
                printJSON(.object([("service", .string(name)), ("error", .string(error.message)), ("code", .string(error.code.rawValue))]))
            }
            return fail(error)
        }
    }
}
