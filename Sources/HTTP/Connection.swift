import Dispatch
import Foundation

/// One client connection: non-blocking socket driven by Dispatch sources on a serial
/// queue; incremental parsing; pipelined responses written in request order;
/// header, body and idle timeouts; lingering close.
///
/// Sendable because all mutable state is touched only on `queue` (checked with
/// `dispatchPrecondition` in the entry points); other threads only enqueue work on it.
package final class Connection: @unchecked Sendable {
    package struct Config: Sendable {
        package var limits = HTTPLimits()
        /// Seconds to receive a whole request once it has started (408).
        package var readTimeout = 30.0
        /// Seconds for a new connection's first request line and headers, and for any
        /// request's header section once it has started (slow or silent clients).
        package var headerTimeout = 10.0
        package var idleTimeout = 60.0
        package var maxPipelined = 16
        /// After the last response of a connection the server closes: how long, and how
        /// many bytes, it keeps reading and discarding the client's input before closing,
        /// so the kernel does not answer unread input with RST (which would destroy the
        /// response in flight).
        package var lingerSeconds = 2.0
        package var lingerBytes = 64 << 20
        /// While the server drains, how long an idle keep-alive connection stays open to
        /// answer a request already on its way (with Connection: close) before it is closed.
        package var drainIdleGrace = 1.0
        /// The paths a probe-only connection (admitted on a reserved slot) serves: the
        /// application's health routes; the HTTP layer knows none of its own.
        package var probePaths: Set<String> = []
        /// The body of every refusal the HTTP layer itself sends (parser limits, timeouts,
        /// connection limits, plain HTTP on a TLS port); the application's error format.
        package var renderError: @Sendable (HTTPError) -> HTTPResponse = HTTPResponse.plainError
        /// The Server header's value (nil: no Server header).
        package var serverName: String? = nil

        package init(
            limits: HTTPLimits = HTTPLimits(), readTimeout: Double = 30, headerTimeout: Double = 10, idleTimeout: Double = 60,
            maxPipelined: Int = 16, lingerSeconds: Double = 2, lingerBytes: Int = 64 << 20
        ) {
            self.limits = limits; self.readTimeout = readTimeout; self.headerTimeout = headerTimeout; self.idleTimeout = idleTimeout
            self.maxPipelined = maxPipelined; self.lingerSeconds = lingerSeconds; self.lingerBytes = lingerBytes
        }
    }

    package let fd: Int32
    package let queue: DispatchQueue
    package let config: Config
    package let server: HTTPServer  // strong: the server outlives its connections (cycle broken in close())
    /// Accepted beyond --max-connections on a slot reserved for probes: it serves one
    /// request of `Config.probePaths` and closes; anything else gets 503.
    package let probeOnly: Bool
    /// The TLS session over the socket (nil: plain TCP).
    private let tls: TLSSession?
    private var parser: HTTPParser
    private let readSource: DispatchSourceRead
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var out: [UInt8] = []
    private var outPos = 0
    private var readSuspended = false
    /// Phase, clock readings and timeout rules (a value; see ConnectionState).
    private var state: ConnectionState
    private var closed: Bool { state.isClosed }
    private var lingering: Bool { state.isLingering }
    private var closeAfterFlush: Bool { state.phase == .closingAfterFlush }
    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
    /// What the server was last told about whether this connection is idle.
    private var reportedIdle = true

    /// Responses in request order; nil while in progress.
    private final class Slot {  // touched only on `queue`; completions find it by `seq`
        let seq: Int
        init(seq: Int) { self.seq = seq }
        var request: HTTPRequest?
        var requestID: String?
        var response: HTTPResponse?
        var keepAlive = true
        var cancel: (@Sendable () -> Void)?
        var started = DispatchTime.now()
    }
    private var slots: [Slot] = []
    private var nextSeq = 0
    private var served: Int { state.served }

    /// Where every connection's serial queue runs (issue #19: threads bounded whatever clients do).
    static let ioTarget = DispatchQueue.global(qos: .userInitiated)

    package init(fd: Int32, server: HTTPServer, config: Config, probeOnly: Bool = false, tls: TLSSession? = nil) {
        self.fd = fd; self.server = server; self.config = config; self.probeOnly = probeOnly; self.tls = tls
        // Not the default target: a serial queue targets libdispatch's overcommit root queue,
        // which starts a thread whenever none is idle, so a burst of connections (say, 3,000
        // TLS connections that never send a ClientHello) grew the process to 170-260 threads.
        // The global non-overcommit queue keeps the pool near the core count.
        queue = DispatchQueue(label: "conn-\(fd)", target: Self.ioTarget)
        parser = HTTPParser(limits: config.limits)
        state = ConnectionState(config: config, now: Self.now())
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
    }

    package func start() {
        readSource.setEventHandler { [self] in self.onReadable() }
        readSource.activate()
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(200))
        t.setEventHandler { [self] in self.onTimer() }
        t.activate()
        timer = t
    }

    /// Idle: no request arriving, none in progress, nothing left to write. An idle
    /// connection may be evicted when the server is full.
    private var isIdle: Bool { !closed && !lingering && slots.isEmpty && !parser.inProgress && outPos == out.count }

    private func reportIdle() {
        let idle = isIdle
        if idle != reportedIdle { reportedIdle = idle; server.setIdle(self, idle, served: served > 0) }
    }

    /// The server is full and chose this connection to make room: close it if it is
    /// still idle (a request may have arrived meanwhile; then it stays).
    package func evictIfIdle() {
        queue.async { [self] in
            if self.isIdle && !self.readSuspended { self.onReadable() }  // input may be waiting unread
            if self.isIdle { self.close() } else { self.reportIdle() }
        }
    }

    private func onReadable() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !closed else { return }
        if lingering { discardInput(); return }
        var buf = [UInt8](repeating: 0, count: 65536)
        loop: while true {
            let r = buf.withUnsafeMutableBytes { receive($0) }
            switch r {
            case let .bytes(n):
                state.received(now: Self.now())
                parser.feed(buf[0..<n])
                if parser.buffered > config.limits.maxHeaderBytes + config.limits.maxBodyBytes + 65536 { break loop }
                if n < buf.count && !(tls?.pending ?? false) { break loop }
            case .wouldBlock: break loop
            case .closed: peerClosed(); return
            }
        }
        // TLS: the handshake wants to write but the socket is full; wait until writable.
        if tls?.readWantsWrite == true { ensureWriteSource() }
        parse()
        // TLS: a write may have waited for input (a key update); retry it now.
        if !closed && outPos < out.count && tls?.writeWantsRead == true { drain() }
        reportIdle()
    }

    /// Plain recv, or TLS record decryption (the handshake runs inside the first reads).
    private func receive(_ buf: UnsafeMutableRawBufferPointer) -> Sys.IOResult {
        tls.map { $0.read(buf) } ?? Sys.recv(fd, buf)
    }

    private func transmit(_ buf: UnsafeRawBufferPointer) -> Sys.IOResult {
        tls.map { $0.write(buf) } ?? Sys.send(fd, buf)
    }

    private func ensureWriteSource() {
        guard writeSource == nil, !closed else { return }
        let w = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        w.setEventHandler { [self] in
            self.drain()
            if let t = self.tls, t.readWantsWrite, !self.closed, !self.lingering { self.onReadable() }
        }
        writeSource = w
        w.activate()
    }

    /// Lingering close: read and drop what the client still sends; close on EOF, after
    /// `lingerBytes`, or (from the timer) after `lingerSeconds`.
    private func discardInput() {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = buf.withUnsafeMutableBytes { Sys.recv(fd, $0) }
            switch r {
            case let .bytes(n):
                if state.discarded(n) { finalClose(); return }
            case .wouldBlock: return
            case .closed: finalClose(); return
            }
        }
    }

    private func parse() {
        while !closed && !closeAfterFlush {
            if state.pausesReading(pendingResponses: slots.count) { suspendReading(); return }
            do {
                guard let req = try parser.next() else {
                    if parser.wantsContinue() && slots.isEmpty { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
                    if !parser.inProgress { state.betweenRequests() }
                    return
                }
                state.requestParsed(stillInProgress: parser.inProgress, now: Self.now())
                dispatch(req)
            } catch let e as HTTPError {
                nextSeq += 1
                let s = Slot(seq: nextSeq)
                s.requestID = Self.requestID(nil)
                server.observer.refused(e, requestID: s.requestID!, bytesIn: parser.buffered)
                s.response = config.renderError(e); s.keepAlive = false
                slots.append(s)
                state.stopReading()
                suspendReading()
                flush()
                return
            } catch { return }
        }
    }

    private func dispatch(_ req: HTTPRequest) {
        nextSeq += 1
        let s = Slot(seq: nextSeq), seq = nextSeq
        s.request = req
        s.keepAlive = ConnectionState.keepAlive(requested: req.keepAlive, draining: server.isDraining, probeOnly: probeOnly)
        let id = Self.requestID(req.header("x-request-id"))
        s.requestID = id
        slots.append(s)
        if probeOnly && !config.probePaths.contains(req.path) {
            server.metrics.connectionRejected()
            s.response = config.renderError(
                HTTPError(
                    .tooManyConnections,
                    "connection limit (\(server.maxConnections)) reached; only \(config.probePaths.sorted().joined(separator: ", ")) are served on this connection; retry later",
                    headers: [("Retry-After", "1")]))
            state.stopReading(); suspendReading()
            flush()
            return
        }
        let cancel = server.handler.handle(req, requestID: id) { [weak self] resp in
            guard let self else { return }
            self.queue.async {
                guard let s = self.slots.first(where: { $0.seq == seq }) else { return }  // closed meanwhile
                s.response = resp; s.cancel = nil; self.flush()
            }
        }
        if s.response == nil { s.cancel = cancel }
        if !s.keepAlive { state.stopReading(); suspendReading() }
    }

    /// A client's X-Request-ID if it is sane (1–128 visible ASCII), else a fresh one.
    package static func requestID(_ given: String?) -> String {
        if let g = given, !g.isEmpty, g.count <= 128, g.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return g }
        var r = SystemRandomNumberGenerator()
        return String(format: "%016llx", r.next() as UInt64)
    }

    /// Serialises finished responses at the head of the line, in order.
    private func flush() {
        guard !closed else { return }
        while let s = slots.first, let resp = s.response {
            slots.removeFirst()
            let keep = state.responded(requestedKeepAlive: s.keepAlive, draining: server.isDraining, lastBeforeClose: slots.isEmpty && closeAfterFlush)
            let bytes = resp.serialize(keepAlive: keep, requestID: s.requestID, server: config.serverName)
            if let r = s.request { server.observer.log(r, requestID: s.requestID ?? "", response: resp, bytesOut: bytes.count, started: s.started) }
            write(bytes)
            if !keep { slots.removeAll(); break }
        }
        if !state.pausesReading(pendingResponses: slots.count) && !closeAfterFlush && readSuspended {
            readSuspended = false; readSource.resume()
            parse()
        }
        if closeAfterFlush && slots.isEmpty && outPos == out.count { close(linger: true) }
        reportIdle()
    }

    private func write(_ bytes: [UInt8]) {
        out.append(contentsOf: bytes)
        drain()
    }

    private func drain() {
        while outPos < out.count {
            let r = out.withUnsafeBytes { p in transmit(UnsafeRawBufferPointer(rebasing: p[outPos...])) }
            switch r {
            case let .bytes(n): outPos += n
            case .wouldBlock:
                // (TLS: a write that waits for input is retried by onReadable instead.)
                if !(tls?.writeWantsRead ?? false) { ensureWriteSource() }
                return
            case .closed: peerClosed(); return
            }
        }
        out.removeAll(keepingCapacity: out.count < 1 << 20); outPos = 0
        state.outputFlushed(now: Self.now())
        if let w = writeSource, !(tls?.readWantsWrite ?? false) { w.cancel(); writeSource = nil }
        if closeAfterFlush && slots.isEmpty { close(linger: true) }
    }

    private func suspendReading() {
        if !readSuspended && !closed { readSuspended = true; readSource.suspend() }
    }

    /// A TLS client that never finished its handshake and is closed for it counts as a
    /// failed handshake (issue #19); true if it was one.
    private func handshakeTimedOut() -> Bool {
        guard let t = tls, !t.handshakeDone, t.failure == nil else { return false }
        server.metrics.tlsFailed("handshake timed out", handshake: true)
        return true
    }

    private func timeout(_ message: String) {
        if handshakeTimedOut() { close(); return }
        nextSeq += 1
        let s = Slot(seq: nextSeq)
        let e = HTTPError(.requestTimeout, message)
        // Like a refused request: an X-Request-ID, a log line and the metric.
        s.requestID = Self.requestID(nil)
        server.observer.refused(e, requestID: s.requestID!, bytesIn: parser.buffered)
        s.response = config.renderError(e)
        s.keepAlive = false
        slots.append(s); state.stopReading()
        suspendReading()
        state.betweenRequests()
        flush()
    }

    private func onTimer() {
        dispatchPrecondition(condition: .onQueue(queue))
        guard !closed else { return }
        // Under load the read handler may lag: what is already in the socket is activity.
        if !lingering && isIdle && !readSuspended { onReadable() }
        if closed { return }
        switch state.tick(now: Self.now(), snapshot) {
        case .none: break
        case let .timeout(message): timeout(message)
        case .close:
            // While draining, an idle connection closes like a refused one: write side shut,
            // input read and dropped for a bounded time, so a request that crossed the close
            // meets a FIN, not a reset over data in flight (issue #19).
            if isIdle { _ = handshakeTimedOut(); close(linger: server.isDraining) }
        case .finalClose: finalClose()
        }
    }

    private var snapshot: ConnectionState.Snapshot {
        .init(responsesPending: !slots.isEmpty, requestInProgress: parser.inProgress, receivingHead: parser.receivingHead, outputPending: outPos < out.count)
    }

    /// Test hook: stop reading the socket (what arrives stays unread in the kernel), as when
    /// a request lands in the instant before the server closes an idle connection.
    package func suspendReadingForTests() { queue.sync { suspendReading() } }

    /// The server is draining: close if idle, else after the responses in flight.
    package func drainSoon() {
        queue.async { [self] in
            // A request already in the socket buffer is in flight from the client's view.
            if !self.closed && !self.readSuspended { self.onReadable() }
            if self.closed { return }
            self.state.drain(now: Self.now())
            if !(self.slots.isEmpty && !self.parser.inProgress && self.outPos == self.out.count) && !self.parser.inProgress {
                self.state.stopReading()
                self.flush()
            }
            // An idle connection stays open for drainIdleGrace, so that a request already on
            // its way is answered (with Connection: close) rather than met by a close; a
            // request still arriving is read to the end and answered with Connection: close.
        }
    }

    private func peerClosed() {
        if let f = tls?.failure { server.metrics.tlsFailed(f, handshake: served == 0 && state.requestStarted == nil) }
        for s in slots { s.cancel?() }
        slots.removeAll()
        close()
    }

    /// Closes the connection. With `linger`, after the last response of a connection the
    /// server ends, the write side is shut down first and input is drained for a bounded
    /// time and size (`finalClose` ends it).
    private func close(linger: Bool = false) {
        guard !closed, !lingering else { return }
        for s in slots { s.cancel?() }
        slots.removeAll()
        writeSource?.cancel(); writeSource = nil
        if state.beginClose(linger: linger, now: Self.now()) {
            server.setIdle(self, false, served: served > 0)
            tls?.shutdown()  // close_notify, then the TCP write side
            shutdown(fd, Int32(SHUT_WR))
            if readSuspended { readSource.resume(); readSuspended = false }
            discardInput()
            return
        }
        finalClose()
    }

    private func finalClose() {
        guard !closed else { return }
        state.closed()
        writeSource?.cancel(); writeSource = nil
        if readSuspended { readSource.resume(); readSuspended = false }
        readSource.setCancelHandler { [fd] in _ = Glibc.close(fd) }
        readSource.cancel()
        timer?.cancel(); timer = nil
        server.connectionClosed(self)
    }
}
