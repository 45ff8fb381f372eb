// Giving up a call from another thread: while it waits for its answer, and while it waits for
// the mutex. The server still answers a request it was handed, and the next call gets its own
// answer, not the one given up.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import IPCScopeKit
import Synchronization
import Testing
import TestSupport
import IPCScopePOSIX

@Suite("Call cancellation", .serialized)
struct CallCancellationTests {
    /// An in-process server: function 1 sleeps `slow` seconds, then every call echoes.
    final class SlowServer: @unchecked Sendable {
        let server: Server
        let thread: OSThread
        init(_ name: String, slow: Double) throws {
            let s = try Server(service: name)
            server = s
            thread = try OSThread {
                s.run { request, response in
                    if request.function == 1 { sleepSeconds(slow) }
                    try response.set(Array(request.payload))
                    return Int32(request.function)
                }
            }
        }
        func stop() async {
            server.stop()
            thread.join()
        }
    }

    /// Runs `body` on its own thread; the result when it ends.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> (done: () -> T?, finished: () -> Bool) {
        let box = Mutex<T?>(nil)
        let thread = Thread { box.withLock { $0 = body() } }
        thread.start()
        return ({ box.withLock { $0 } }, { box.withLock { $0 != nil } })
    }

    @Test("a call waiting for its answer is given up; the server still answers it; the next call gets its own answer")
    func cancelWhileWaitingForTheAnswer() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cancel")
        let server = try SlowServer(name, slow: 3)
        let client = try Client(service: name)
        let token = CallCancellation()
        let started = now()
        let call = Self.onThread { () -> String in
            do throws(IPCError) {
                _ = try client.call(function: 1, payload: Array("first".utf8), timeout: .seconds(30), cancellation: token)
                return "answered"
            } catch { return error.code.rawValue }
        }
        sleepSeconds(0.3)
        token.cancel()
        #expect(waitUntil(timeout: 10) { call.finished() })
        let elapsed = now() - started
        #expect(call.done() == "cancelled")
        #expect(elapsed < 2.5, "given up after \(elapsed) s, before the 3 s handler ended")
        // The next call waits for the server to finish the first, then gets its own answer.
        let reply = try client.call(function: 2, payload: Array("second".utf8), timeout: .seconds(20))
        #expect(reply.status == 2 && reply.data == Array("second".utf8), "\(reply)")
        client.disconnect()
        await server.stop()
    }

    @Test("a call waiting for the mutex another client holds is given up; the holder's call is untouched")
    func cancelWhileWaitingForTheMutex() async throws {
        let scope = TestScope()
        defer { scope.cleanup() }
        let name = scope.serviceName("cancelmx")
        let server = try SlowServer(name, slow: 3)
        let holder = try Client(service: name)
        let waiter = try Client(service: name)
        let held = Self.onThread { () -> [UInt8] in
            (try? holder.call(function: 1, payload: Array("held".utf8), timeout: .seconds(30)))?.data ?? []
        }
        sleepSeconds(0.3)  // the holder's call is in the slow handler, the mutex is taken
        let token = CallCancellation()
        let started = now()
        let waiting = Self.onThread { () -> String in
            do throws(IPCError) {
                _ = try waiter.call(function: 2, payload: Array("waiting".utf8), timeout: .seconds(30), cancellation: token)
                return "answered"
            } catch { return error.code.rawValue }
        }
        sleepSeconds(0.3)
        token.cancel()
        #expect(waitUntil(timeout: 10) { waiting.finished() })
        #expect(waiting.done() == "cancelled")
        #expect(now() - started < 2.5, "given up before the holder's call ended")
        #expect(waitUntil(timeout: 20) { held.finished() })
        #expect(held.done() == Array("held".utf8), "the holder got its own answer")
        // The waiter is usable again with a new token.
        let reply = try waiter.call(function: 2, payload: [7], timeout: .seconds(10), cancellation: CallCancellation())
        #expect(reply.data == [7])
        holder.disconnect()
        waiter.disconnect()
        await server.stop()
    }
}
