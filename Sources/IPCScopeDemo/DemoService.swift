#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeRandom

// MARK: - the functions

/// The functions of the demo service: a small key-value service with the usual suspects
/// (a fast call, a slow one, one that fails), so the inspector has something real to show.
public enum DemoFunction: UInt32, CaseIterable, Sendable {
    /// Answers status 0 with the request's own bytes.
    case echo = 0
    /// `key=value`: stores the value; answers status 0 and `OK`, or status 1 without `=`.
    case put = 1
    /// `key`: answers status 0 and the value, or status 2 and `no such key`.
    case get = 2
    /// Sleeps 50 to 200 ms (the payload may give the milliseconds), then answers `slept N ms`.
    case slow = 3
    /// Always fails: status 7 and a message, the way a real service reports a refusal.
    case fail = 4

    /// The function a demo client calls to show the framework's "no handler" answer (-3).
    public static let unknown: UInt32 = 9

    /// Short name, for summaries and help.
    public var name: String {
        switch self {
        case .echo: "echo"
        case .put: "put"
        case .get: "get"
        case .slow: "slow"
        case .fail: "fail"
        }
    }

    /// The name of any function index, known or not.
    public static func name(of function: UInt32) -> String {
        DemoFunction(rawValue: function)?.name ?? "unknown(\(function))"
    }
}

/// Statuses the demo service answers besides 0.
public enum DemoStatus {
    /// `put` without `=`.
    public static let badPut: Int32 = 1
    /// `get` of a key that was never put.
    public static let noSuchKey: Int32 = 2
    /// What `fail` always answers.
    public static let failed: Int32 = 7
    /// The framework's "no handler for this function".
    public static let noHandler: Int32 = -3
    /// The framework's "server shutting down".
    public static let shuttingDown: Int32 = -4

    /// What a status means in the demo service.
    public static func meaning(_ status: Int32) -> String {
        switch status {
        case 0: "ok"
        case badPut: "bad put (no '=')"
        case noSuchKey: "no such key"
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
public final class DemoHandler {
    /// The key-value store of `put` and `get`.
    public private(set) var store: [String: [UInt8]] = [:]
    /// Calls answered, by function index.
    public private(set) var callsByFunction: [UInt32: Int] = [:]
    private let isStopping: () -> Bool
    private var random = SplitMix64(seed: UInt64(getpid()))

    /// Makes a handler; `isStopping` lets `slow` give up when the server is asked to stop.
    public init(isStopping: @escaping () -> Bool = { false }) {
        self.isStopping = isStopping
    }

    /// Answers one call (see `DemoFunction` for what each function does).
    public func handle(_ request: Request, _ response: inout ResponseWriter) throws -> Int32 {
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
            let bytes = Array(request.payload)
            guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else {
                try response.set(Array("put wants key=value".utf8))
                return DemoStatus.badPut
            }
            store[String(decoding: bytes[..<eq], as: UTF8.self)] = Array(bytes[(eq + 1)...])
            try response.set(Array("OK".utf8))
            return 0
        case .get:
            let key = String(decoding: request.payload, as: UTF8.self)
            guard let value = store[key] else {
                try response.set(Array("no such key '\(key.prefix(64))'".utf8))
                return DemoStatus.noSuchKey
            }
            try response.set(value)
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
}

// MARK: - help

/// The demo functions, one per line, for `--help` and the narration.
public let demoFunctionHelp = """
      0 echo   answers the request's own bytes (status 0)
      1 put    "key=value" stores a value (status 0 "OK"; 1 without '=')
      2 get    "key" answers the value (status 0; 2 "no such key")
      3 slow   sleeps 50-200 ms (the payload may say how many), then answers
      4 fail   always answers status 7 and a message
      other    status -3: no handler for this function
    """
