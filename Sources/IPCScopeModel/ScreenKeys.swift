/// Key handling: a pure function of the model's state and the key.
extension InspectorModel {
    /// Applies `key`; returns what the front must do (quit, send a call, save calls, …).
    public mutating func handle(key: Key) -> [InspectorAction] {
        if key == .ctrl("c") { return [.quit] }
        if key == .resize { return [] }
        if showHelp {
            if key == .char("q") { return [.quit] }
            showHelp = false
            return []
        }
        if prompt != nil { return handlePrompt(key) }
        if focus == .client, let actions = handleClient(key) { return actions }
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
        case .home, .char("g"): scroll[focus] = focus == .history ? Int.max / 2 : 0
        case .end, .char("G"): scroll[focus] = focus == .history ? 0 : Int.max / 2
        case .escape: filter = nil; notice = nil
        case .char("s") where server != nil:
            server!.stepMode.toggle()
            return [.setStepMode(server!.stepMode)]
        case .char("n") where server?.held != nil: return [.releaseHeld]
        case .char("c") where server != nil:
            server!.stepMode = false
            return server!.held != nil ? [.setStepMode(false), .releaseHeld] : [.setStepMode(false)]
        case .char("b") where server != nil: prompt = Prompt(kind: .breakpoints, text: server!.breakpoints)
        case .char("i"), .enter: focus = .client
        default: break
        }
        return []
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
        let cur = scroll[focus] ?? 0
        let d = focus == .history ? -delta : delta
        scroll[focus] = max(0, cur + d)
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
                return [.saveCalls(client.saved)]
            case .backspace, .delete:
                if !name.isEmpty { name.removeLast() }
                client.naming = name
            case .char(let c): client.naming = name + String(c)
            default: break
            }
            return []
        }
        switch key {
        case .tab, .backTab, .resize: return nil
        case .escape:
            if client.input.isEmpty { focus = .request } else { client.input = "" }
            client.problem = nil
            client.recallIndex = nil
        case .char(let c):
            client.input.append(c)
            client.problem = nil
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
        return [.send(call)]
    }

    /// `FUNCTION [PAYLOAD]`: payload as text with escapes, or hex (pasted dumps allowed).
    public static func parseCall(_ input: String, hex: Bool) throws -> ClientCall {
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
