// The load `ipcscope bench` drives at a service: calls from threads sharing one client, their latency
// in an hdrhistogram, and the line format a worker process hands its histogram back in.
#if canImport(Glibc)
import Glibc
#endif
import Histogram
import IPCScopeKit
import IPCScopePOSIX
import Synchronization

/// Calls, errors, the measured span and the latency histogram of one thread, process or run.
package struct BenchResult {
    package var calls = 0
    package var errors = 0
    package var startNS: UInt64 = 0
    package var endNS: UInt64 = 0
    package var firstError: String?
    package var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000,
                                      numberOfSignificantValueDigits: .three)

    package init() {}

    package static func merge(_ parts: [BenchResult]) -> BenchResult {
        var m = BenchResult()
        guard !parts.isEmpty else { return m }
        m.startNS = parts.map(\.startNS).min()!
        m.endNS = parts.map(\.endNS).max()!
        for p in parts {
            m.calls += p.calls
            m.errors += p.errors
            m.firstError = m.firstError ?? p.firstError
            m.histogram.add(p.histogram)
        }
        return m
    }

    /// The worker's output: a header line, then "value count" per recorded bucket.
    package func encoded() -> String {
        var s = "bench-worker calls=\(calls) errors=\(errors) start=\(startNS) end=\(endNS)\n"
        if let e = firstError { s += "error " + e.replacingNewlines + "\n" }
        for v in histogram.recordedValues() { s += "\(v.value) \(v.count)\n" }
        return s
    }

    package init?(decoding text: String) {
        var lines = text.split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("bench-worker ") else { return nil }
        lines.removeFirst()
        for field in first.split(separator: " ").dropFirst() {
            let kv = field.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let v = UInt64(kv[1]) else { continue }
            switch kv[0] {
            case "calls": calls = Int(clamping: v)
            case "errors": errors = Int(clamping: v)
            case "start": startNS = v
            case "end": endNS = v
            default: break
            }
        }
        for l in lines {
            if l.hasPrefix("error ") { firstError = String(l.dropFirst(6)); continue }
            let p = l.split(separator: " ")
            if p.count == 2, let v = UInt64(p[0]), let c = UInt64(p[1]) { _ = histogram.record(v, count: c) }
        }
    }
}

extension String {
    package var replacingNewlines: String { String(map { $0 == "\n" ? " " : $0 }) }
}

/// Runs `body(i)` on `n` new threads and waits for all of them (on this thread when one cannot start).
package func runThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
    var threads: [OSThread] = []
    for i in 0..<n {
        do { threads.append(try OSThread { body(i) }) } catch { body(i) }
    }
    for t in threads { t.join() }
}

extension BenchResult {
    /// Makes `calls` calls (or calls for `nanoseconds`) of `size` bytes of function `function` on `client`, split
    /// over `threads` threads sharing it, after `warmup` unmeasured calls per thread; latency measured around each
    /// call. A thread stops at its first failed call (counted, the first error kept).
    package static func drive(_ client: Client, function: UInt32, size: Int, calls: Int, threads: Int, warmup: Int,
                              timeout: Duration, for nanoseconds: UInt64?) -> BenchResult {
        let perThread = (0..<threads).map { calls / threads + ($0 < calls % threads ? 1 : 0) }
        let results = Mutex<[BenchResult]>([])
        runThreads(threads) { t in
            var r = BenchResult()
            let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 16)
            let response = UnsafeMutableRawBufferPointer.allocate(byteCount: max(client.responseCapacity, 1), alignment: 16)
            defer { payload.deallocate(); response.deallocate() }
            for i in 0..<size { payload[i] = UInt8(truncatingIfNeeded: i) }
            let p = UnsafeRawBufferPointer(rebasing: payload[0..<size])
            for _ in 0..<warmup {
                do { _ = try client.call(function: function, payload: p, into: response, timeout: timeout) } catch { break }
            }
            let start = monotonicNanoseconds()
            let end = nanoseconds.map { start &+ $0 }
            var n = 0
            r.startNS = start
            while end.map({ monotonicNanoseconds() < $0 }) ?? (n < perThread[t]) {
                let t0 = monotonicNanoseconds()
                do {
                    _ = try client.call(function: function, payload: p, into: response, timeout: timeout)
                } catch {
                    r.errors += 1
                    r.firstError = "\(error)"
                    break
                }
                _ = r.histogram.record(monotonicNanoseconds() - t0)
                n += 1
            }
            r.calls = n
            r.endNS = monotonicNanoseconds()
            results.withLock { $0.append(r) }
        }
        return results.withLock { BenchResult.merge($0) }
    }
}
