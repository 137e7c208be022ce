/// The life of one connection as a value: its phase, the clock readings its timeouts
/// are measured from, and the rules that turn events into actions. It does no I/O and
/// reads no clock (every event carries `now`, in nanoseconds of a monotonic clock), so
/// the rules are tested with a fake clock (`ConnectionStateTests`); `Connection` feeds
/// it events and performs the actions it returns.
package struct ConnectionState: Sendable {
    package enum Phase: Equatable, Sendable {
        /// Reading requests and writing responses.
        case open
        /// No more requests are read: the responses in flight are written, then the
        /// connection closes (lingering).
        case closingAfterFlush
        /// Write side shut down; input read and dropped until EOF, the deadline or the
        /// byte budget (lingering close: unread input would make the kernel send RST).
        case lingering(until: UInt64, bytesLeft: Int)
        case closed
    }

    /// What the connection must do after a timer tick.
    package enum Action: Equatable, Sendable {
        case none
        /// Answer 408 with this message and close after it.
        case timeout(String)
        /// Idle too long (or draining): close now, without lingering.
        case close
        /// Lingering is over: release the socket.
        case finalClose
    }

    /// What the connection looks like at a tick, for the rules that depend on it.
    package struct Snapshot: Sendable {
        /// Requests answered or in progress (responses not yet written).
        package var responsesPending: Bool
        /// The parser holds part of a request.
        package var requestInProgress: Bool
        /// The parser is still in the request line or headers of that request.
        package var receivingHead: Bool
        /// Bytes of responses not yet written to the socket.
        package var outputPending: Bool

        package init(responsesPending: Bool = false, requestInProgress: Bool = false, receivingHead: Bool = false, outputPending: Bool = false) {
            self.responsesPending = responsesPending; self.requestInProgress = requestInProgress
            self.receivingHead = receivingHead; self.outputPending = outputPending
        }

        package var idle: Bool { !responsesPending && !requestInProgress && !outputPending }
    }

    package let config: Connection.Config
    package private(set) var phase: Phase = .open
    /// Last byte read or last output completed.
    package private(set) var lastActivity: UInt64
    /// When the request being received started (nil: none is arriving).
    package private(set) var requestStarted: UInt64?
    /// When the server began draining (nil: not draining).
    package private(set) var drainStarted: UInt64?
    /// Responses written so far.
    package private(set) var served = 0

    package init(config: Connection.Config, now: UInt64) {
        self.config = config
        lastActivity = now
    }

    package var isOpen: Bool { phase == .open }
    package var isClosed: Bool { phase == .closed }
    package var isLingering: Bool { if case .lingering = phase { return true }; return false }
    /// Reading requests is over (closing after the responses in flight, lingering, or closed).
    package var stopsReading: Bool { phase != .open }

    // MARK: events

    /// Bytes arrived; `requestStarted` is set by the first bytes of a request.
    package mutating func received(now: UInt64) {
        lastActivity = now
        if requestStarted == nil { requestStarted = now }
    }

    /// The parser finished a request; `stillInProgress`: the next one has begun in the
    /// same read (pipelining), and its clock starts now.
    package mutating func requestParsed(stillInProgress: Bool, now: UInt64) {
        requestStarted = stillInProgress ? now : nil
    }

    /// The parser waits for more input and holds no partial request.
    package mutating func betweenRequests() { requestStarted = nil }

    /// All output so far is written.
    package mutating func outputFlushed(now: UInt64) { lastActivity = now }

    /// A response was serialised; whether the connection stays open after it.
    package mutating func responded(requestedKeepAlive: Bool, draining: Bool, lastBeforeClose: Bool) -> Bool {
        served += 1
        let keep = requestedKeepAlive && !draining && !lastBeforeClose
        if !keep { stopReading() }
        return keep
    }

    /// No more requests: finish the responses in flight, then close.
    package mutating func stopReading() {
        if phase == .open { phase = .closingAfterFlush }
    }

    /// The server began draining.
    package mutating func drain(now: UInt64) { drainStarted = now }

    /// The connection ends: true if it lingers (when asked and configured; the caller
    /// shuts the write side and drains input), false if the caller closes it now (then
    /// `closed()`).
    package mutating func beginClose(linger: Bool, now: UInt64) -> Bool {
        guard phase == .open || phase == .closingAfterFlush, linger, config.lingerSeconds > 0 else { return false }
        phase = .lingering(until: now + UInt64(config.lingerSeconds * 1e9), bytesLeft: config.lingerBytes)
        return true
    }

    /// Input dropped while lingering; true when the byte budget is spent (close now).
    package mutating func discarded(_ n: Int) -> Bool {
        guard case let .lingering(until, left) = phase else { return false }
        phase = .lingering(until: until, bytesLeft: left - n)
        return left - n <= 0
    }

    package mutating func closed() { phase = .closed }

    /// Pipelining: with this many responses pending, reading pauses until one is written.
    package func pausesReading(pendingResponses n: Int) -> Bool { n >= config.maxPipelined }

    /// Whether a request should keep the connection open, before it is answered.
    package static func keepAlive(requested: Bool, draining: Bool, probeOnly: Bool) -> Bool {
        requested && !draining && !probeOnly
    }

    // MARK: the clock

    /// The timeout rules, evaluated once per timer tick:
    /// - lingering ends at its deadline;
    /// - a request that has started must have its header section within `headerTimeout`
    ///   and all of it within `readTimeout` (else 408), unless responses are pending;
    /// - an idle connection closes after `headerTimeout` if it never sent a request
    ///   (silent clients), else after `idleTimeout`; while draining, after `drainIdleGrace`.
    package func tick(now: UInt64, _ s: Snapshot) -> Action {
        switch phase {
        case .closed: return .none
        case let .lingering(until, _): return now >= until ? .finalClose : .none
        case .open, .closingAfterFlush: break
        }
        func seconds(since t: UInt64) -> Double { now > t ? Double(now - t) / 1e9 : 0 }
        if let st = requestStarted, !s.responsesPending {
            let age = seconds(since: st)
            if s.receivingHead && age > config.headerTimeout {
                return .timeout("request line and headers not received within \(config.headerTimeout) s")
            }
            if age > config.readTimeout { return .timeout("request not received within \(config.readTimeout) s") }
        }
        if s.idle {
            let limit = served == 0 ? config.headerTimeout : config.idleTimeout
            let graceOver = drainStarted.map { seconds(since: $0) > config.drainIdleGrace } ?? false
            if seconds(since: lastActivity) > limit || graceOver { return .close }
        }
        return .none
    }
}
