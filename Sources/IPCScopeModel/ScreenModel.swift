#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit

/// A key press as the model understands it (the front translates curses codes).
public enum Key: Equatable, Sendable {
    case char(Character)
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, tab, backTab, backspace, delete, escape, resize
}

/// The panes that take the focus, in `Tab` order.
public enum Pane: Int, CaseIterable, Sendable {
    case request, response, history, client

    public var title: String {
        switch self {
        case .request: "Request"
        case .response: "Response"
        case .history: "History"
        case .client: "Client"
        }
    }
}

/// Whether this user can open the section read-write (for the client pane).
public enum Writability: Equatable, Sendable {
    case unknown, writable
    case readOnly(String)
}

/// A call typed in the client pane, ready to send.
public struct ClientCall: Equatable, Sendable {
    public var function: UInt32
    public var payload: [UInt8]
    /// How long to wait for the answer; nil waits until it comes (or the server goes away).
    public var timeoutNS: UInt64?
    public init(function: UInt32, payload: [UInt8], timeoutNS: UInt64? = nil) {
        self.function = function
        self.payload = payload
        self.timeoutNS = timeoutNS
    }
}

/// What came back from a call made from the client pane.
public struct ClientOutcome: Equatable, Sendable {
    public var call: ClientCall
    public var status: Int32?
    public var response: [UInt8]
    public var seq: UInt64
    public var latencyNS: UInt64
    /// The error, when the call failed.
    public var error: String?
    public init(call: ClientCall, status: Int32?, response: [UInt8], seq: UInt64, latencyNS: UInt64, error: String?) {
        self.call = call
        self.status = status
        self.response = response
        self.seq = seq
        self.latencyNS = latencyNS
        self.error = error
    }
}

/// A call saved under a name for reuse (`@name` in the client pane sends it).
public struct SavedCall: Equatable, Sendable {
    public var name: String
    /// The input line as typed (`FUNCTION PAYLOAD`).
    public var input: String
    public var hex: Bool
    public init(name: String, input: String, hex: Bool) {
        self.name = name
        self.input = input
        self.hex = hex
    }
}

/// The client pane's editing state.
public struct ClientPaneState: Sendable {
    /// The input line: `FUNCTION PAYLOAD` (payload as text with escapes, or hex when `hex`).
    public var input = ""
    public var hex = false
    /// Earlier inputs, oldest first; `recallIndex` walks them with up/down.
    public var recall: [String] = []
    public var recallIndex: Int?
    public var saved: [SavedCall] = []
    /// Non-nil while a name for `Ctrl-S` is being typed.
    public var naming: String?
    public var inFlight = false
    public var last: ClientOutcome?
    /// A problem with the input (parse error), shown until the next edit.
    public var problem: String?
    /// The last notice about the pane itself (saved a call, changed the timeout), shown until
    /// the next edit; never stored with the saved calls.
    public var info: String?
    /// What Tab left open: the candidates for the word being typed, shown until the next edit.
    public var completions: [String] = []
    /// The call the pane gave up waiting for (Esc while held): its answer is dropped.
    public var cancelledSeq: UInt64?
    /// Esc was answered for the call in flight (let go, told to stop waiting, or refused): the
    /// next Esc is Esc again.
    public var cancelRequested = false
    /// Whether Esc would try to give up the pane's call: one is in flight and Esc was not
    /// answered for it yet.
    public var canGiveUp: Bool { inFlight && !cancelRequested }
    public var writability: Writability = .unknown
    /// How long a call waits for its answer; 0 waits until answered (`timeout 30s` in the pane,
    /// `attach --call-timeout`).
    public var timeoutNS: UInt64 = ClientPaneState.defaultTimeoutNS
    /// The default `timeoutNS`: 5 s.
    public static let defaultTimeoutNS: UInt64 = 5_000_000_000
    public init() {}
}

/// A request of the scripted or echo server run in-process, held by step mode or a breakpoint.
public struct HeldCall: Equatable, Sendable {
    public var seq: UInt64
    public var function: UInt32
    public var size: Int
    public var reason: String
    /// The calling process (this inspector's own pid for a call from the client pane).
    public var clientPID: Int32
    /// The script's fault that letting the call go would run (`exit 3`, `never_answer`), if any.
    public var fault: String?
    public init(seq: UInt64, function: UInt32, size: Int, reason: String, clientPID: Int32 = 0, fault: String? = nil) {
        self.seq = seq
        self.function = function
        self.size = size
        self.reason = reason
        self.clientPID = clientPID
        self.fault = fault
    }
}

/// The in-process server's state as the screen shows it (server mode only).
public struct ServerModeState: Sendable, Equatable {
    public var description: String
    public var stepMode = false
    /// Breakpoints as typed after `b`: `fn=3`, `/hello/` (payload contains), `hex=4865`.
    public var breakpoints = ""
    public var held: HeldCall?
    public var answered: UInt64 = 0
    /// Which rule answered each call, by seq (`rule 2 (line 7)`, `no rule`, `echo`), newest kept.
    public var rules: [UInt64: String] = [:]
    /// The newest seq in `rules`.
    public var lastRuleSeq: UInt64 = 0
    public init(description: String) { self.description = description }

    /// Records which rule answered `seq`, keeping the newest `limit`.
    public mutating func answered(seq: UInt64, by rule: String, limit: Int) {
        rules[seq] = rule
        lastRuleSeq = max(lastRuleSeq, seq)
        if rules.count > limit + 64 {
            let keep = Set(rules.keys.sorted().suffix(limit))
            rules = rules.filter { keep.contains($0.key) }
        }
    }
}

/// What the front must do after a key.
public enum InspectorAction: Equatable, Sendable {
    case quit
    case send(ClientCall)
    case saveCalls([SavedCall])
    case setStepMode(Bool)
    case setBreakpoints(String)
    case releaseHeld
    /// Give up the client pane's call in flight (Esc in the pane); answer with
    /// `clientCancelled` (the in-process server let it go), `clientCancelling` (the client was
    /// told to stop waiting) or `clientCancelRefused`.
    case cancelCall
    /// Write `text` (JSON Lines) to a new file whose name starts with `name`; report with `exported`.
    case export(name: String, text: String)
}

/// Where the inspector stands with the section.
public enum AttachState: Equatable, Sendable {
    /// No object yet (or it went away): waiting for a server. The string says why.
    case waiting(String)
    case attached
    /// The object exists but cannot be read (permission, …).
    case failed(String)
}
