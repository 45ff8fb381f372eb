import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
import IPCScopeScript
import IPCScopeTUI
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

extension IPCScope {
    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch a service live in a terminal UI (read-only), and make calls from it.",
            discussion: """
                Attaches read-only to /dev/shm/ipcscope.NAME: never writes it, never takes its \
                mutex, never waits on its futex words. Waits for the server when it does not exist \
                yet, and follows it when it dies or restarts. The client pane makes real calls.
                Keys: i client pane, Tab pane, ? help, q quit, space pause, arrows/jk/PgUp/PgDn scroll, \
                h hex/text, / filter; in History: arrows select a call, Enter shows it whole, l live, \
                x/X export JSON Lines, W writes the history as pcapng. With --schema the dumps show the fields beside the hex (f: full \
                hex): up/down move a cursor field by field and light its bytes, left/right byte by byte; \
                in the client pane Tab completes function, field and enum names. Esc in the client pane \
                gives up a call the in-process server holds (--serve, step mode). With --file the header \
                names the recording and the call shown. Needs a terminal: for scripts and pipes use \
                'ipcscope status' or 'ipcscope watch'. NO_COLOR turns colour off.

                Examples:
                  ipcscope attach MyService
                  ipcscope attach MyService --interval 10
                  ipcscope attach MyService --serve replies.yaml   # serve in-process, with step mode
                  ipcscope attach --file calls.pcapng              # step through a recording
                  ipcscope attach MyService --host box             # through mbvipc-agent on box (ssh)
                  ipcscope attach MyService --host box --agent-command 'mbvipc-agent --allow-calls'
                """)

        @Argument(help: "The service name.")
        var name: String?

        @Option(help: "Open a recording from 'ipcscope record' instead of a live section (n next, p previous, g jump to seq).",
                completion: .file(extensions: ["pcapng"]))
        var file: String?

        @Option(help: "Refresh interval in milliseconds (1 to 10000; default 50, through an agent 250).")
        var interval: Double?

        @Option(help: "Also serve NAME in-process from this YAML script (s: step mode, b: breakpoints).",
                completion: .file(extensions: ["yaml", "yml"]))
        var serve: String?

        @Flag(help: "Also serve NAME in-process, echoing every call (s: step mode, b: breakpoints).")
        var serveEcho = false

        @Option(help: "Calls the history keeps, with their whole payloads when seen whole (1 to 100000; each kept call holds at most its request and response, so 1000 calls of 4 KiB slots use at most 8 MiB).")
        var history: Int = History.defaultLimit

        @Option(parsing: .unconditional, help: "Seconds the client pane's calls wait for an answer (default 5; 0 or off: until answered; \(Seconds.rangeText)). In the pane: 'timeout 30s'.",
                transform: { $0 == "0" || $0 == "off" ? nil : try Seconds.parse($0) })
        var callTimeout: Seconds? = Seconds(5)!

        @Flag(help: "ASCII box drawing instead of UTF-8.")
        var ascii = false

        @OptionGroup var schemaOptions: SchemaOptions

        /// For the client pane's calls.
        @OptionGroup var trust: TrustOptions

        @Flag(help: "Show the bytes per second on the wire and the snapshot round trip in the header (always shown through an agent).")
        var stats = false

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func validate() throws {
            guard (name == nil) != (file == nil) else { throw ValidationError("give a service NAME or --file FILE.pcapng (one of them)") }
            if let interval, !(interval >= 1 && interval <= 10_000) {
                throw ValidationError("--interval \(interval) is out of range: give 1 to 10000 milliseconds")
            }
            guard history >= 1 && history <= 100_000 else {
                throw ValidationError("--history \(history) is out of range: give 1 to 100000 calls")
            }
            guard serve == nil || !serveEcho else { throw ValidationError("give either --serve FILE or --serve-echo, not both") }
            if remote.isRemote && (serve != nil || serveEcho) {
                throw ValidationError("--serve and --serve-echo run a server on this machine: they do not go with --host, --via or --container")
            }
            if remote.isRemote && file != nil { throw ValidationError("--file opens a recording on this machine: it does not go with --host, --via or --container") }
        }

        func run() throws {
            if let file { return try openRecordingWithSchema(file) }
            guard let name else { return }
            guard isatty(1) != 0 && isatty(0) != 0 else {
                printError("attach needs a terminal (stdin and stdout are not both one): use 'ipcscope status \(name)' for one look or 'ipcscope watch \(name)' for a stream")
                throw ExitCode(1)
            }
            var options = AttachOptions(service: name)
            options.schema = try schemaOptions.load(service: name)
            // Through an agent every refresh crosses the wire: 4 snapshots a second keep an idle
            // section under 1 KB/s (docs/performance.md, "Through an agent").
            options.intervalNS = UInt64((interval ?? (remote.isRemote ? 250 : 50)) * 1_000_000)
            options.ascii = ascii
            options.historyLimit = history
            options.callTimeoutNS = callTimeout?.nanoseconds ?? 0
            options.clientOptions = trust.clientOptions
            options.stats = stats
            if remote.isRemote {
                options.remote = try remote.transport()
                options.agentTimeout = remote.agentTimeout
            }
            if let s = serve { options.serve = .script(s) } else if serveEcho { options.serve = .echo }
            do {
                try IPCScopeTUI.attach(options)
            } catch let error as IPCError {
                throw fail(error)
            } catch let error as ScriptError {
                throw scriptFailure(error)
            } catch let error as AttachError {
                printError(error.message)
                throw ExitCode(1)
            } catch {
                printError("\(error)")
                throw ExitCode(1)
            }
        }
    }
}

extension IPCScope.Attach {
    /// `attach --file`: the inspector on a recording, its payloads decoded with `--schema` (or the
    /// conventional schema of the service the recording names).
    func openRecordingWithSchema(_ file: String) throws {
        let recording = try IPCScope.Replay.load(file)
        let playback: RecordingPlayback
        do throws(RecordingError) { playback = try RecordingPlayback(recording) } catch {
            printError("cannot show '\(file)': \(error.message); record some calls first with 'ipcscope record'")
            throw ExitCode(1)
        }
        let schema = try schemaOptions.load(service: recording.service)
        guard isatty(1) != 0 && isatty(0) != 0 else {
            printError("attach --file needs a terminal (stdin and stdout are not both one): use 'ipcscope replay' or Wireshark for \(file)")
            throw ExitCode(1)
        }
        do {
            try IPCScopeTUI.view(playback, file: file, ascii: ascii, schema: schema)
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
