// The parent side: runs a target's cases in a child process, restarts it after a crash or a
// hang, keeps each crashing input in the corpus (one per distinct crash site) and reports it.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeProcess
import IPCScopePOSIX

/// One input that killed the child (or stopped it making progress).
struct Finding {
    var target: String
    var caseIndex: UInt64
    var kind: String          // "SIGILL", "SIGSEGV", …, or "hang"
    var message: String       // the last "Fatal error" / assertion line from stderr
    var site: String          // the first project frame (module offset), the key for de-duplication
    var file: String          // where the input was kept
    var size: Int
}

/// Figures of one target's run.
struct TargetRun {
    var target: String
    var cases: UInt64 = 0
    var crashes = 0
    var hangs = 0
    var seconds = 0.0
    var findings: [Finding] = []
}

struct Supervisor {
    var seed: UInt64
    var corpus: String
    var hangSeconds: Double
    var verbose: Bool

    private let work = "/tmp/ipcscope-fuzz-run-\(getpid())"

    /// Runs `cases` cases of `target` from case 0.
    func run(_ target: FuzzTarget, cases: UInt64) -> TargetRun {
        mkdir(work, 0o700)
        defer { rmdir(work) }
        let slotPath = work + "/case", errPath = work + "/stderr"
        defer { unlink(slotPath); unlink(errPath) }
        var result = TargetRun(target: target.name)
        guard let slot = CaseSlot(path: slotPath, create: true) else {
            printErrorLine("cannot create the case file in \(work)")
            return result
        }
        defer { munmap(slot.base, CaseSlot.size) }
        let started = monotonicNS()
        var next: UInt64 = 0
        var sites = Set<String>()
        while next < cases {
            for f in [CaseSlot.index, CaseSlot.length, CaseSlot.signal, CaseSlot.frameCount] { slot.set(f, 0) }
            slot.set(CaseSlot.done, next)
            let args = ["--child", target.name, "--seed", String(seed), "--from", String(next), "--to", String(cases),
                        "--slot", slotPath]
            let child: StartedProcess
            do { child = try startSelf(args, stderr: errPath) } catch { printErrorLine("\(error)"); break }
            let (ended, hung) = watch(child, slot: slot)
            let done = slot.get(CaseSlot.done)
            if !hung && ended == 0 { next = cases; break }
            let index = slot.get(CaseSlot.index)
            let kind = hung ? "hang" : ended > 0 ? signalName(ended) : "exit \(-ended)"
            let frames = slot.frames.prefix(6).map { "0x" + String($0, radix: 16) }
            let message = lastTrapLine(readTextFile(errPath) ?? "")
            let site = kind + " " + (frames.first ?? "") + " " + message.filter { !$0.isNumber }
            let input = slot.input
            if hung { result.hangs += 1 } else { result.crashes += 1 }
            if !sites.contains(site) {
                sites.insert(site)
                let file = keep(input, target: target.name)
                let f = Finding(target: target.name, caseIndex: index, kind: kind, message: message,
                                site: frames.joined(separator: " "), file: file, size: input.count)
                result.findings.append(f)
                printLine("FOUND \(target.name) case \(index): \(kind) \(message.isEmpty ? "" : "(\(message)) ")"
                         + "input \(input.count) bytes kept in \(file)")
            } else if verbose {
                printLine("again \(target.name) case \(index): \(kind) at \(site)")
            }
            removeLeftovers(of: child.pid)
            next = max(done, index) + 1
        }
        result.cases = next
        result.seconds = Double(monotonicNS() - started) / 1e9
        return result
    }

    /// Waits for the child; returns (signal > 0, -exit code, or 0) and whether it was killed as hung.
    private func watch(_ child: StartedProcess, slot: CaseSlot) -> (Int32, Bool) {
        var lastDone = slot.get(CaseSlot.done), lastChange = monotonicNS(), lastProgress = monotonicNS()
        while true {
            switch child.wait(timeout: 0.002) {
            case .signaled(let sig): return (sig, false)
            case .exited(let code): return (-code, false)
            case nil: break
            }
            let done = slot.get(CaseSlot.done)
            if done != lastDone { lastDone = done; lastChange = monotonicNS() }
            if monotonicNS() - lastProgress > 60_000_000_000 {
                lastProgress = monotonicNS()
                printLine("... case \(done)")
            }
            if Double(monotonicNS() - lastChange) / 1e9 > hangSeconds {
                child.kill(timeout: 10)
                return (SIGKILL, true)
            }
        }
    }

    /// Stores `input` as corpus/<target>/<hash> (content-addressed, so a rerun adds nothing).
    private func keep(_ input: [UInt8], target: String) -> String {
        let dir = corpus + "/" + target
        mkdir(corpus, 0o755)
        mkdir(dir, 0o755)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in input { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        let path = dir + "/" + String(repeating: "0", count: 16 - hex.count) + hex
        _ = writeFile(path, input)
        return path
    }

    /// Removes what a killed child leaves: its sections and its scratch directory.
    private func removeLeftovers(of pid: pid_t) {
        let prefix = "ipcscope.fuzz-\(pid)-"
        if let dir = opendir("/dev/shm") {
            var names: [String] = []
            while let ent = readdir(dir) {
                let n = withUnsafeBytes(of: ent.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if n.hasPrefix(prefix) { names.append(n) }
            }
            closedir(dir)
            for n in names { unlink("/dev/shm/" + n) }
        }
        let scratch = "/tmp/ipcscope-fuzz-\(pid)"
        for f in ["reply.bin", "fifo", "cli.err"] { unlink(scratch + "/" + f) }
        rmdir(scratch)
    }
}

/// The last line of `stderr` that says why the process trapped.
func lastTrapLine(_ stderr: String) -> String {
    let lines = stderr.split(separator: "\n").map(String.init)
    let keys = ["Fatal error", "Assertion", "died by signal", "Illegal instruction", "Precondition", "overflow"]
    return lines.last { l in keys.contains { l.contains($0) } } ?? ""
}

func signalName(_ s: Int32) -> String {
    switch s {
    case SIGILL: "SIGILL"
    case SIGTRAP: "SIGTRAP"
    case SIGSEGV: "SIGSEGV"
    case SIGBUS: "SIGBUS"
    case SIGABRT: "SIGABRT"
    case SIGFPE: "SIGFPE"
    case SIGKILL: "SIGKILL"
    default: "signal \(s)"
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNS() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// Starts this executable again with `args`; stdin and stdout on /dev/null, stderr to a file
/// (created 0600), Swift's backtracer off so a trap's own line ends that file.
func startSelf(_ args: [String], stderr: String) throws(LaunchError) -> StartedProcess {
    try StartedProcess.start(Launch(ownExecutableDirectory + "/ipcscope-fuzz", args, environment: ["SWIFT_BACKTRACE": "enable=no"],
                                    standardError: .file(stderr, append: false), fileMode: 0o600))
}

/// `s` seconds with one decimal.
func secondsText(_ s: Double) -> String {
    let tenths = Int((s * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) s"
}
