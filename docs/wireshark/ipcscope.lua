-- Wireshark dissector for recordings made by `ipcscope record` (pcapng, link type
-- LINKTYPE_USER0 = 147). Each call is two packets, a request (inbound) and a response
-- (outbound), each a 64-byte little-endian header followed by the payload:
--
--   off size field
--    0   4   magic "IPCS"
--    4   1   version (1)
--    5   1   direction: 0 request, 1 response
--    6   2   flags: bit 0 partial, bit 1 rejected, bit 2 after a mutex recovery
--    8   8   seq
--   16   4   function
--   20   4   status (signed; the answer's, in both packets)
--   24   4   request_size
--   28   4   response_size
--   32   4   client_pid
--   36   4   client_tid (0 when unknown)
--   40   4   server_epoch
--   44   4   payload_length (the bytes that follow; less than the size when partial)
--   48   8   sent_ns (CLOCK_MONOTONIC of the server's host)
--   56   8   done_ns
--   64   ... payload
--
-- Install: copy this file to ~/.local/lib/wireshark/plugins/ (or run
-- `wireshark -X lua_script:ipcscope.lua calls.pcapng`). See docs/recording.md.

local ipcscope = Proto("ipcscope", "ipcscope shared-memory IPC call")

local directions = { [0] = "Request", [1] = "Response" }

local f = {
    magic          = ProtoField.string("ipcscope.magic", "Magic"),
    version        = ProtoField.uint8("ipcscope.version", "Record version"),
    direction      = ProtoField.uint8("ipcscope.direction", "Direction", base.DEC, directions),
    flags          = ProtoField.uint16("ipcscope.flags", "Flags", base.HEX),
    partial        = ProtoField.bool("ipcscope.flags.partial", "Partial (payloads moved on before they could be copied)", 16, nil, 0x0001),
    rejected       = ProtoField.bool("ipcscope.flags.rejected", "Rejected by the server (size over capacity)", 16, nil, 0x0002),
    after_recovery = ProtoField.bool("ipcscope.flags.after_recovery", "After a mutex recovery", 16, nil, 0x0004),
    seq            = ProtoField.uint64("ipcscope.seq", "Sequence number"),
    func           = ProtoField.uint32("ipcscope.function", "Function"),
    status         = ProtoField.int32("ipcscope.status", "Status"),
    request_size   = ProtoField.uint32("ipcscope.request_size", "Request size"),
    response_size  = ProtoField.uint32("ipcscope.response_size", "Response size"),
    client_pid     = ProtoField.int32("ipcscope.client_pid", "Client pid"),
    client_tid     = ProtoField.int32("ipcscope.client_tid", "Client tid"),
    epoch          = ProtoField.uint32("ipcscope.epoch", "Server epoch"),
    payload_length = ProtoField.uint32("ipcscope.payload_length", "Payload bytes recorded"),
    sent_ns        = ProtoField.uint64("ipcscope.sent_ns", "Sent (CLOCK_MONOTONIC ns)"),
    done_ns        = ProtoField.uint64("ipcscope.done_ns", "Done (CLOCK_MONOTONIC ns)"),
    latency_ns     = ProtoField.uint64("ipcscope.latency_ns", "Latency (ns, sent to done)"),
    payload        = ProtoField.bytes("ipcscope.payload", "Payload"),
    payload_text   = ProtoField.string("ipcscope.payload_text", "Payload as text"),
    -- frametype (Wireshark 3.6 and later) draws the request/response arrows in the packet list.
    response_in    = ProtoField.framenum("ipcscope.response_in", "Response in", base.NONE, frametype and frametype.RESPONSE),
    request_in     = ProtoField.framenum("ipcscope.request_in", "Request in", base.NONE, frametype and frametype.REQUEST),
}
ipcscope.fields = f

local e_partial = ProtoExpert.new("ipcscope.partial.expert", "Partial call: only part of the payload was recorded",
                                  expert.group.UNDECODED, expert.severity.WARN)
local e_bad = ProtoExpert.new("ipcscope.malformed", "Not an ipcscope record (bad magic, version or length)",
                              expert.group.MALFORMED, expert.severity.ERROR)
ipcscope.experts = { e_partial, e_bad }

local interface_id = Field.new("frame.interface_id")

-- Frame numbers of each call's two packets, by interface and seq (seq restarts with a new section).
local requests, responses = {}, {}
function ipcscope.init()
    requests, responses = {}, {}
end

-- Bytes as text: printable ASCII as is, everything else as '.'.
local function as_text(tvb_range)
    local bytes = tvb_range:bytes()
    local out = {}
    for i = 0, bytes:len() - 1 do
        local b = bytes:get_index(i)
        out[#out + 1] = (b >= 0x20 and b < 0x7f) and string.char(b) or "."
    end
    return table.concat(out)
end

function ipcscope.dissector(tvb, pinfo, tree)
    pinfo.cols.protocol = "IPCSCOPE"
    local subtree = tree:add(ipcscope, tvb(), "ipcscope call")
    if tvb:len() < 64 or tvb(0, 4):string() ~= "IPCS" or tvb(4, 1):uint() ~= 1 then
        subtree:add_proto_expert_info(e_bad)
        pinfo.cols.info = "not an ipcscope record"
        return
    end
    local direction = tvb(5, 1):uint()
    local seq = tvb(8, 8):le_uint64()
    local func = tvb(16, 4):le_uint()
    local status = tvb(20, 4):le_int()
    local length = tvb(44, 4):le_uint()
    local sent, done = tvb(48, 8):le_uint64(), tvb(56, 8):le_uint64()

    subtree:add(f.magic, tvb(0, 4))
    subtree:add(f.version, tvb(4, 1))
    subtree:add(f.direction, tvb(5, 1))
    local flags = subtree:add_le(f.flags, tvb(6, 2))
    flags:add_le(f.partial, tvb(6, 2))
    flags:add_le(f.rejected, tvb(6, 2))
    flags:add_le(f.after_recovery, tvb(6, 2))
    subtree:add_le(f.seq, tvb(8, 8))
    subtree:add_le(f.func, tvb(16, 4))
    subtree:add_le(f.status, tvb(20, 4))
    subtree:add_le(f.request_size, tvb(24, 4))
    subtree:add_le(f.response_size, tvb(28, 4))
    subtree:add_le(f.client_pid, tvb(32, 4))
    subtree:add_le(f.client_tid, tvb(36, 4))
    subtree:add_le(f.epoch, tvb(40, 4))
    subtree:add_le(f.payload_length, tvb(44, 4))
    subtree:add_le(f.sent_ns, tvb(48, 8))
    subtree:add_le(f.done_ns, tvb(56, 8))
    if done >= sent then
        subtree:add(f.latency_ns, done - sent):set_generated()
    end
    if bit.band(tvb(6, 2):le_uint(), 1) ~= 0 then
        subtree:add_proto_expert_info(e_partial)
    end

    local available = tvb:len() - 64
    if length > available then
        subtree:add_proto_expert_info(e_bad, "payload_length runs past the packet")
        length = available
    end
    if length > 0 then
        local range = tvb(64, length)
        subtree:add(f.payload, range)
        subtree:add(f.payload_text, range, as_text(range))
    end

    -- Link request and response (same interface, same seq).
    local iface = interface_id()
    local key = tostring(iface and iface.value or 0) .. ":" .. tostring(seq)
    if direction == 0 then
        requests[key] = pinfo.number
        if responses[key] then subtree:add(f.response_in, responses[key]):set_generated() end
    else
        responses[key] = pinfo.number
        if requests[key] then subtree:add(f.request_in, requests[key]):set_generated() end
    end

    local size = direction == 0 and tvb(24, 4):le_uint() or tvb(28, 4):le_uint()
    if direction == 0 then
        pinfo.cols.info = string.format("Request  seq=%s function=%d %d bytes", tostring(seq), func, size)
    else
        pinfo.cols.info = string.format("Response seq=%s status=%d %d bytes", tostring(seq), status, size)
    end
    subtree:append_text(string.format(", %s seq %s, function %d, status %d", directions[direction] or "?", tostring(seq), func, status))
end

local encap = (wtap_encaps and wtap_encaps.USER0) or wtap.USER0
DissectorTable.get("wtap_encap"):add(encap, ipcscope)
