import Foundation
import HTTP

/// Prometheus metrics (text exposition format 0.0.4), thread-safe.
///
/// Sendable because every stored counter, gauge and histogram is read and written only with
/// `lock` held (each method takes it for its whole body); nothing escapes by reference.
final class Metrics: ConnectionMetrics, @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]             // "route|status"
    private var latency: [String: Histogram] = [:]        // route
    private var batch = Histogram(bounds: [1, 2, 4, 8, 16, 32, 64, 128])
    private var windows = 0
    private var queueWait = Histogram(bounds: Metrics.stageBounds)
    private var compute = Histogram(bounds: Metrics.stageBounds)
    private var queueDepth = 0
    private var spinPickups = 0
    private var connections = 0
    private var connectionsTotal = 0
    private var rejected = 0
    private var evicted = 0
    private var tlsFailures = (handshake: 0, session: 0)
    static let latencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Per-window stages (queue wait, compute): finer around the few milliseconds a window takes.
    static let stageBounds = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1, 5]

    struct Histogram {
        let bounds: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0
        init(bounds: [Double]) { self.bounds = bounds; counts = [Int](repeating: 0, count: bounds.count) }
        mutating func observe(_ v: Double) {
            for (i, b) in bounds.enumerated() where v <= b { counts[i] += 1 }
            sum += v; count += 1
        }
    }

    func request(route: String, status: Int, seconds: Double) {
        lock.lock(); defer { lock.unlock() }
        requests["\(route)|\(status)", default: 0] += 1
        latency[route, default: Histogram(bounds: Self.latencyBounds)].observe(seconds)
    }
    /// A batch that ran `n` windows through the encoder (cancelled ones are not counted).
    func observeBatch(_ n: Int) { guard n > 0 else { return }; lock.lock(); batch.observe(Double(n)); lock.unlock() }
    /// One window computed, with how long it waited in the queue and how long the encoder
    /// took; counted before its answer goes out, so a client that has its answer sees it counted.
    func windowComputed(queued: Double, computed: Double) {
        lock.lock(); windows += 1; queueWait.observe(queued); compute.observe(computed); lock.unlock()
    }
    var windowsProcessed: Int { lock.lock(); defer { lock.unlock() }; return windows }
    func spinPickup() { lock.lock(); spinPickups += 1; lock.unlock() }
    func setQueueDepth(_ n: Int) { lock.lock(); queueDepth = n; lock.unlock() }
    func connectionOpened() { lock.lock(); connections += 1; connectionsTotal += 1; lock.unlock() }
    func connectionClosed() { lock.lock(); connections -= 1; lock.unlock() }
    func connectionRejected() { lock.lock(); rejected += 1; lock.unlock() }
    func connectionEvicted() { lock.lock(); evicted += 1; lock.unlock() }
    /// Counted, not logged: a port scanner or a plain-HTTP client would flood the log.
    func tlsFailed(_ reason: String, handshake: Bool) {
        lock.lock(); if handshake { tlsFailures.handshake += 1 } else { tlsFailures.session += 1 }; lock.unlock()
    }

    func render() -> String {
        lock.lock(); defer { lock.unlock() }
        var s = ""
        s += "# HELP ecg_http_requests_total HTTP requests answered, by route and status.\n# TYPE ecg_http_requests_total counter\n"
        for k in requests.keys.sorted() {
            let p = k.split(separator: "|")
            s += "ecg_http_requests_total{route=\"\(p[0])\",status=\"\(p[1])\"} \(requests[k]!)\n"
        }
        s += "# HELP ecg_http_request_duration_seconds Time from a complete request to its response, by route.\n# TYPE ecg_http_request_duration_seconds histogram\n"
        for r in latency.keys.sorted() { s += hist("ecg_http_request_duration_seconds", latency[r]!, label: "route=\"\(r)\"") }
        s += "# HELP ecg_inference_batch_size Windows per encoder batch.\n# TYPE ecg_inference_batch_size histogram\n"
        s += hist("ecg_inference_batch_size", batch, label: nil)
        s += "# HELP ecg_inference_queue_seconds Time a window waited in the queue for a worker.\n# TYPE ecg_inference_queue_seconds histogram\n"
        s += hist("ecg_inference_queue_seconds", queueWait, label: nil)
        s += "# HELP ecg_inference_compute_seconds Time the encoder took for one window.\n# TYPE ecg_inference_compute_seconds histogram\n"
        s += hist("ecg_inference_compute_seconds", compute, label: nil)
        s += "# HELP ecg_windows_processed_total Windows run through the encoder.\n# TYPE ecg_windows_processed_total counter\necg_windows_processed_total \(windows)\n"
        s += "# HELP ecg_inference_spin_pickups_total Batches an idle worker took while polling (--spin-us), without parking and being woken.\n# TYPE ecg_inference_spin_pickups_total counter\necg_inference_spin_pickups_total \(spinPickups)\n"
        s += "# HELP ecg_inference_queue_depth Windows waiting for a worker.\n# TYPE ecg_inference_queue_depth gauge\necg_inference_queue_depth \(queueDepth)\n"
        s += "# HELP ecg_open_connections Open client connections.\n# TYPE ecg_open_connections gauge\necg_open_connections \(connections)\n"
        s += "# HELP ecg_connections_total Connections accepted.\n# TYPE ecg_connections_total counter\necg_connections_total \(connectionsTotal)\n"
        s += "# HELP ecg_connections_rejected_total Connections refused at the connection limit.\n# TYPE ecg_connections_rejected_total counter\necg_connections_rejected_total \(rejected)\n"
        s += "# HELP ecg_connections_evicted_total Idle keep-alive connections closed to make room at the connection limit.\n# TYPE ecg_connections_evicted_total counter\necg_connections_evicted_total \(evicted)\n"
        s += "# HELP ecg_tls_failures_total TLS sessions that failed, during the handshake or after it.\n# TYPE ecg_tls_failures_total counter\n"
        s += "ecg_tls_failures_total{phase=\"handshake\"} \(tlsFailures.handshake)\necg_tls_failures_total{phase=\"session\"} \(tlsFailures.session)\n"
        return s
    }

    private func hist(_ name: String, _ h: Histogram, label: String?) -> String {
        var s = ""
        let pre = label.map { "\($0)," } ?? ""
        for (i, b) in h.bounds.enumerated() { s += "\(name)_bucket{\(pre)le=\"\(fmt(b))\"} \(h.counts[i])\n" }
        s += "\(name)_bucket{\(pre)le=\"+Inf\"} \(h.count)\n"
        let l = label.map { "{\($0)}" } ?? ""
        s += "\(name)_sum\(l) \(h.sum)\n\(name)_count\(l) \(h.count)\n"
        return s
    }

    private func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
