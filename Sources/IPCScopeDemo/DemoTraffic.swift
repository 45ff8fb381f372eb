#if canImport(Glibc)
import Glibc
#endif
import Histogram
import IPCScopeKit
import IPCScopeRandom

// MARK: - statistics of one or more clients

/// What demo clients saw: calls by function, answers by status, failures, round-trip latency.
///
/// A client process writes its stats to a file with `encoded()`; the demo reads every
/// client's file back with `decode(_:)` and merges them.
package struct DemoStats: Sendable {
    /// Calls attempted, by function index.
    package var callsByFunction: [UInt32: Int] = [:]
    /// Answered calls, by status.
    package var answersByStatus: [Int32: Int] = [:]
    /// Calls that got no answer, by the framework's error code (`timeout`, `serverGone`, …).
    package var failures: [String: Int] = [:]
    /// Round-trip latency of answered calls, in nanoseconds (1 µs resolution, 3 digits).
    package var latency = Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 120_000_000_000,
                                           numberOfSignificantValueDigits: .three)
    /// Request and response bytes of answered calls.
    package var bytesSent = 0
    package var bytesReceived = 0
    /// How long the traffic ran (the longest client), in nanoseconds.
    package var elapsedNS: UInt64 = 0
    /// How many clients contributed.
    package var clients = 0

    package init() {}

    /// Calls that were answered.
    package var answered: Int { answersByStatus.values.reduce(0, +) }
    /// Calls answered with a non-zero status.
    package var errorAnswers: Int { answersByStatus.filter { $0.key != 0 }.values.reduce(0, +) }
    /// Calls that got no answer.
    package var failed: Int { failures.values.reduce(0, +) }
    /// Every call attempted.
    package var calls: Int { callsByFunction.values.reduce(0, +) }

    /// Adds another client's stats to these.
    package mutating func merge(_ other: DemoStats) {
        for (k, v) in other.callsByFunction { callsByFunction[k, default: 0] += v }
        for (k, v) in other.answersByStatus { answersByStatus[k, default: 0] += v }
        for (k, v) in other.failures { failures[k, default: 0] += v }
        latency.add(other.latency)
        bytesSent += other.bytesSent
        bytesReceived += other.bytesReceived
        elapsedNS = max(elapsedNS, other.elapsedNS)
        clients += other.clients
    }

    // MARK: - the report file

    static let header = "ipcscope-demo-report 1"

    /// Line-oriented text (`key value...`), read back by `decode(_:)`.
    package func encoded() -> String {
        var lines = [DemoStats.header, "clients \(clients)", "elapsed_ns \(elapsedNS)",
                     "bytes \(bytesSent) \(bytesReceived)"]
        for (k, v) in callsByFunction.sorted(by: { $0.key < $1.key }) { lines.append("call \(k) \(v)") }
        for (k, v) in answersByStatus.sorted(by: { $0.key < $1.key }) { lines.append("status \(k) \(v)") }
        for (k, v) in failures.sorted(by: { $0.key < $1.key }) { lines.append("failure \(k) \(v)") }
        for v in latency.recordedValues() { lines.append("latency \(v.value) \(v.count)") }
        lines.append("end")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads `encoded()` text back; nil when it is not a complete report.
    package static func decode(_ text: String) -> DemoStats? {
        let lines = text.split(separator: "\n")
        guard lines.first.map(String.init) == header, lines.last == "end" else { return nil }
        var s = DemoStats()
        for line in lines.dropFirst().dropLast() {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 2 else { return nil }
            switch (f[0], f.count) {
            case ("clients", 2): s.clients = Int(f[1]) ?? 0
            case ("elapsed_ns", 2): s.elapsedNS = UInt64(f[1]) ?? 0
            case ("bytes", 3): s.bytesSent = Int(f[1]) ?? 0; s.bytesReceived = Int(f[2]) ?? 0
            case ("call", 3): if let k = UInt32(f[1]), let v = Int(f[2]) { s.callsByFunction[k] = v }
            case ("status", 3): if let k = Int32(f[1]), let v = Int(f[2]) { s.answersByStatus[k] = v }
            case ("failure", 3): if let v = Int(f[2]) { s.failures[f[1]] = v }
            case ("latency", 3): if let v = UInt64(f[1]), let c = UInt64(f[2]) { _ = s.latency.record(v, count: c) }
            default: return nil
            }
        }
        return s
    }
}

// MARK: - one client's traffic

/// Why a demo client stopped.
package enum DemoTrafficEnd: Equatable, Sendable {
    /// Its time was up.
    case timeUp
    /// It was asked to stop.
    case stopped
    /// The server went away (stopped, died, or never came): the demo is over.
    case serverGone(String)
}

/// One demo client: a realistic mix of calls in bursts, with pauses, to one service.
///
/// The mix (per call): a third `echo` of 0 to 4096 bytes, a fifth `put` and a fifth `get`
/// (C structs; some of keys never put: status 2; now and then a text `put`: status 1),
/// `slow` now and then (the calls that make other clients wait for the mutex), `fail`
/// (status 7) and an unknown function (status -3).
package struct DemoTraffic {
    package let service: String
    private var random: SplitMix64
    /// Pause between bursts, in milliseconds.
    package var pauseMS: ClosedRange<Int> = 40...300
    /// Calls per burst.
    package var burst: ClosedRange<Int> = 1...8
    /// Deadline of each call.
    package var callTimeout: Duration = .seconds(3)

    package init(service: String, seed: UInt64) {
        self.service = service
        self.random = SplitMix64(seed: seed)
    }

    private mutating func pick(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    /// Calls made so far (the first six are a tour of every function).
    private var made = 0

    /// The next call of the mix: function and payload. A client's first six calls visit
    /// every function once (echo, put, get, slow, fail, an unknown one), then the mix is random.
    package mutating func nextCall() -> (function: UInt32, payload: [UInt8]) {
        let tour = [0, 34, 54, 77, 84, 92]
        let r = made < tour.count ? tour[made] : pick(0...99)
        made += 1
        switch r {
        case 0..<34:
            return (DemoFunction.echo.rawValue, echoPayload())
        case 34..<54:
            return (DemoFunction.put.rawValue, putRequest().encoded())
        case 54..<76:
            return (DemoFunction.get.rawValue, DemoGetRequest(key: "user:\(pick(0...24))").encoded())
        case 76..<84:
            return (DemoFunction.slow.rawValue, r & 1 == 0 ? [] : Array("\(pick(50...200))".utf8))
        case 84..<92:
            return (DemoFunction.fail.rawValue, Array("please fail".utf8))
        case 92..<95:
            return (DemoFunction.unknown, Array("is anyone there?".utf8))
        default:
            // A client that still speaks the old text protocol: the wrong size, status 1.
            return (DemoFunction.put.rawValue, Array("user:\(pick(0...19))=\(pick(0...999))".utf8))
        }
    }

    /// A `put` of one of 20 keys: mostly a plain store, now and then a counter (`add`) or a
    /// store that keeps what is there (`if_absent`).
    private mutating func putRequest() -> DemoPutRequest {
        let key = "user:\(pick(0...19))"
        switch pick(0...9) {
        case 0..<6: return DemoPutRequest(key: key, value: Int64(pick(-1000...100_000)))
        case 6..<9: return DemoPutRequest(key: key, flags: .add, value: Int64(pick(1...10)))
        default: return DemoPutRequest(key: key, flags: .ifAbsent, value: 0)
        }
    }

    private mutating func echoPayload() -> [UInt8] {
        let size: Int
        switch pick(0...9) {
        case 0..<6: size = pick(0...64)
        case 6..<9: size = pick(65...1024)
        default: size = pick(1025...4096)
        }
        let text = Array("the quick brown fox jumps over the lazy dog ".utf8)
        return (0..<size).map { text[$0 % text.count] }
    }

    /// Makes calls until `seconds` pass (nil: forever), `shouldStop()` says so, or the server goes.
    ///
    /// Connecting is retried for up to 5 s while the section does not exist yet.
    package mutating func run(seconds: Double?, shouldStop: () -> Bool) -> (DemoStats, DemoTrafficEnd) {
        let start = monotonicNanoseconds()
        var stats = DemoStats()
        stats.clients = 1
        let end = seconds.map { start + UInt64($0 * 1e9) }
        func timeUp() -> Bool { end.map { monotonicNanoseconds() >= $0 } ?? false }
        func finish(_ why: DemoTrafficEnd) -> (DemoStats, DemoTrafficEnd) {
            stats.elapsedNS = monotonicNanoseconds() - start
            return (stats, why)
        }

        var client: Client?
        while client == nil {
            do {
                client = try Client(service: service)
            } catch {
                let early = monotonicNanoseconds() - start < 5_000_000_000
                guard early, error.code == .noSuchService || error.code == .serverNotRunning else {
                    return finish(.serverGone(error.message))
                }
                if shouldStop() { return finish(.stopped) }
                usleep(20_000)
            }
        }
        let c = client!
        defer { c.disconnect() }
        while true {
            for _ in 0..<pick(burst) {
                if shouldStop() { return finish(.stopped) }
                if timeUp() { return finish(.timeUp) }
                let (function, payload) = nextCall()
                stats.callsByFunction[function, default: 0] += 1
                let t0 = monotonicNanoseconds()
                do {
                    let reply = try c.call(function: function, payload: payload, timeout: callTimeout)
                    _ = stats.latency.record(max(1_000, monotonicNanoseconds() - t0))
                    stats.answersByStatus[reply.status, default: 0] += 1
                    stats.bytesSent += payload.count
                    stats.bytesReceived += reply.data.count
                    if reply.status == DemoStatus.shuttingDown { return finish(.serverGone("the server is shutting down")) }
                } catch {
                    switch error.code {
                    case .serverGone, .disconnected, .noSuchService, .serverNotRunning:
                        return finish(.serverGone(error.message))
                    default:
                        stats.failures[error.code.rawValue, default: 0] += 1
                    }
                }
                if pick(0...3) == 0 { usleep(UInt32(pick(0...2_000))) }
            }
            // Pause between bursts, in slices, so a stop or the end of time is noticed quickly.
            var pause = pick(pauseMS)
            while pause > 0 {
                if shouldStop() { return finish(.stopped) }
                if timeUp() { return finish(.timeUp) }
                if !c.serverIsAlive { return finish(.serverGone("the server of '\(service)' died")) }
                let slice = min(pause, 50)
                usleep(UInt32(slice * 1000))
                pause -= slice
            }
        }
    }
}
