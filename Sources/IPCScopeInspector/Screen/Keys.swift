/// Key handling: a pure function of the model's state and the key.
import IPCScopeObserve
import IPCScopeRecording
extension InspectorModel {
    /// Applies `key`; returns what the front must do (quit, send a call, save calls, …).
    package mutating func handle(key: Key) -> [InspectorAction] {
        if key == .ctrl("c") { return [.quit] }
        if key == .resize { return [] }
        if showHelp {
            if key == .char("q") { return [.quit] }
            showHelp = false
            return []
        }
        if prompt != nil { return handlePrompt(key) }
        // Keys that are never text: they work whatever has the focus (the client pane too).
        switch key {
        case .ctrl("n") where server?.held != nil: return [.releaseHeld]
        case .ctrl("r") where server != nil: return continueServing()
        case .ctrl("l"):
            // Back to the live slots, from anywhere.
            inspectedSeq = nil
            return []
        default: break
        }
        if latency.shown, let actions = handleLatency(key) { return actions }
        if focus == .client, let actions = handleClient(key) { return actions }
        if focus == .history, let actions = handleHistory(key) { return actions }
        if focus == .request || focus == .response, let actions = handleFieldCursor(key) { return actions }
        switch key {
        case .char("q"), .char("Q"): return [.quit]
        case .tab: cycleFocus(1)
        case .backTab: cycleFocus(-1)
        case .char("?"): showHelp = true
        case .char(" "): togglePause()
        case .char("h"), .char("t"): textView.toggle()
        case .char("f") where schema != nil: fieldsView.toggle()
        case .char("/"): prompt = Prompt(kind: .filter, text: filter?.text ?? "")
        case .up, .char("k"): scrollBy(-1)
        case .down, .char("j"): scrollBy(1)
        case .pageUp: scrollBy(-max(1, (pageRows[focus] ?? 5) - 1))
        case .pageDown: scrollBy(max(1, (pageRows[focus] ?? 5) - 1))
        case .home, .char("g"): scroll[focus] = 0
        case .end, .char("G"): scroll[focus] = Int.max / 2
        case .escape:
            if inspectedSeq != nil { inspectedSeq = nil } else { filter = nil; notice = nil }
        case .char("l"): inspectedSeq = nil
        case .char("X"): return exportHistory()
        case .char("W"): return recordHistory()
        case .char("s") where server != nil:
            server!.stepMode.toggle()
            return [.setStepMode(server!.stepMode)]
        case .char("n") where server?.held != nil: return [.releaseHeld]
        case .char("c") where server != nil: return continueServing()
        case .char("b") where server != nil: prompt = Prompt(kind: .breakpoints, text: server!.breakpoints)
        case .char("i"), .enter: focus = .client
        case .char("%"): latency.shown = true
        default: break
        }
        return []
    }

    /// Step mode off and the held call (if any) answered.
    mutating func continueServing() -> [InspectorAction] {
        server?.stepMode = false
        return server?.held != nil ? [.setStepMode(false), .releaseHeld] : [.setStepMode(false)]
    }

    // MARK: - history selection

    /// The history rows on screen: the kept records that pass the filter.
    package var shownRecords: [TraceRecord] {
        filter.map { f in history.records.filter(f.matches) } ?? history.records
    }

    /// Keys of the focused history: arrows select a call, Enter shows it in the dump panes,
    /// `x` exports it. Nil: not handled here.
    mutating func handleHistory(_ key: Key) -> [InspectorAction]? {
        let page = max(1, (pageRows[.history] ?? 5) - 1)
        switch key {
        case .up, .char("k"): moveSelection(-1)
        case .down, .char("j"): moveSelection(1)
        case .pageUp: moveSelection(-page)
        case .pageDown: moveSelection(page)
        case .home, .char("g"): moveSelection(-Int.max / 2)
        case .end, .char("G"): moveSelection(Int.max / 2)
        case .enter:
            if selectedSeq == nil { moveSelection(0) }
            inspectedSeq = selectedSeq
        case .char("x"):
            guard let seq = selectedSeq, let r = history.record(seq: seq) else {
                notice = "select a call first (\(glyphs.arrowUp)\(glyphs.arrowDown) in History), or X exports the whole history"
                return []
            }
            return [.export(name: "ipcscope-\(service)-seq\(seq)", text: exportLine(r) + "\n")]
        default: return nil
        }
        return []
    }

    /// Moves the selection by `delta` rows among the shown records (from the newest when none is selected).
    mutating func moveSelection(_ delta: Int) {
        let shown = shownRecords
        guard !shown.isEmpty else { selectedSeq = nil; return }
        var i = shown.count - 1
        if let seq = selectedSeq, let j = shown.firstIndex(where: { $0.seq >= seq }) {
            i = min(shown.count - 1, max(0, j + (delta < 0 ? max(delta, -j) : min(delta, shown.count - 1 - j))))
        }
        selectedSeq = shown[i].seq
    }

    // MARK: - export

    /// One call as a JSON line: the fields `watch --json` prints, plus the whole payloads
    /// when the call was seen whole.
    package func exportLine(_ r: TraceRecord) -> String {
        guard case .object(var pairs) = r.json else { return r.json.rendered }
        pairs.insert(("event", .string("call")), at: 0)
        if let w = history.whole(r) {
            pairs.append(("whole", .bool(true)))
            pairs.append(("request_hex", .hex(w.request)))
            pairs.append(("response_hex", .hex(w.response)))
        } else {
            pairs.append(("whole", .bool(false)))
        }
        if let rule = server?.rules[r.seq] { pairs.append(("rule", .string(rule))) }
        return JSON.object(pairs).rendered
    }

    /// Every kept call (filtered when a filter is set), oldest first.
    mutating func exportHistory() -> [InspectorAction] {
        let shown = shownRecords
        guard !shown.isEmpty else {
            notice = "nothing to export: no calls in the history" + (filter != nil ? " match the filter" : "")
            return []
        }
        return [.export(name: "ipcscope-\(service)-history", text: shown.map { exportLine($0) + "\n" }.joined())]
    }

    /// Every kept call (filtered when a filter is set), oldest first, as a recording that
    /// `replay`, `attach --file` and Wireshark read: the calls seen whole with both payloads,
    /// the others partial (the trace's first request bytes), as `record` writes them.
    mutating func recordHistory() -> [InspectorAction] {
        let shown = shownRecords
        guard !shown.isEmpty else {
            notice = "nothing to record: no calls in the history" + (filter != nil ? " match the filter" : "")
            return []
        }
        guard recording == nil, let snap = latest ?? snapshot, let l = snap.layout else {
            notice = recording != nil ? "this is a recording already: open it with replay or Wireshark" : "nothing to record with yet: no valid snapshot of the section (its layout is unknown)"
            return []
        }
        let interface = RecordedInterface(service: service, epoch: snap.serverEpoch,
                                          requestCapacity: UInt32(clamping: l.requestCapacity),
                                          responseCapacity: UInt32(clamping: l.responseCapacity),
                                          traceCapacity: UInt32(clamping: l.traceCapacity),
                                          createdUnixNS: snap.identity?.createdUnixNS ?? 0)
        let calls = shown.map { r in
            let w = history.whole(r)
            return RecordedCall(trace: r, request: w?.request, response: w?.response, epoch: snap.serverEpoch)
        }
        return [.record(name: "ipcscope-\(service)-history", interface: interface, calls: calls,
                        missed: filter == nil ? history.missed : 0)]
    }

    mutating func togglePause() {
        paused.toggle()
        if !paused, let l = latest {
            snapshot = l
            requestDiff.update(l.requestArea)
            responseDiff.update(l.responseArea)
        }
    }

    mutating func cycleFocus(_ step: Int) {
        let all = Pane.allCases
        let i = (focus.rawValue + step + all.count) % all.count
        focus = all[i]
    }

    /// Scrolls the focused pane; the history counts lines up from the newest.
    mutating func scrollBy(_ delta: Int) {
        scroll[focus] = max(0, (scroll[focus] ?? 0) + delta)
    }

    mutating func handlePrompt(_ key: Key) -> [InspectorAction] {
        guard var p = prompt else { return [] }
        switch key {
        case .escape:
            prompt = nil
            return []
        case .enter:
            prompt = nil
            let text = p.text.trimmingCharacters(" ")
            switch p.kind {
            case .filter:
                do throws(CallFilterError) {
                    filter = text.isEmpty ? nil : try HistoryFilter(parsing: text)
                } catch {
                    notice = "filter not applied: \(error)"
                    return []
                }
                if notice?.hasPrefix("filter not applied") == true { notice = nil }
                scroll[.history] = 0
                return []
            case .breakpoints:
                do throws(CallFilterError) {
                    _ = try Breakpoints(parsing: text)
                } catch {
                    notice = "breakpoints not set: \(error)"
                    return []
                }
                if notice?.hasPrefix("breakpoints not set") == true { notice = nil }
                server?.breakpoints = text
                return [.setBreakpoints(text)]
            }
        case .backspace, .delete:
            if !p.text.isEmpty { p.text.removeLast() }
        case .ctrl("u"):
            p.text = ""
        case .char(let c):
            p.text.append(c)
        default:
            break
        }
        prompt = p
        return []
    }

    /// Keys for the client pane; nil means "not handled here, use the global meaning".
    mutating func handleClient(_ key: Key) -> [InspectorAction]? {
        if var name = client.naming {
            switch key {
            case .escape: client.naming = nil
            case .enter:
                client.naming = nil
                let n = name.trimmingCharacters(" ")
                guard !n.isEmpty, !n.contains(" ") else {
                    client.problem = "a saved call needs a one-word name"
                    return []
                }
                client.saved.removeAll { $0.name == n }
                client.saved.append(SavedCall(name: n, input: client.input, hex: client.hex))
                client.problem = nil
                client.info = "saved as @\(n)"
                return [.saveCalls(client.saved)]
            case .backspace, .delete:
                if !name.isEmpty { name.removeLast() }
                client.naming = name
            case .char(let c): client.naming = name + String(c)
            default: break
            }
            return []
        }
        if key != .tab && key != .resize { client.completions = [] }
        switch key {
        case .tab: return completeInput()
        case .backTab, .resize: return nil
        case .escape where client.canGiveUp:
            // A call in flight: the first Esc gives it up (the front lets the in-process server's
            // held call go, or tells the client to stop waiting); the next Esc is Esc again.
            return [.cancelCall]
        case .escape:
            if client.input.isEmpty { focus = .request } else { client.input = "" }
            client.problem = nil
            client.info = nil
            client.recallIndex = nil
        case .char(let c):
            client.input.append(c)
            client.problem = nil
            client.info = nil
            client.recallIndex = nil
        case .backspace, .delete:
            if !client.input.isEmpty { client.input.removeLast() }
            client.problem = nil
        case .ctrl("u"):
            client.input = ""
        case .ctrl("t"), .ctrl("x"):
            client.hex.toggle()
        case .ctrl("s"):
            client.naming = ""
        case .up:
            guard !client.recall.isEmpty else { break }
            let i = max(0, (client.recallIndex ?? client.recall.count) - 1)
            client.recallIndex = i
            client.input = client.recall[i]
        case .down:
            guard let i = client.recallIndex else { break }
            if i + 1 < client.recall.count {
                client.recallIndex = i + 1
                client.input = client.recall[i + 1]
            } else {
                client.recallIndex = nil
                client.input = ""
            }
        case .enter:
            // A pasted xxd / hexdump -C line continues the input instead of sending it.
            let lines = client.input.split(separator: "\n", omittingEmptySubsequences: false)
            if client.hex, var lastLine = lines.last {
                if lines.count == 1 { lastLine = lastLine.drop { $0 == " " }.drop { $0 != " " } }
                guard !InspectorModel.looksLikeDumpLine(lastLine) else {
                    client.input.append("\n")
                    return []
                }
            }
            return sendInput()
        default:
            return nil
        }
        return []
    }

    /// Parses the input line and starts the call.
    mutating func sendInput() -> [InspectorAction] {
        var input = client.input
        var hex = client.hex
        if let t = timeoutCommand(input) {
            switch t {
            case .success(let ns):
                client.timeoutNS = ns
                client.info = "calls now wait " + (ns == 0 ? "until answered" : "at most " + formatDuration(ns))
                client.input = ""
            case .failure(let e): client.problem = e.description
            }
            return []
        }
        if input.hasPrefix("@") {
            let name = String(input.dropFirst()).trimmingCharacters(" ")
            guard let s = client.saved.first(where: { $0.name == name }) else {
                client.problem = "no saved call named '\(name)'"
                return []
            }
            input = s.input
            hex = s.hex
        }
        if case .readOnly(let why) = client.writability {
            client.problem = why
            return []
        }
        guard !client.inFlight else {
            client.problem = "a call is still running"
            return []
        }
        let call: ClientCall
        do {
            call = try schemaCall(input) ?? InspectorModel.parseCall(input, hex: hex)
        } catch {
            client.problem = "\(error)"
            return []
        }
        if client.recall.last != client.input && !client.input.isEmpty { client.recall.append(client.input) }
        if client.recall.count > 200 { client.recall.removeFirst() }
        client.recallIndex = nil
        client.input = ""
        client.problem = nil
        client.inFlight = true
        client.info = nil
        var timed = call
        // A call held by step mode or a breakpoint waits until it is answered or cancelled.
        timed.timeoutNS = client.timeoutNS == 0 || server != nil && (server!.stepMode || !server!.breakpoints.isEmpty) ? nil : client.timeoutNS
        return [.send(timed)]
    }

    /// `timeout 30s` (`timeout 0` or `timeout off`: wait until answered); nil when the input is a call.
    func timeoutCommand(_ input: String) -> Result<UInt64, PayloadSyntaxError>? {
        let words = input.split(separator: " ")
        guard words.first == "timeout" else { return nil }
        guard words.count == 2 else { return .failure(PayloadSyntaxError("type 'timeout 30s' (or 'timeout off' to wait until answered)")) }
        let w = String(words[1])
        if w == "off" || w == "0" { return .success(0) }
        guard let ns = parseDurationNS(w), ns > 0 else {
            return .failure(PayloadSyntaxError("'\(w)' is not a duration: type 'timeout 30s', 'timeout 500ms' or 'timeout off'"))
        }
        return .success(UInt64(ns))
    }

    /// `FUNCTION [PAYLOAD]`: payload as text with escapes, or hex (pasted dumps allowed).
    package static func parseCall(_ input: String, hex: Bool) throws -> ClientCall {
        let trimmed = input.drop { $0 == " " }
        let fnText = trimmed.prefix { $0 != " " && $0 != "\n" }
        guard let function = UInt32(fnText) else {
            throw PayloadSyntaxError(fnText.isEmpty
                ? "type a function number, then the payload: 1 hello\\n"
                : "'\(fnText)' is not a function number: type 'FUNCTION PAYLOAD', like 1 hello\\n")
        }
        var rest = trimmed.dropFirst(fnText.count)
        if rest.first == " " || rest.first == "\n" { rest = rest.dropFirst() }
        let payload = hex ? try parseHex(String(rest)) : try unescape(String(rest))
        return ClientCall(function: function, payload: payload)
    }

    /// A line that starts with a dump offset: `00000010  48 65` or `00000010: 4865`, or a
    /// dump's `*` line (the line above repeats up to the next offset, which follows).
    static func looksLikeDumpLine(_ line: Substring) -> Bool {
        let t = line.drop { $0 == " " }
        if t.filter({ !$0.isWhitespace }) == "*" { return true }
        guard t.count > 9, t.prefix(8).allSatisfy(\.isHexDigit) else { return false }
        let after = t.dropFirst(8)
        return after.hasPrefix(":") || after.hasPrefix("  ")
    }
}

extension String {
    /// The string without leading and trailing `c`.
    func trimmingCharacters(_ c: Character) -> String {
        var s = Substring(self)
        while s.first == c { s.removeFirst() }
        while s.last == c { s.removeLast() }
        return String(s)
    }
}
