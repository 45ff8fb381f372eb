#if canImport(Glibc)
import Glibc
#endif
import IPCScopeKit
import IPCScopeObserve
import IPCScopeRecording

/// A key press as the model understands it (the front translates curses codes).
package enum Key: Equatable, Sendable {
    case char(Character)
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, tab, backTab, backspace, delete, escape, resize
}

/// The panes that take the focus, in `Tab` order.
package enum Pane: Int, CaseIterable, Sendable {
    case request, response, history, client

    package var title: String {
        switch self {
        case .request: "Request"
        case .response: "Response"
        case .history: "History"
        case .client: "Client"
        }
    }
}

/// Whether this user can open the section read-write (for the client pane).
package enum Writability: Equatable, Sendable {
    case unknown, writable
    case readOnly(String)
}

/// A call typed in the client pane, ready to send.
package struct ClientCall: Equatable, Sendable {
    package var function: UInt32
    package var payload: [UInt8]
    /// How long to wait for the answer; nil waits until it comes (or the server goes away).
    package var timeoutNS: UInt64?
    package init(function: UInt32, payload: [UInt8], timeoutNS: UInt64? = nil) {
        self.function = function
        self.payload = payload
        self.timeoutNS = timeoutNS
    }
}

/// What came back from a call made from the client pane.
package struct ClientOutcome: Equatable, Sendable {
    package var call: ClientCall
    package var status: Int32?
    package var response: [UInt8]
    package var seq: UInt64
    package var latencyNS: UInt64
    /// The error, when the call failed.
    package var error: String?
    package init(call: ClientCall, status: Int32?, response: [UInt8], seq: UInt64, latencyNS: UInt64, error: String?) {
        self.call = call
        self.status = status
        self.response = response
        self.seq = seq
        self.latencyNS = latencyNS
        self.error = error
    }
}

/// A call saved under a name for reuse (`@name` in the client pane sends it).
package struct SavedCall: Equatable, Sendable {
    package var name: String
    /// The input line as typed (`FUNCTION PAYLOAD`).
    package var input: String
    package var hex: Bool
    package init(name: String, input: String, hex: Bool) {
        self.name = name
        self.input = input
        self.hex = hex
    }
}

/// The client pane's editing state.
package struct ClientPaneState: Sendable {
    /// The input line: `FUNCTION PAYLOAD` (payload as text with escapes, or hex when `hex`).
    package var input = ""
    package var hex = false
    /// Earlier inputs, oldest first; `recallIndex` walks them with up/down.
    package var recall: [String] = []
    package var recallIndex: Int?
    package var saved: [SavedCall] = []
    /// Non-nil while a name for `Ctrl-S` is being typed.
    package var naming: String?
    package var inFlight = false
    package var last: ClientOutcome?
    /// A problem with the input (parse error), shown until the next edit.
    package var problem: String?
    /// The last notice about the pane itself (saved a call, changed the timeout), shown until
    /// the next edit; never stored with the saved calls.
    package var info: String?
    /// What Tab left open: the candidates for the word being typed, shown until the next edit.
    package var completions: [String] = []
    /// The call the pane gave up waiting for (Esc while held): its answer is dropped.
    package var cancelledSeq: UInt64?
    /// Esc was answered for the call in flight (let go, told to stop waiting, or refused): the
    /// next Esc is Esc again.
    package var cancelRequested = false
    /// Whether Esc would try to give up the pane's call: one is in flight and Esc was not
    /// answered for it yet.
    package var canGiveUp: Bool { inFlight && !cancelRequested }
    package var writability: Writability = .unknown
    /// How long a call waits for its answer; 0 waits until answered (`timeout 30s` in the pane,
    /// `attach --call-timeout`).
    package var timeoutNS: UInt64 = ClientPaneState.defaultTimeoutNS
    /// The default `timeoutNS`: 5 s.
    package static let defaultTimeoutNS: UInt64 = 5_000_000_000
    package init() {}
}

/// A request of the scripted or echo server run in-process, held by step mode or a breakpoint.
package struct HeldCall: Equatable, Sendable {
    package var seq: UInt64
    package var function: UInt32
    package var size: Int
    package var reason: String
    /// The calling process (this inspector's own pid for a call from the client pane).
    package var clientPID: Int32
    /// The script's fault that letting the call go would run (`exit 3`, `never_answer`), if any.
    package var fault: String?
    package init(seq: UInt64, function: UInt32, size: Int, reason: String, clientPID: Int32 = 0, fault: String? = nil) {
        self.seq = seq
        self.function = function
        self.size = size
        self.reason = reason
        self.clientPID = clientPID
        self.fault = fault
    }
}

/// The in-process server's state as the screen shows it (server mode only).
package struct ServerModeState: Sendable, Equatable {
    package var description: String
    package var stepMode = false
    /// Breakpoints as typed after `b`: `fn=3`, `/hello/` (payload contains), `hex=4865`.
    package var breakpoints = ""
    package var held: HeldCall?
    package var answered: UInt64 = 0
    /// Which rule answered each call, by seq (`rule 2 (line 7)`, `no rule`, `echo`), newest kept.
    package var rules: [UInt64: String] = [:]
    /// The newest seq in `rules`.
    package var lastRuleSeq: UInt64 = 0
    package init(description: String) { self.description = description }

    /// Records which rule answered `seq`, keeping the newest `limit`.
    package mutating func answered(seq: UInt64, by rule: String, limit: Int) {
        rules[seq] = rule
        lastRuleSeq = max(lastRuleSeq, seq)
        if rules.count > limit + 64 {
            let keep = Set(rules.keys.sorted().suffix(limit))
            rules = rules.filter { keep.contains($0.key) }
        }
    }
}

/// What the front must do after a key.
package enum InspectorAction: Equatable, Sendable {
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
    /// Write `calls` as a pcapng recording (one interface, `missed` calls the ring lapped) to a
    /// new file whose name starts with `name`, its times on the section host's clock; report
    /// with `exported`.
    case record(name: String, interface: RecordedInterface, calls: [RecordedCall], missed: UInt64)
}

/// Where the inspector stands with the section.
package enum AttachState: Equatable, Sendable {
    /// No object yet (or it went away): waiting for a server. The string says why.
    case waiting(String)
    case attached
    /// The object exists but cannot be read (permission, …).
    case failed(String)
}
