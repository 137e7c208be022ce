import Testing
@testable import HTTP

/// The connection's rules on a fake clock: no sockets, no sleeping.
@Suite struct ConnectionStateRules {
    static let s: UInt64 = 1_000_000_000  // one second in the clock's nanoseconds
    let config = Connection.Config(readTimeout: 30, headerTimeout: 10, idleTimeout: 60, maxPipelined: 4, lingerSeconds: 2, lingerBytes: 1000)
    typealias Snap = ConnectionState.Snapshot

    @Test("a connection that never sends a byte closes after the header timeout, not the idle timeout")
    func silent() {
        let c = ConnectionState(config: config, now: 100 * Self.s)
        #expect(c.tick(now: 109 * Self.s, Snap()) == .none)
        #expect(c.tick(now: 111 * Self.s, Snap()) == .close)
    }

    @Test("a served keep-alive connection stays open for the idle timeout")
    func keepAlive() {
        var c = ConnectionState(config: config, now: 0)
        c.received(now: 1 * Self.s)
        c.requestParsed(stillInProgress: false, now: 1 * Self.s)
        let kept = c.responded(requestedKeepAlive: true, draining: false, lastBeforeClose: false)
        #expect(kept)
        c.outputFlushed(now: 2 * Self.s)
        #expect(c.isOpen && c.served == 1)
        #expect(c.tick(now: 30 * Self.s, Snap()) == .none)  // past the header timeout: still open
        #expect(c.tick(now: 61 * Self.s, Snap()) == .none)
        #expect(c.tick(now: 63 * Self.s, Snap()) == .close)
        // Not idle (a response is pending): never closed for idleness.
        #expect(c.tick(now: 1000 * Self.s, Snap(responsesPending: true)) == .none)
    }

    @Test("a header that trickles in gets 408 after the header timeout; a slow body after the read timeout")
    func slowRequests() {
        var c = ConnectionState(config: config, now: 0)
        c.received(now: 0)
        #expect(c.tick(now: 9 * Self.s, Snap(requestInProgress: true, receivingHead: true)) == .none)
        c.received(now: 9 * Self.s)  // another byte: the clock runs from the request's start, not the last byte
        guard case .timeout = c.tick(now: 11 * Self.s, Snap(requestInProgress: true, receivingHead: true)) else {
            Issue.record("no 408 for a trickling header"); return
        }
        var b = ConnectionState(config: config, now: 0)
        b.received(now: 0)
        #expect(b.tick(now: 29 * Self.s, Snap(requestInProgress: true)) == .none)
        guard case let .timeout(m) = b.tick(now: 31 * Self.s, Snap(requestInProgress: true)) else { Issue.record("no 408 for a slow body"); return }
        #expect(m.contains("30"))
        // While a response is pending the request clock does not apply (the server is the slow one).
        #expect(b.tick(now: 100 * Self.s, Snap(responsesPending: true, requestInProgress: true)) == .none)
    }

    @Test("pipelining: reading pauses at maxPipelined pending responses and resumes below")
    func pipelining() {
        let c = ConnectionState(config: config, now: 0)
        #expect(!c.pausesReading(pendingResponses: 3))
        #expect(c.pausesReading(pendingResponses: 4))
        var d = ConnectionState(config: config, now: 0)
        d.received(now: 0)
        d.requestParsed(stillInProgress: true, now: 5 * Self.s)  // the next request began in the same read
        #expect(d.requestStarted == 5 * Self.s)
    }

    @Test("draining: requests are answered with Connection: close; an idle connection closes after the grace period")
    func drain() {
        var c = ConnectionState(config: config, now: 0)
        c.received(now: 0); c.requestParsed(stillInProgress: false, now: 0)
        let kept = c.responded(requestedKeepAlive: true, draining: false, lastBeforeClose: false)
        #expect(kept)
        c.drain(now: 10 * Self.s)
        #expect(!ConnectionState.keepAlive(requested: true, draining: true, probeOnly: false))
        #expect(c.tick(now: 10 * Self.s + Self.s / 2, Snap()) == .none)
        #expect(c.tick(now: 12 * Self.s, Snap()) == .close)
        let keptWhileDraining = c.responded(requestedKeepAlive: true, draining: true, lastBeforeClose: false)
        #expect(!keptWhileDraining)
        #expect(c.stopsReading)
    }

    @Test("lingering close: ends at its deadline or when the byte budget is spent; no timeouts meanwhile")
    func linger() {
        var c = ConnectionState(config: config, now: 0)
        c.stopReading()
        let lingers = c.beginClose(linger: true, now: 5 * Self.s)
        #expect(lingers && c.isLingering)
        #expect(c.tick(now: 6 * Self.s, Snap(requestInProgress: true, receivingHead: true)) == .none)
        #expect(c.tick(now: 7 * Self.s, Snap()) == .finalClose)
        let spent999 = c.discarded(999), spent1000 = c.discarded(1)
        #expect(!spent999 && spent1000)
        // Without lingering configured (or asked), the caller closes at once.
        var d = ConnectionState(config: Connection.Config(lingerSeconds: 0), now: 0)
        let dLingers = d.beginClose(linger: true, now: 0)
        #expect(!dLingers && !d.isLingering)
        d.closed()
        #expect(d.isClosed && d.tick(now: 1000 * Self.s, Snap()) == .none)
    }
}
