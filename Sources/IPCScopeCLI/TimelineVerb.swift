import ArgumentParser
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeSchema
#if canImport(Glibc)
import Glibc
#endif
import IPCScopePOSIX

extension IPCScope {
    struct TimelineVerb: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "timeline",
            abstract: "Turn a recording into a timeline trace (Perfetto, or Chrome's trace-event JSON).",
            discussion: """
                Reads a pcapng file from 'ipcscope record' and writes the calls as a trace: a track \
                per client process (and per thread where the recording has the client's tid), one \
                for the server; each call is a slice on both, linked by a flow arrow. The client's \
                slice runs from send to answer; the server's from when it could start the call \
                (the later of its send and the previous call's answer: the server answers one \
                call at a time) to the answer. Slices are named by function (schema names with \
                --schema) and status, marked [rejected] or [partial] where the recording says so, \
                and carry seq, sizes, pids, epoch, latency, queued and service time as arguments. \
                A takeover (a new server epoch) is an instant event on the server track. Times are \
                the recording host's CLOCK_MONOTONIC.

                --format perfetto (the default) writes Perfetto's protobuf trace: open it in the \
                Perfetto UI ("Open trace file") or query it with trace_processor. --format json \
                writes Chrome's trace-event JSON (chrome://tracing, the Perfetto UI, speedscope).

                Examples:
                  ipcscope timeline calls.pcapng -o calls.perfetto-trace
                  ipcscope timeline calls.pcapng --format json -o calls.json --schema pump.yaml
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case perfetto, json
        }

        @Argument(help: "The recording (pcapng from 'ipcscope record').", completion: .file(extensions: ["pcapng"]))
        var file: String

        @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The trace file to write ('-': standard output).", valueName: "file"),
                completion: .file())
        var output: String

        @Option(help: "perfetto (protobuf) or json (Chrome trace-event format).")
        var format: Format = .perfetto

        @OptionGroup var schemaOptions: SchemaOptions

        func run() throws {
            let recording = try Replay.load(file)
            let schema = try schemaOptions.load(service: recording.service)
            guard !recording.calls.isEmpty else {
                printError("\(file) holds no calls: nothing to put on a timeline")
                throw ExitCode(1)
            }
            let timeline = Timeline(recording, functionName: { schema?.function($0)?.name })
            let bytes = format == .perfetto ? timeline.perfettoTrace : Array((timeline.chromeJSON + "\n").utf8)
            if output == "-" {
                if format == .perfetto && isatty(1) != 0 {
                    throw usageFailure("a Perfetto trace is binary: give -o FILE, or --format json to print JSON")
                }
                if writeAll(bytes, to: 1) != nil { throw ExitCode(1) }
            } else {
                let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
                guard fd >= 0 else {
                    throw usageFailure("cannot create -o '\(output)': \(String(cString: strerror(errno))); check the directory")
                }
                defer { close(fd) }
                if let e = writeAll(bytes, to: fd) {
                    printError("cannot write '\(output)': \(e); check the disk")
                    throw ExitCode(1)
                }
            }
            let clients = Set(recording.calls.map(\.clientPID)).count
            let threads = timeline.tracks.filter { if case .thread = $0.kind { true } else { false } }.count
            let partial = recording.calls.filter(\.partial).count, rejected = recording.calls.filter { $0.flags.contains(.rejected) }.count
            var what = "\(recording.calls.count) call\(recording.calls.count == 1 ? "" : "s") of \(clients) client process\(clients == 1 ? "" : "es") (\(threads) thread\(threads == 1 ? "" : "s"))"
            if partial > 0 { what += ", \(partial) partial" }
            if rejected > 0 { what += ", \(rejected) rejected" }
            if !timeline.instants.isEmpty { what += ", \(timeline.instants.count) takeover\(timeline.instants.count == 1 ? "" : "s")" }
            printError("wrote \(what) to \(output == "-" ? "standard output" : output) as " + (format == .perfetto ? "a Perfetto trace" : "trace-event JSON"))
        }
    }
}
