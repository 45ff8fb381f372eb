import ArgumentParser
import IPCScopeKit
import IPCScopeModel
#if canImport(Glibc)
import Glibc
#endif

extension IPCScope {
    struct Call: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make one call to a service and print the answer.",
            discussion: """
                Prints the status and the response in hexdump -C layout.
                Exit status: 0 when the call was answered (whatever its status), 1 when it failed.

                Example:
                  ipcscope call MyService --function 1 --text 'hello\\n'
                """)

        @Argument(help: "The service name.")
        var name: String

        @Option(name: [.short, .long], help: "The function index.")
        var function: UInt32 = 0

        @Option(help: "Payload as text; escapes \\n \\t \\0 \\\\ \\xHH.")
        var text: String?

        @Option(help: "Payload as hex (spaces allowed; pasted xxd or hexdump -C text works).")
        var hex: String?

        @Option(help: "Seconds to wait for the answer.")
        var timeout: Double = 5

        func validate() throws {
            guard text == nil || hex == nil else { throw ValidationError("give either --text or --hex, not both") }
            guard timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
        }

        func run() throws {
            let payload: [UInt8]
            do {
                payload = try hex.map(parseHex) ?? text.map(unescape) ?? []
            } catch {
                throw ValidationError("\(error)")
            }
            do {
                let client = try Client(service: name)
                let reply = try client.call(function: function, payload: payload, timeout: .milliseconds(Int64(timeout * 1000)))
                printLine("status \(reply.status), \(reply.data.count) bytes (seq \(reply.seq))")
                printOut(HexDump.format(reply.data))
            } catch {
                throw fail(error)
            }
        }
    }
}
