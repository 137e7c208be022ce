import Dispatch
import Foundation

/// The listening socket and the set of open connections.
final class HTTPServer: @unchecked Sendable {
    let handler: any RequestHandler
    let config: Connection.Config
    let maxConnections: Int
    let metrics: Metrics
    private(set) var port = 0
    private var listenFD: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "accept")
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var draining = false

    init(handler: any RequestHandler, config: Connection.Config, maxConnections: Int, metrics: Metrics) {
        self.handler = handler; self.config = config; self.maxConnections = maxConnections; self.metrics = metrics
    }

    var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }
    var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return connections.count }

    /// Binds and starts accepting. Returns the bound port (useful with port 0).
    func start(host: String, port: Int) throws -> Int {
        let (fd, p) = try Sys.listen(host: host, port: port)
        listenFD = fd; self.port = p
        let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        src.setEventHandler { [self] in self.acceptAll() }
        src.setCancelHandler { _ = Glibc.close(fd) }
        acceptSource = src
        src.activate()
        return p
    }

    private func acceptAll() {
        while true {
            let fd: Int32?
            do { fd = try Sys.accept(listenFD) } catch { return }
            guard let c = fd else { return }
            lock.lock()
            let full = connections.count >= maxConnections || draining
            lock.unlock()
            if full {
                // Refuse quickly with a complete answer, then close.
                metrics.connectionRejected()
                let body = HTTPResponse.error(HTTPError(status: 503, code: "too_many_connections",
                                                        message: "connection limit (\(maxConnections)) reached; retry later",
                                                        headers: [("Retry-After", "1")]))
                let bytes = body.serialize(keepAlive: false, requestID: nil)
                _ = bytes.withUnsafeBytes { Sys.send(c, $0) }
                shutdown(c, Int32(SHUT_WR))
                Glibc.close(c)
                continue
            }
            Sys.setOption(c, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let conn = Connection(fd: c, server: self, config: config)
            lock.lock(); connections[ObjectIdentifier(conn)] = conn; lock.unlock()
            metrics.connectionOpened()
            conn.start()
        }
    }

    func connectionClosed(_ c: Connection) {
        lock.lock()
        let removed = connections.removeValue(forKey: ObjectIdentifier(c)) != nil
        lock.unlock()
        if removed { metrics.connectionClosed() }
    }

    /// Stops accepting, closes the listener, and tells every connection to finish what it
    /// has in flight and close.
    func beginDrain() {
        // Connections already queued in the backlog are accepted and served first.
        acceptQueue.sync { if acceptSource != nil { acceptAll() } }
        lock.lock(); draining = true; let conns = Array(connections.values); lock.unlock()
        acceptSource?.cancel(); acceptSource = nil
        for c in conns { c.drainSoon() }
    }
}
