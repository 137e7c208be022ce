import Dispatch
import Foundation

/// An HTTP response before serialisation.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []
    /// For HEAD: headers as for GET, no body.
    var omitBody = false
    /// Windows the request carried (for the log line).
    var windows = 0

    static func json(_ status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    static func error(_ e: HTTPError) -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"error\":{\"code\":"); w.string(e.code); w.raw(",\"message\":"); w.string(e.message); w.raw("}}")
        return json(e.status, w.out, headers: e.headers)
    }

    static let reasons: [Int: String] = [
        100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
        408: "Request Timeout", 411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
        415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
        431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
        503: "Service Unavailable", 505: "HTTP Version Not Supported",
    ]

    func serialize(keepAlive: Bool, requestID: String?) -> [UInt8] {
        var h = "HTTP/1.1 \(status) \(Self.reasons[status] ?? "Status")\r\n"
        h += "Date: \(HTTPDate.now())\r\nServer: ecg-server\r\n"
        for (k, v) in headers { h += "\(k): \(v)\r\n" }
        if let id = requestID { h += "X-Request-ID: \(id)\r\n" }
        h += "Content-Length: \(body.count)\r\n"
        h += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(h.utf8) + (omitBody ? [] : body)
    }
}

/// IMF-fixdate for the Date header, cached per second.
enum HTTPDate {
    nonisolated(unsafe) private static var cache: (Int, String) = (0, "")
    private static let lock = NSLock()
    static func now() -> String {
        let t = Int(Date().timeIntervalSince1970)
        lock.lock(); defer { lock.unlock() }
        if cache.0 == t { return cache.1 }
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        var buf = [Int8](repeating: 0, count: 64)
        strftime(&buf, 64, "%a, %d %b %Y %H:%M:%S GMT", &tmv)
        let s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cache = (t, s)
        return s
    }
}

/// What the application does with a request: answers now or later, on any thread.
protocol RequestHandler: AnyObject, Sendable {
    /// Handles one request; calls `respond` exactly once (possibly later, from any
    /// thread). Returns a cancel action for work still in progress, if any.
    func handle(_ r: HTTPRequest, requestID: String, respond: @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
    /// A request refused by the parser (for the log and metrics).
    func refused(_ e: HTTPError, bytesIn: Int)
    /// Called once per answered request, for logs and metrics.
    func log(_ r: HTTPRequest, requestID: String, response: HTTPResponse, bytesOut: Int, started: DispatchTime)
}

/// One client connection: non-blocking socket driven by Dispatch sources on a serial
/// queue; incremental parsing; pipelined responses written in request order;
/// header/body and idle timeouts. All state is touched only on `queue`.
final class Connection: @unchecked Sendable {
    struct Config: Sendable {
        var limits = HTTPLimits()
        var readTimeout = 30.0
        var idleTimeout = 60.0
        var maxPipelined = 16
    }

    let fd: Int32
    let queue: DispatchQueue
    let config: Config
    let server: HTTPServer  // strong: the server outlives its connections (cycle broken in close())
    private var parser: HTTPParser
    private let readSource: DispatchSourceRead
    private var writeSource: DispatchSourceWrite?
    private var timer: DispatchSourceTimer?
    private var out: [UInt8] = []
    private var outPos = 0
    private var closed = false
    private var readSuspended = false
    private var closeAfterFlush = false
    private var lastActivity = DispatchTime.now()
    private var requestStarted: DispatchTime?

    /// Responses in request order; nil while in progress.
    private final class Slot: @unchecked Sendable {  // touched only on `queue`
        var request: HTTPRequest?
        var requestID: String?
        var response: HTTPResponse?
        var keepAlive = true
        var cancel: (@Sendable () -> Void)?
        var started = DispatchTime.now()
    }
    private var slots: [Slot] = []

    init(fd: Int32, server: HTTPServer, config: Config) {
        self.fd = fd; self.server = server; self.config = config
        queue = DispatchQueue(label: "conn-\(fd)")
        parser = HTTPParser(limits: config.limits)
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
    }

    func start() {
        readSource.setEventHandler { [self] in self.onReadable() }
        readSource.activate()
        let t = DispatchSource.makeTimerSource(queue: queue)
        t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(200))
        t.setEventHandler { [self] in self.onTimer() }
        t.activate()
        timer = t
    }

    private func onReadable() {
        guard !closed else { return }
        var buf = [UInt8](repeating: 0, count: 65536)
        var got = false
        loop: while true {
            let r = buf.withUnsafeMutableBytes { Sys.recv(fd, $0) }
            switch r {
            case let .bytes(n):
                got = true
                if requestStarted == nil { requestStarted = .now() }
                parser.feed(buf[0..<n])
                if parser.buffered > config.limits.maxHeaderBytes + config.limits.maxBodyBytes + 65536 { break loop }
                if n < buf.count { break loop }
            case .wouldBlock: break loop
            case .closed: peerClosed(); return
            }
        }
        if got { lastActivity = .now() }
        parse()
    }

    private func parse() {
        while !closed && !closeAfterFlush {
            if slots.count >= config.maxPipelined { suspendReading(); return }
            do {
                guard let req = try parser.next() else {
                    if parser.wantsContinue() && slots.isEmpty { write(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
                    if !parser.inProgress { requestStarted = nil }
                    return
                }
                requestStarted = parser.inProgress ? .now() : nil
                dispatch(req)
            } catch let e as HTTPError {
                server.handler.refused(e, bytesIn: parser.buffered)
                let s = Slot()
                s.response = .error(e); s.keepAlive = false
                slots.append(s)
                closeAfterFlush = true
                suspendReading()
                flush()
                return
            } catch { return }
        }
    }

    private func dispatch(_ req: HTTPRequest) {
        let s = Slot()
        s.request = req
        s.keepAlive = req.keepAlive && !server.isDraining
        let id = Self.requestID(req.header("x-request-id"))
        s.requestID = id
        slots.append(s)
        let cancel = server.handler.handle(req, requestID: id) { [weak self] resp in
            guard let self else { return }
            self.queue.async { s.response = resp; s.cancel = nil; self.flush() }
        }
        if s.response == nil { s.cancel = cancel }
        if !s.keepAlive { closeAfterFlush = true; suspendReading() }
    }

    /// A client's X-Request-ID if it is sane (1–128 visible ASCII), else a fresh one.
    static func requestID(_ given: String?) -> String {
        if let g = given, !g.isEmpty, g.count <= 128, g.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return g }
        var r = SystemRandomNumberGenerator()
        return String(format: "%016llx", r.next() as UInt64)
    }

    /// Serialises finished responses at the head of the line, in order.
    private func flush() {
        guard !closed else { return }
        while let s = slots.first, let resp = s.response {
            slots.removeFirst()
            let keep = s.keepAlive && !(slots.isEmpty && closeAfterFlush)
            let bytes = resp.serialize(keepAlive: keep, requestID: s.requestID)
            if let r = s.request { server.handler.log(r, requestID: s.requestID ?? "", response: resp, bytesOut: bytes.count, started: s.started) }
            write(bytes)
            if !keep { closeAfterFlush = true; slots.removeAll(); break }
        }
        if slots.count < config.maxPipelined && !closeAfterFlush && readSuspended {
            readSuspended = false; readSource.resume()
            parse()
        }
        if closeAfterFlush && slots.isEmpty && outPos == out.count { close() }
    }

    private func write(_ bytes: [UInt8]) {
        out.append(contentsOf: bytes)
        drain()
    }

    private func drain() {
        while outPos < out.count {
            let r = out.withUnsafeBytes { p in Sys.send(fd, UnsafeRawBufferPointer(rebasing: p[outPos...])) }
            switch r {
            case let .bytes(n): outPos += n
            case .wouldBlock:
                if writeSource == nil {
                    let w = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
                    w.setEventHandler { [self] in self.drain() }
                    writeSource = w
                    w.activate()
                }
                return
            case .closed: peerClosed(); return
            }
        }
        out.removeAll(keepingCapacity: out.count < 1 << 20); outPos = 0
        lastActivity = .now()
        if let w = writeSource { w.cancel(); writeSource = nil }
        if closeAfterFlush && slots.isEmpty { close() }
    }

    private func suspendReading() {
        if !readSuspended && !closed { readSuspended = true; readSource.suspend() }
    }

    private func onTimer() {
        guard !closed else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if let st = requestStarted, slots.isEmpty,
           Double(now - st.uptimeNanoseconds) / 1e9 > config.readTimeout {
            let s = Slot()
            s.response = .error(HTTPError(status: 408, code: "request_timeout", message: "request not received within \(config.readTimeout) s"))
            s.keepAlive = false
            slots.append(s); closeAfterFlush = true
            suspendReading()
            requestStarted = nil
            flush()
            return
        }
        if slots.isEmpty && !parser.inProgress && outPos == out.count {
            let idle = Double(now - lastActivity.uptimeNanoseconds) / 1e9
            if idle > config.idleTimeout || server.isDraining { close() }
        }
    }

    /// The server is draining: close if idle, else after the responses in flight.
    func drainSoon() {
        queue.async { [self] in
            // A request already in the socket buffer is in flight from the client's view.
            if !self.closed && !self.readSuspended { self.onReadable() }
            if self.closed { return }
            if self.slots.isEmpty && !self.parser.inProgress && self.outPos == self.out.count {
                self.close()
            } else if !self.parser.inProgress {
                self.closeAfterFlush = true
                self.flush()
            }
            // A request still arriving is read to the end and answered with Connection: close.
        }
    }

    private func peerClosed() {
        for s in slots { s.cancel?() }
        slots.removeAll()
        close()
    }

    private func close() {
        guard !closed else { return }
        closed = true
        for s in slots { s.cancel?() }
        slots.removeAll()
        writeSource?.cancel(); writeSource = nil
        if readSuspended { readSource.resume(); readSuspended = false }
        readSource.setCancelHandler { [fd] in _ = Glibc.close(fd) }
        readSource.cancel()
        timer?.cancel(); timer = nil
        server.connectionClosed(self)
    }
}
