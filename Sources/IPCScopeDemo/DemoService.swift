#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeRandom

// MARK: - the functions

/// The functions of the demo service: a small key-value service with the usual suspects
/// (a fast call, a slow one, one that fails), so the inspector has something real to show.
package enum DemoFunction: UInt32, CaseIterable, Sendable {
    /// Answers status 0 with the request's own bytes.
    case echo = 0
    /// `struct demo_put_req` (32 bytes): stores, adds to or keeps a value; answers status 0 and
    /// `struct demo_put_rsp`, or status 1 (malformed) or 3 (overflow) with no bytes.
    case put = 1
    /// `struct demo_get_req` (16 bytes): answers status 0 and `struct demo_get_rsp`, or status 2
    /// (no such key) or 1 (malformed) with no bytes.
    case get = 2
    /// Sleeps 50 to 200 ms (the payload may give the milliseconds), then answers `slept N ms`.
    case slow = 3
    /// Always fails: status 7 and a message, the way a real service reports a refusal.
    case fail = 4

    /// The function a demo client calls to show the framework's "no handler" answer (-3).
    package static let unknown: UInt32 = 9

    /// Short name, for summaries and help.
    package var name: String {
        switch self {
        case .echo: "echo"
        case .put: "put"
        case .get: "get"
        case .slow: "slow"
        case .fail: "fail"
        }
    }

    /// The name of any function index, known or not.
    package static func name(of function: UInt32) -> String {
        DemoFunction(rawValue: function)?.name ?? "unknown(\(function))"
    }
}

/// Statuses the demo service answers besides 0.
package enum DemoStatus {
    /// A `put` or `get` whose request is not its struct: the wrong size, an empty or
    /// unterminated key, a flag the demo does not know.
    package static let malformed: Int32 = 1
    /// `get` of a key that was never put.
    package static let noSuchKey: Int32 = 2
    /// A `put` with `add` whose sum does not fit `int64_t` (the value is left as it was).
    package static let overflow: Int32 = 3
    /// What `fail` always answers.
    package static let failed: Int32 = 7
    /// The framework's "no handler for this function".
    package static let noHandler: Int32 = -3
    /// The framework's "server shutting down".
    package static let shuttingDown: Int32 = -4

    /// What a status means in the demo service.
    package static func meaning(_ status: Int32) -> String {
        switch status {
        case 0: "ok"
        case malformed: "malformed put/get"
        case noSuchKey: "no such key"
        case overflow: "overflow"
        case failed: "fail (by design)"
        case -1: "bad request"
        case -2: "handler failed"
        case noHandler: "no handler for this function"
        case -4: "server shutting down"
        default: "status \(status)"
        }
    }
}

// MARK: - the handler

/// The demo service's handler. Runs on the server thread only; the key-value store is
/// owned by that thread (no lock needed, the server answers one call at a time).
package final class DemoHandler {
    /// One key's entry in the store.
    package struct Entry: Sendable, Equatable {
        package var value: Int64
        package var version: UInt32
        package var last: DemoPutResult
    }

    /// The key-value store of `put` and `get`, by key bytes.
    package private(set) var store: [[UInt8]: Entry] = [:]
    /// Calls answered, by function index.
    package private(set) var callsByFunction: [UInt32: Int] = [:]
    private let isStopping: () -> Bool
    private var random = SplitMix64(seed: UInt64(getpid()))

    /// Makes a handler; `isStopping` lets `slow` give up when the server is asked to stop.
    package init(isStopping: @escaping () -> Bool = { false }) {
        self.isStopping = isStopping
    }

    /// Answers one call (see `DemoFunction` for what each function does).
    package func handle(_ request: Request, _ response: inout ResponseWriter) throws -> Int32 {
        callsByFunction[request.function, default: 0] += 1
        guard let function = DemoFunction(rawValue: request.function) else {
            try response.set(Array("no function \(request.function); try 0 echo, 1 put, 2 get, 3 slow, 4 fail".utf8))
            return DemoStatus.noHandler
        }
        switch function {
        case .echo:
            try response.set(request.payload)
            return 0
        case .put:
            guard let put = DemoPutRequest.decode(request.payload) else { return DemoStatus.malformed }
            guard case let (answer, entry)? = apply(put) else { return DemoStatus.overflow }
            store[put.key] = entry
            try response.set(answer.encoded())
            return 0
        case .get:
            guard let get = DemoGetRequest.decode(request.payload) else { return DemoStatus.malformed }
            guard let e = store[get.key] else { return DemoStatus.noSuchKey }
            try response.set(DemoGetAnswer(value: e.value, version: e.version, last: e.last).encoded())
            return 0
        case .slow:
            let asked = Int(String(decoding: request.payload, as: UTF8.self))
            let ms = min(200, max(50, asked ?? Int(random.next() % 151) + 50))
            let end = monotonicNanoseconds() + UInt64(ms) * 1_000_000
            while monotonicNanoseconds() < end {
                if isStopping() { return DemoStatus.shuttingDown }
                usleep(2_000)
            }
            try response.set(Array("slept \(ms) ms".utf8))
            return 0
        case .fail:
            try response.set(Array("failed on purpose: the demo's function 4 always answers status 7".utf8))
            return DemoStatus.failed
        }
    }

    /// What `put` answers and the entry it leaves; nil when `add` overflows.
    private func apply(_ put: DemoPutRequest) -> (DemoPutAnswer, Entry)? {
        guard let old = store[put.key] else {
            let e = Entry(value: put.value, version: 1, last: .created)
            return (DemoPutAnswer(previous: 0, version: 1, result: .created), e)
        }
        if put.flags.contains(.ifAbsent) {
            return (DemoPutAnswer(previous: old.value, version: old.version, result: .kept), old)
        }
        var e = old
        e.version = old.version == .max ? .max : old.version + 1
        if put.flags.contains(.add) {
            let (sum, overflow) = old.value.addingReportingOverflow(put.value)
            if overflow { return nil }
            e.value = sum
            e.last = .added
        } else {
            e.value = put.value
            e.last = .replaced
        }
        return (DemoPutAnswer(previous: old.value, version: e.version, result: e.last), e)
    }
}

// MARK: - help

/// The demo functions, one per line, for `--help` and the narration.
package let demoFunctionHelp = """
      0 echo   answers the request's own bytes (status 0)
      1 put    struct { char key[16]; uint8_t flags; int64_t value; } (32 bytes,
               7 of padding): flags if_absent (bit 0), add (bit 1); answers
               struct { int64_t previous; uint32_t version; uint8_t result; }
               (result: created, replaced, added, kept); status 1 malformed
               (wrong size, bad key or flags), 3 overflow
      2 get    struct { char key[16]; } answers
               struct { int64_t value; uint32_t version; uint8_t last; };
               status 2 no such key, 1 malformed
      3 slow   sleeps 50-200 ms (the payload may say how many), then answers
      4 fail   always answers status 7 and a message
      other    status -3: no handler for this function
    """
