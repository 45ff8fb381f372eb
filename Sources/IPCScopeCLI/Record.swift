import ArgumentParser
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording
import IPCScopeInspector
#if canImport(Glibc)
import Glibc
import IPCScopePOSIX
#endif

extension IPCScope {
    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record every call of a service to a pcapng file (for Wireshark, replay and attach --file).",
            discussion: """
                Read-only (O_RDONLY, pread; never the mutex, never a futex wait). Follows the trace \
                ring and copies both slots between calls: each call is written as two packets \
                (request, response) with seq, function, status, sizes, client pid and tid, sent \
                and done times and the payloads. A call whose slots were overwritten before they \
                could be copied keeps the ring's first 16 request bytes and is marked partial; \
                calls the ring lapped are counted as missed. Survives the server dying and a \
                takeover: each server epoch is its own interface in the file. \
                Open the file in Wireshark with docs/wireshark/ipcscope.lua (see docs/recording.md).

                Examples:
                  ipcscope record MyService -w calls.pcapng
                  ipcscope record MyService -w calls.pcapng --count 100 --duration 60
                  ipcscope record MyService -w calls.pcapng --host box   # through mbvipc-agent on box (ssh)
                """)

        @Argument(help: "The service name.")
        var name: String

        @Option(name: [.customShort("w"), .customLong("write")], help: ArgumentHelp("The pcapng file to write.", valueName: "file"), completion: .file(extensions: ["pcapng"]))
        var file: String

        @Option(help: "Stop after this many calls.")
        var count: Int?

        @Option(help: "Stop after this many seconds (\(Seconds.rangeText)).", transform: Seconds.parse)
        var duration: Seconds?

        @Option(help: "Milliseconds between two polls while the service is idle (while calls flow it polls without pause).")
        var interval: Double = 1

        @Flag(help: "Also record the calls already in the trace ring (their payloads are partial).")
        var fromStart = false

        @Flag(help: "Print the summary as one JSON object.")
        var json = false

        @OptionGroup(title: "Remote hosts and containers") var remote: RemoteOptions

        func validate() throws {
            if let count { guard count > 0 else { throw ValidationError("--count must be 1 or more") } }
            guard interval > 0, interval <= 10_000 else { throw ValidationError("--interval must be more than 0 and at most 10000 ms") }
        }

        func run() throws {
            let source = try RecorderSource.start(name, remote: remote, fromStart: fromStart)
            defer { source.close() }
            let recorder = source.recorder
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw usageFailure("cannot create -w '\(file)': \(String(cString: strerror(errno))); check the directory")
            }
            defer { close(fd) }
            var out = try PcapNGWriter(application: "ipcscope record", clock: recorder.clock, emit: fileSink(fd))

            let stop = StopFlag()
            let sources = installStopSignals { stop.set() }
            defer { sources.forEach { $0.cancel() } }
            printError("recording '\(name)' to \(file); Ctrl-C stops")
            let deadline = duration.map { monotonicNanoseconds() &+ $0.nanoseconds }
            let intervalNS = UInt64(interval * 1e6)
            var ending = "stopped"
            var waiting = false
            var lastActivity: UInt64 = 0
            // How often the ring is read while calls flow: 2 µs per record it holds, 20 µs to 1 ms.
            let ringPeriod = UInt64(min(max((recorder.layout?.traceCapacity ?? 0) * 2_000, 20_000), 1_000_000))
            loop: while !stop.isSet {
                if let deadline, monotonicNanoseconds() >= deadline { ending = "duration reached"; break }
                if waiting {
                    if (try? recorder.start(fromStart: true)) != nil {
                        printError("'\(name)' is back: recording its new server")
                        waiting = false
                    } else {
                        sleepNS(50_000_000)
                        continue
                    }
                }
                let p: CallRecorder.Poll
                p = try source.poll()
                if p.replaced { printError("'\(name)' was recreated by a new server: recording the new section") }
                if let i = p.interface { try out.use(i) }
                out.addMissed(p.missed)
                for call in p.calls {
                    try out.write(call)
                    if let count, out.written >= count { ending = "count reached"; break loop }
                }
                if p.gone {
                    printError("the section '\(name)' was removed (its server stopped): waiting for a new one; Ctrl-C stops")
                    waiting = true
                    continue
                }
                // While calls flow (and for 5 ms after), copy the slots without pause and read the
                // ring only now and then (it holds ringPeriod's worth of calls): a poll that
                // sleeps, or spends its time on the ring, loses payloads.
                var now = monotonicNanoseconds()
                if !p.calls.isEmpty || p.started { lastActivity = now }
                let ringDue = now &+ ringPeriod
                while now &- lastActivity < 5_000_000 && now < ringDue && !stop.isSet {
                    if recorder.capture() { lastActivity = now }
                    sched_yield()
                    now = monotonicNanoseconds()
                }
                if now &- lastActivity >= 5_000_000 { sleepNS(intervalNS) }
            }
            // What the server finished before the stop: one last look, then whatever is left.
            if ending != "count reached", !waiting, let p = try? recorder.poll() {
                out.addMissed(p.missed)
                for call in p.calls + recorder.drain() where count.map({ out.written < $0 }) ?? true { try out.write(call) }
            }
            try out.finish()
            let complete = out.written - out.partial
            if json {
                printJSON(.object([("event", .string("summary")), ("file", .string(file)), ("calls", .number(out.written)),
                                   ("complete", .number(complete)), ("partial", .number(out.partial)),
                                   ("missed", .uint(out.missed)), ("epochs", .number(out.interfaces.count)),
                                   ("end", .string(ending))]))
            } else {
                printLine("recorded \(out.written) call\(out.written == 1 ? "" : "s") to \(file): \(complete) complete, \(out.partial) partial; missed \(out.missed) (\(ending))")
            }
        }
    }
}

/// Writes a recording's blocks to the file, or says why it cannot.
private func fileSink(_ fd: Int32) -> ([UInt8]) throws -> Void {
    { bytes in
        if let failed = writeAll(bytes, to: fd) {
            printError("cannot write the recording: \(errorText(failed.rawValue)); check the disk")
            throw ExitCode(1)
        }
    }
}
