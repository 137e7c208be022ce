import Dispatch
import Foundation

/// What the server reports about connections (the application's metrics implement it).
package protocol ConnectionMetrics: AnyObject, Sendable {
    func connectionOpened()
    func connectionClosed()
    func connectionRejected()
    func connectionEvicted()
    /// A TLS session failed (during the handshake, or later); `reason` is OpenSSL's.
    func tlsFailed(_ reason: String, handshake: Bool)
}

/// The listening socket and the set of open connections.
///
/// Sendable because `connections`, `idleSince`, `probeConnections` and `draining` are
/// only touched with `lock` held, and the listener state only on `acceptQueue`.
///
/// When `maxConnections` are open, a new connection takes the place of the connection
/// that has been idle longest (evicted); if none is idle, up to `reservedProbeSlots`
/// more are accepted for the probe routes only (so the orchestrator's liveness and
/// readiness checks are answered under connection pressure); beyond that, 503 at once.
package final class HTTPServer: @unchecked Sendable {

    package let handler: any RequestHandler
    package let observer: any RequestObserver
    package let config: Connection.Config
    package let maxConnections: Int
    package let reservedProbeSlots: Int
    package let metrics: any ConnectionMetrics
    /// TLS for every connection (nil: plain HTTP).
    package let tls: TLSCertificates?
    private(set) var port = 0
    private var listenFD: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "accept")
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: Connection] = [:]
    /// Idle connections (no request in progress, nothing to write): whether they have
    /// been served a response yet, and since when they are idle. Connections that never
    /// sent a request are evicted first, then the longest-idle keep-alive ones.
    private var idleSince: [ObjectIdentifier: (served: Bool, since: UInt64)] = [:]
    private var probeConnections = 0
    private var draining = false
    /// What a plain-HTTP client on the TLS port is told (400 tls_required, in clear).
    private let plainHTTPAnswer: [UInt8]

    package init(
        handler: any RequestHandler, observer: any RequestObserver, config: Connection.Config, maxConnections: Int, reservedProbeSlots: Int = 8,
        metrics: any ConnectionMetrics, tls: TLSCertificates? = nil
    ) {
        self.handler = handler; self.observer = observer; self.config = config; self.maxConnections = maxConnections
        self.reservedProbeSlots = reservedProbeSlots; self.metrics = metrics; self.tls = tls
        plainHTTPAnswer = config.renderError(HTTPError(.tlsRequired, "this port speaks TLS: use https://"))
            .serialize(keepAlive: false, requestID: nil, server: config.serverName)
    }

    /// A connection reports that it became idle or busy.
    package func setIdle(_ c: Connection, _ idle: Bool, served: Bool) {
        let id = ObjectIdentifier(c)
        lock.lock(); defer { lock.unlock() }
        guard connections[id] != nil else { return }
        if idle { idleSince[id] = (served, DispatchTime.now().uptimeNanoseconds) } else { idleSince[id] = nil }
    }

    package var isDraining: Bool { lock.lock(); defer { lock.unlock() }; return draining }
    /// The open connections (tests).
    package var openConnections: [Connection] { lock.lock(); defer { lock.unlock() }; return Array(connections.values) }
    /// Connections with no request in progress and nothing to write (tests wait on it).
    package var idleConnectionCount: Int { lock.lock(); defer { lock.unlock() }; return idleSince.count }
    package var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return connections.count }

    /// Binds and starts accepting. Returns the bound port (useful with port 0).
    package func start(host: String, port: Int) throws -> Int {
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
            enum Admission { case normal, evicting(Connection), probeOnly, refused(draining: Bool) }
            lock.lock()
            var admission = Admission.normal
            if draining {
                admission = .refused(draining: true)
            } else if connections.count - probeConnections >= maxConnections {
                if let (id, _) = idleSince.min(by: { ($0.value.served ? 1 : 0, $0.value.since) < ($1.value.served ? 1 : 0, $1.value.since) }),
                    let victim = connections[id]
                {
                    idleSince[id] = nil  // chosen once; it closes itself if still idle
                    admission = .evicting(victim)
                } else if probeConnections < reservedProbeSlots {
                    admission = .probeOnly
                } else {
                    admission = .refused(draining: false)
                }
            }
            lock.unlock()
            switch admission {
            case let .refused(draining):  // decided under the lock, not read again after it
                // Refuse quickly with a complete answer, then close (over TLS, there is no
                // session to answer in: the client sees the handshake end).
                metrics.connectionRejected()
                if tls != nil { Glibc.close(c); continue }
                let body = config.renderError(
                    HTTPError(
                        draining ? .draining : .tooManyConnections,
                        draining ? "shutting down" : "connection limit (\(maxConnections)) reached; retry later",
                        headers: [("Retry-After", "1")]))
                let bytes = body.serialize(keepAlive: false, requestID: nil, server: config.serverName)
                _ = bytes.withUnsafeBytes { Sys.send(c, $0) }
                shutdown(c, Int32(SHUT_WR))
                Glibc.close(c)
                continue
            case let .evicting(victim):
                metrics.connectionEvicted()
                victim.evictIfIdle()
            case .normal, .probeOnly: break
            }
            let probe: Bool
            if case .probeOnly = admission { probe = true } else { probe = false }
            Sys.setOption(c, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            var session: TLSSession?
            if let t = tls {
                guard let s = TLSSession(context: t.context, fd: c, plainHTTPAnswer: plainHTTPAnswer) else { Glibc.close(c); continue }
                session = s
            }
            let conn = Connection(fd: c, server: self, config: config, probeOnly: probe, tls: session)
            lock.lock()
            connections[ObjectIdentifier(conn)] = conn
            if probe { probeConnections += 1 } else { idleSince[ObjectIdentifier(conn)] = (false, DispatchTime.now().uptimeNanoseconds) }
            lock.unlock()
            metrics.connectionOpened()
            conn.start()
        }
    }

    package func connectionClosed(_ c: Connection) {
        lock.lock()
        let removed = connections.removeValue(forKey: ObjectIdentifier(c)) != nil
        idleSince[ObjectIdentifier(c)] = nil
        if removed && c.probeOnly { probeConnections -= 1 }
        lock.unlock()
        if removed { metrics.connectionClosed() }
    }

    /// Stops accepting, closes the listener, and tells every connection to finish what it
    /// has in flight and close.
    package func beginDrain() {
        // Connections already queued in the backlog are accepted and served first.
        acceptQueue.sync { if acceptSource != nil { acceptAll() } }
        lock.lock(); draining = true; let conns = Array(connections.values); lock.unlock()
        acceptSource?.cancel(); acceptSource = nil
        for c in conns { c.drainSoon() }
    }
}
