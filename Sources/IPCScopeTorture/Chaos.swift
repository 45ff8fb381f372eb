// The driver: one echo server (`ipcscope serve --echo`), N client processes, and a chaos loop
// that SIGKILLs, SIGSTOPs and restarts them at random while every answer is checked.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeRandom
import IPCScopePOSIX

/// How to torture.
struct TortureOptions {
    var seconds = 10.0
    var clients = 4
    var seed: UInt64 = 1
    /// Each client call's deadline.
    var timeoutMS = 500
    /// How much later than its deadline a call may return before it counts as late (scheduling
    /// on a loaded machine).
    var graceMS = 1000
    var verbose = false
}

/// What a run saw. A run passes when `wrong`, `late`, `crashes`, `leftovers` are 0 and it recovered.
struct TortureFigures {
    var seconds = 0.0
    var ok: UInt64 = 0, wrong: UInt64 = 0, late: UInt64 = 0
    var timeouts: UInt64 = 0, gone: UInt64 = 0, otherErrors: UInt64 = 0, stoppedMidCall: UInt64 = 0
    var shutdownAnswers: UInt64 = 0
    var cliOK = 0, cliWrong = 0, cliFailed = 0
    var events: [String: Int] = [:]
    /// Processes that died by a signal nobody sent, or readers that did.
    var crashes: [String] = []
    var leftovers: [String] = []
    var recovered = false

    var passed: Bool { wrong == 0 && late == 0 && cliWrong == 0 && crashes.isEmpty && leftovers.isEmpty && recovered }

    func lines() -> [String] {
        var out = [
            "seconds \(Int(seconds))",
            "calls_ok \(ok)", "wrong_answers \(wrong)", "late_answers \(late)",
            "timeouts \(timeouts)", "server_gone \(gone)", "answered_-4_at_shutdown \(shutdownAnswers)",
            "other_errors \(otherErrors)",
            "not_timed_client_stopped \(stoppedMidCall)",
            "cli_calls_ok \(cliOK)", "cli_wrong \(cliWrong)", "cli_failed \(cliFailed)",
        ]
        out += events.keys.sorted().map { "event_\($0) \(events[$0]!)" }
        out.append("crashes \(crashes.count)" + (crashes.isEmpty ? "" : ": " + crashes.joined(separator: "; ")))
        out.append("leftovers \(leftovers.count)" + (leftovers.isEmpty ? "" : ": " + leftovers.joined(separator: " ")))
        out.append("recovered \(recovered ? "yes" : "no")")
        out.append("result \(passed ? "PASS" : "FAIL")")
        return out
    }
}

final class Torture {
    let o: TortureOptions
    let service: String
    let work: String
    private var rng: SplitMix64
    private var server: Proc?
    private var serverStoppedUntil: UInt64 = 0
    private var serverRestartAt: UInt64?
    private var killedByUs = Set<pid_t>()
    private var clients: [Proc?]
    private var counters: [Counters] = []
    private var clientContAt: [UInt64?]
    private var clientRestartAt: [UInt64?]
    private var helpers: [(proc: Proc, kind: String, expect: [UInt8], started: UInt64, killAt: UInt64?, generation: Int)] = []
    /// Bumped whenever the driver stops, kills or restarts the server: a second server started
    /// before that may rightly have taken over, so it is not judged.
    private var serverGeneration = 0
    private var f = TortureFigures()
    private let ipcscope = productsDirectory + "/ipcscope"
    private let holder = productsDirectory + "/IPCScopeTestHelper"
    private var serial = 0
    private var lastServerStart: UInt64 = 0

    init(_ options: TortureOptions) {
        o = options
        rng = SplitMix64(seed: options.seed)
        service = "torture-\(getpid())-\(options.seed)"
        work = "/tmp/ipcscope-torture-\(getpid())"
        clients = Array(repeating: nil, count: options.clients)
        clientContAt = Array(repeating: nil, count: options.clients)
        clientRestartAt = Array(repeating: nil, count: options.clients)
    }

    private var errPath: String { work + "/stderr" }
    private func event(_ e: String) { f.events[e, default: 0] += 1 }

    // MARK: - the roles

    private func startServer() {
        serverGeneration += 1
        server = spawn(ipcscope, ["serve", service, "--echo"], role: "server", errPath: errPath)
        lastServerStart = monotonicNS()
        event("server_start")
    }

    private func startClient(_ i: Int) {
        clients[i] = spawn(productsDirectory + "/ipcscope-torture",
                           ["client", service, String(i), String(o.timeoutMS), String(o.graceMS), work + "/client\(i)"],
                           role: "client \(i)", errPath: errPath)
    }

    /// Notes how a process we did not mean to kill ended.
    private func judge(_ p: Proc, killedByUs: Bool = false) {
        if let s = p.signal, !killedByUs, !self.killedByUs.contains(p.pid), s != SIGTERM { f.crashes.append("\(p.role) pid \(p.pid) died by signal \(s)") }
    }

    // MARK: - the run

    func run() -> TortureFigures {
        mkdir(work, 0o700)
        let begin = monotonicNS()
        for i in 0..<o.clients {
            guard let c = Counters(path: work + "/client\(i)") else { f.crashes.append("cannot map counters"); return f }
            counters.append(c)
        }
        startServer()
        _ = waitFor(seconds: 10) { (try? Client(service: self.service)) != nil }
        for i in 0..<o.clients { startClient(i) }
        let end = begin + UInt64(o.seconds * 1e9)
        while monotonicNS() < end {
            housekeeping()
            chaos()
            sleepMS(20 + rng.below(80))
        }
        f.recovered = settle()
        shutdown()
        f.seconds = Double(monotonicNS() - begin) / 1e9
        for c in counters {
            f.ok += c[.ok]; f.wrong += c[.wrong]; f.late += c[.late]; f.timeouts += c[.timeouts]
            f.gone += c[.gone]; f.otherErrors += c[.otherErrors]; f.stoppedMidCall += c[.stoppedMidCall]
            f.shutdownAnswers += c[.shutdownAnswers]
            c.unmap()
        }
        if let err = readTextFile(errPath), o.verbose { printErrorLine(err) }
        for i in 0..<o.clients { unlink(work + "/client\(i)") }
        for p in ["stderr"] + (0..<serial).map({ "cli\($0)" }) { unlink(work + "/" + p) }
        rmdir(work)
        if access(work, F_OK) == 0 { f.leftovers.append(work) }
        return f
    }

    /// Resumes what is due, restarts what was killed, checks finished helpers.
    private func housekeeping() {
        let now = monotonicNS()
        if let s = server, s.stopped, now >= serverStoppedUntil { s.send(SIGCONT); s.stopped = false }
        if let s = server, s.reap() {
            judge(s, killedByUs: killedByUs.contains(s.pid))
            server = nil
            if serverRestartAt == nil { serverRestartAt = now }
        }
        if server == nil, let at = serverRestartAt, now >= at { startServer(); serverRestartAt = nil }
        for i in 0..<o.clients {
            if let at = clientContAt[i], now >= at, let c = clients[i] {
                counters[i].add(.stopEpoch)          // a call that spans the stop is not timed
                c.send(SIGCONT)
                c.stopped = false
                clientContAt[i] = nil
            }
            if let c = clients[i], c.reap() {
                if clientRestartAt[i] == nil { judge(c, killedByUs: false); clientRestartAt[i] = now }
                clients[i] = nil
            }
            if clients[i] == nil, let at = clientRestartAt[i], now >= at { startClient(i); clientRestartAt[i] = nil }
        }
        helpers.removeAll { h in
            if let k = h.killAt, now >= k, !h.proc.reap() {
                killedByUs.insert(h.proc.pid)
                h.proc.killNow()
                if h.kind == "holder" {
                    event("holder_sigkill_mid_hold")
                } else if h.generation != serverGeneration {
                    event("second_server_took_over_after_chaos")
                } else {
                    f.crashes.append("a second server on a live name was still running after 5 s")
                }
                return true
            }
            guard h.proc.reap() else { return false }
            finish(h.proc, kind: h.kind, expect: h.expect, raced: h.generation != serverGeneration)
            return true
        }
    }

    private func finish(_ p: Proc, kind: String, expect: [UInt8], raced: Bool = false) {
        switch kind {
        case "cli":
            if p.exitCode == 0 {
                let got = p.outPath.flatMap { readFileContents($0) } ?? []
                if got == expect { f.cliOK += 1 } else {
                    f.cliWrong += 1
                    printErrorLine("WRONG: ipcscope call printed \(got.count) bytes, sent \(expect.count)")
                }
            } else if p.signal != nil { judge(p, killedByUs: false) } else { f.cliFailed += 1 }
            if let out = p.outPath { unlink(out) }
        case "second-server":
            if p.signal != nil || (p.exitCode == 0 && !raced) { f.crashes.append("a second server on a live name ended with \(p.exitCode.map { "exit \($0)" } ?? "signal \(p.signal ?? 0)")") }
        default:
            judge(p, killedByUs: false)
        }
    }

    /// One random act of violence.
    private func chaos() {
        let now = monotonicNS()
        let i = rng.below(o.clients)
        switch rng.below(100) {
        case 0..<12:                                        // a client dies, likely mid-call or holding the mutex
            guard let c = clients[i], clientRestartAt[i] == nil else { return }
            clientRestartAt[i] = now + UInt64(rng.below(200)) * 1_000_000
            c.killNow(); event("client_sigkill")
        case 12..<24:                                       // a client freezes for a while
            guard let c = clients[i], !c.stopped else { return }
            counters[i].add(.stopEpoch)
            c.send(SIGSTOP); c.stopped = true
            clientContAt[i] = now + UInt64(10 + rng.below(400)) * 1_000_000
            event("client_sigstop")
        case 24..<28:                                       // the server dies; a new one takes over
            guard let s = server else { return }
            killedByUs.insert(s.pid)
            serverRestartAt = now + UInt64(rng.below(300)) * 1_000_000
            serverGeneration += 1; s.killNow(); event("server_sigkill")
        case 28..<33:                                       // the server freezes, past the clients' deadline at times
            guard let s = server, !s.stopped else { return }
            serverGeneration += 1; s.send(SIGSTOP); s.stopped = true
            serverStoppedUntil = now + UInt64(20 + rng.below(2 * o.timeoutMS)) * 1_000_000
            event("server_sigstop")
        case 33..<35:                                       // a clean stop, then a restart
            guard let s = server, !s.stopped else { return }
            serverRestartAt = now + UInt64(rng.below(200)) * 1_000_000
            serverGeneration += 1; s.send(SIGTERM); event("server_sigterm")
        case 35..<41:                                       // someone takes the mutex and dies holding it
            guard server != nil else { return }
            if let p = spawn(holder, ["hold-mutex", service, "5"], role: "mutex holder", errPath: errPath) {
                helpers.append((p, "holder", [], now, now + UInt64(10 + rng.below(400)) * 1_000_000, serverGeneration))
                event("holder_start")
            }
        case 41..<60:                                       // the CLI as a client, checked byte for byte
            serial += 1
            let text = "cli\(serial)x" + String((0..<rng.below(60)).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.below(26)))) })
            if let p = spawn(ipcscope, ["call", service, "--raw", "--timeout", "2", "--text", text], role: "ipcscope call",
                             outPath: work + "/cli\(serial - 1)", errPath: errPath) {
                helpers.append((p, "cli", Array(text.utf8), now, nil, serverGeneration)); event("cli_call")
            }
        case 60..<66:                                       // readers under chaos must not crash
            let args = rng.oneIn(2) ? ["status", service] : ["list"]
            if let p = spawn(ipcscope, args, role: "ipcscope \(args[0])", errPath: errPath) {
                helpers.append((p, "reader", [], now, nil, serverGeneration)); event("reader_\(args[0])")
            }
        case 66..<69:                                       // a second server on a live name must be refused
            guard let s = server, !s.stopped, serverRestartAt == nil,
                  monotonicNS() - lastServerStart > 500_000_000 else { return }
            if let p = spawn(ipcscope, ["serve", service, "--echo"], role: "second server", errPath: errPath) {
                helpers.append((p, "second-server", [], now, now + 5_000_000_000, serverGeneration)); event("second_server")
            }
        default:
            break
        }
    }

    /// After the chaos: everything resumed and restarted; every client must get good answers again.
    private func settle() -> Bool {
        if let s = server, s.stopped { s.send(SIGCONT); s.stopped = false }
        for i in 0..<o.clients where clientContAt[i] != nil {
            counters[i].add(.stopEpoch); clients[i]?.send(SIGCONT); clients[i]?.stopped = false; clientContAt[i] = nil
        }
        for h in helpers where h.kind == "holder" { killedByUs.insert(h.proc.pid); h.proc.killNow() }
        let mark = monotonicNS()
        return waitFor(seconds: 20) {
            self.serverRestartAt = self.serverRestartAt.map { _ in 0 }
            for i in 0..<self.o.clients where self.clientRestartAt[i] != nil { self.clientRestartAt[i] = 0 }
            self.housekeeping()
            return self.counters.allSatisfy { $0[.lastOkNS] > mark }
        }
    }

    /// Stops everything and looks for what was left behind.
    private func shutdown() {
        for c in clients.compactMap({ $0 }) { c.killNow() }
        for h in helpers {
            if !waitFor(seconds: 5, { h.proc.reap() }) { killedByUs.insert(h.proc.pid); h.proc.killNow() }
            finish(h.proc, kind: h.kind, expect: h.expect, raced: h.generation != serverGeneration)
        }
        helpers = []
        if let s = server {
            s.send(SIGTERM)
            if !waitFor(seconds: 10, { s.reap() }) {
                f.crashes.append("the server ignored SIGTERM for 10 s")
                s.killNow()
            }
        }
        let objects = shmObjects(prefix: "ipcscope." + service)
        f.leftovers += objects.map { "/dev/shm/" + $0 }
        objects.forEach { unlink("/dev/shm/" + $0) }
        let procs = processesMentioning(service)
        f.leftovers += procs.map { "pid \($0)" }
        procs.forEach { kill($0, SIGKILL) }
    }

    /// Polls `condition` every 10 ms for at most `seconds`.
    private func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = monotonicNS() + UInt64(seconds * 1e9)
        while true {
            if condition() { return true }
            if monotonicNS() >= end { return false }
            sleepMS(10)
        }
    }
}
