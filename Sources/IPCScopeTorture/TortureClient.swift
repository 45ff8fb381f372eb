// The client role: calls an echo service in a loop with payloads no other call uses and checks
// every answer byte for byte and every return against the call's deadline.
#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopePOSIX

/// Runs until killed. Reconnects after any error (the server may have been replaced).
func runClient(service: String, id: Int, timeoutMS: Int, graceMS: Int, countersPath: String) -> Never {
    guard let counters = Counters(path: countersPath) else {
        printErrorLine("client \(id): cannot map \(countersPath)")
        exit(2)
    }
    var rng = SystemRandomNumberGenerator()
    var client: Client?
    var n: UInt64 = 0
    let timeoutNS = UInt64(timeoutMS) * 1_000_000, graceNS = UInt64(graceMS) * 1_000_000
    while true {
        if client == nil {
            client = try? Client(service: service)
            if client == nil {
                counters.add(.otherErrors)
                usleep(2_000)
                continue
            }
        }
        n += 1
        // unique: who, which call, then random bytes of a random length
        let prefix = Array("c\(id)-\(getpid())-\(n):".utf8)
        let extra = Int.random(in: 0...(Int.random(in: 0...7, using: &rng) == 0 ? 3_000 : 200), using: &rng)
        let payload = prefix + (0..<extra).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let epoch = counters[.stopEpoch]
        let start = monotonicNS()
        var failed = false
        do {
            let reply = try client!.call(function: 7, payload: payload, timeout: .milliseconds(timeoutMS))
            if reply.status == 0 && reply.data == payload {
                counters.add(.ok)
                counters[.lastOkNS] = monotonicNS()
            } else if reply.status == -4 && reply.data.isEmpty {
                counters.add(.shutdownAnswers)     // the format's answer for a call pending at a clean stop
                failed = true
            } else {
                counters.add(.wrong)
                printErrorLine("client \(id): WRONG answer to call \(n): status \(reply.status), \(reply.data.count) bytes, sent \(payload.count)")
            }
        } catch {
            failed = true
            switch error.code {
            case .timeout: counters.add(.timeouts)
            case .serverGone, .disconnected: counters.add(.gone)
            default: counters.add(.otherErrors)
            }
        }
        let elapsed = monotonicNS() - start
        if counters[.stopEpoch] != epoch {
            counters.add(.stoppedMidCall)
        } else if elapsed > timeoutNS + graceNS {
            counters.add(.late)
            printErrorLine("client \(id): LATE: call \(n) returned after \(elapsed / 1_000_000) ms (deadline \(timeoutMS) ms)")
        }
        if failed { client = nil }
    }
}
