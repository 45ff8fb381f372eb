import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeTUI
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send recorded requests again and compare each answer with the recorded one.",
            discussion: """
                Reads a pcapng file written by 'ipcscope record' (or the JSON Lines of 'ipcscope \
                watch --json'), sends each recorded request to --to NAME in order, and compares \
                the status and the response bytes. Prints one line per difference (with the \
                first differing bytes in hex) and a summary. Calls whose request was not \
                recorded in full (partial) are skipped and counted. 'watch --json' keeps both \
                payloads of the calls it saw whole (request_hex, response_hex); of the others \
                (partial) only the first 16 request bytes: from those, only requests of up to 16 \
                bytes are sent, and answers are compared by status and size.
                Exit status: 0 every replayed answer matched, 1 a difference or a failed call \
                (or nothing could be replayed), 64 usage error.

                Examples:
                  ipcscope replay calls.pcapng --to MyService
                  ipcscope replay calls.pcapng --to MyService --function 3 --json
                """)

        @Argument(help: "The recording (pcapng from 'ipcscope record', or JSON Lines from 'ipcscope watch --json').", completion: .file())
        var file: String

        @Option(help: "The service to send the calls to.")
        var to: String

        @Option(name: [.short, .long], help: "Replay only calls of this function (repeat for several).")
        var function: [UInt32] = []

        @Option(help: "Seconds to wait for each answer (default 5; \(Seconds.rangeText)).", transform: Seconds.parse)
        var timeout = Seconds(5)!

        @Flag(help: "Print JSON Lines: one object per difference or skipped call, and a summary.")
        var json = false

        @OptionGroup var trust: TrustOptions

        func run() throws {
            let recording = try Self.load(file)
            let client: Client
            do {
                var options = trust.clientOptions
                options.timeout = timeout.duration
                client = try Client(service: to, options: options)
            } catch {
                throw fail(error)
            }
            var replayed = 0, matched = 0, differed = 0, skipped = 0
            for call in recording.calls where function.isEmpty || function.contains(call.function) {
                let label = "seq \(call.seq) (function \(call.function))"
                if let why = ReplayCheck.unsendable(call) {
                    skipped += 1
                    report(call, event: "skipped", detail: why, text: "\(label) skipped: \(why)")
                    continue
                }
                replayed += 1
                let reply: Reply
                do {
                    reply = try client.call(function: call.function, payload: call.request)
                } catch {
                    differed += 1
                    report(call, event: "difference", detail: "the call failed: \(error.message)", text: "\(label): the call failed: \(error.message)")
                    if error.code == .serverGone || error.code == .noSuchService || error.code == .disconnected { break }
                    continue
                }
                if let diff = ReplayCheck.difference(call, status: reply.status, response: reply.data) {
                    differed += 1
                    report(call, event: "difference", detail: diff, text: "\(label): \(diff)", status: reply.status)
                } else {
                    matched += 1
                }
            }
            let summary = "replayed \(replayed) call\(replayed == 1 ? "" : "s") to '\(to)': \(matched) matched, \(differed) differed, \(skipped) skipped (partial)"
            if json {
                printJSON(.object([("event", .string("summary")), ("replayed", .number(replayed)), ("matched", .number(matched)),
                                   ("differed", .number(differed)), ("skipped", .number(skipped))]))
            } else {
                printLine(summary)
            }
            if replayed == 0 {
                printError("nothing from \(file) could be replayed\(function.isEmpty ? "" : " for --function \(function.map(String.init).joined(separator: ","))"): check the file and the filter")
                throw ExitCode(1)
            }
            if differed > 0 { throw ExitCode(1) }
        }

        private func report(_ call: RecordedCall, event: String, detail: String, text: String, status: Int32? = nil) {
            if json {
                var pairs: [(String, JSON)] = [("event", .string(event)), ("seq", .uint(call.seq)),
                                               ("function", .number(call.function)), ("recorded_status", .number(call.status))]
                if let status { pairs.append(("status", .number(status))) }
                pairs.append(("detail", .string(detail)))
                printJSON(.object(pairs))
            } else {
                printLine(text)
            }
        }

        /// Reads a pcapng recording or `watch --json` JSON Lines, with a one-line error.
        static func load(_ file: String) throws -> Recording {
            guard let bytes = readFileContents(file) else {
                printError("cannot read '\(file)': \(String(cString: strerror(errno))); check the path")
                throw ExitCode(1)
            }
            do throws(RecordingError) {
                // JSON Lines start with '{' (after blank lines); pcapng with its block type 0x0A0D0D0A.
                if bytes.first(where: { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: " ") }) == UInt8(ascii: "{") {
                    return try Recording.fromJSONLines(String(decoding: bytes, as: UTF8.self))
                }
                return try PcapNG.read(bytes)
            } catch {
                printError("cannot read the recording '\(file)': \(error.message); give a pcapng file from 'ipcscope record' or JSON Lines from 'ipcscope watch --json'")
                throw ExitCode(1)
            }
        }
    }
}
