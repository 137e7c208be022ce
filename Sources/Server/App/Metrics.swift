import Sync
import Foundation
import HTTP
import Inference

/// Prometheus metrics (text exposition format 0.0.4), thread-safe.
///
/// Every counter, gauge and histogram lives in `State`, behind one mutex.
/// The labels of `ecg_http_requests_total`: a route (the path of the route the router matched,
/// "(unknown)" or "(parser)") and a status.
struct RequestLabel: Hashable, Comparable, Sendable {
    let route: String
    let status: Int
    static func < (a: RequestLabel, b: RequestLabel) -> Bool { (a.route, a.status) < (b.route, b.status) }
}

final class Metrics: ConnectionMetrics, InferenceMetrics, Sendable {
    private struct State {
        var requests: [RequestLabel: Int] = [:]
        var latency: [String: Histogram] = [:]  // route
        var batch = Histogram(bounds: [1, 2, 4, 8, 16, 32, 64, 128])
        var windows = 0
        var queueWait = Histogram(bounds: Metrics.stageBounds)
        var compute = Histogram(bounds: Metrics.stageBounds)
        var queueDepth = 0
        var requestsWaiting = 0
        var spinPickups = 0
        var connections = 0
        var connectionsTotal = 0
        var rejected = 0
        var evicted = 0
        var tlsFailures = (handshake: 0, session: 0)
    }
    private let state = Locked(State())
    static let latencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Per-window stages (queue wait, compute): finer around the few milliseconds a window takes.
    static let stageBounds = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1, 5]

    struct Histogram: Sendable {
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

    func request(_ label: RequestLabel, seconds: Double) {
        state.withLock {
            $0.requests[label, default: 0] += 1
            $0.latency[label.route, default: Histogram(bounds: Self.latencyBounds)].observe(seconds)
        }
    }
    /// A batch that ran `n` windows through the encoder (cancelled ones are not counted).
    func observeBatch(_ n: Int) { guard n > 0 else { return }; state.withLock { $0.batch.observe(Double(n)) } }
    /// One window computed, with how long it waited in the queue and how long the encoder
    /// took; counted before its answer goes out, so a client that has its answer sees it counted.
    func windowComputed(queued: Double, computed: Double) {
        state.withLock {
            $0.windows += 1; $0.queueWait.observe(queued); $0.compute.observe(computed)
        }
    }
    var windowsProcessed: Int { state.withLock { $0.windows } }
    func spinPickup() { state.withLock { $0.spinPickups += 1 } }
    func setWaiting(windows: Int, requests: Int) {
        state.withLock {
            $0.queueDepth = windows; $0.requestsWaiting = requests
        }
    }
    func connectionOpened() {
        state.withLock {
            $0.connections += 1; $0.connectionsTotal += 1
        }
    }
    func connectionClosed() { state.withLock { $0.connections -= 1 } }
    func connectionRejected() { state.withLock { $0.rejected += 1 } }
    func connectionEvicted() { state.withLock { $0.evicted += 1 } }
    /// Counted, not logged: a port scanner or a plain-HTTP client would flood the log.
    func tlsFailed(_ reason: String, handshake: Bool) {
        state.withLock { if handshake { $0.tlsFailures.handshake += 1 } else { $0.tlsFailures.session += 1 } }
    }

    func render() -> String {
        let m = state.withLock { $0 }  // a consistent copy; formatted outside the lock
        var s = ""
        s += "# HELP ecg_http_requests_total HTTP requests answered, by route and status.\n# TYPE ecg_http_requests_total counter\n"
        for k in m.requests.keys.sorted() {
            s += "ecg_http_requests_total{route=\"\(k.route)\",status=\"\(k.status)\"} \(m.requests[k]!)\n"
        }
        s +=
            "# HELP ecg_http_request_duration_seconds Time from a complete request to its response, by route.\n# TYPE ecg_http_request_duration_seconds histogram\n"
        for r in m.latency.keys.sorted() { s += hist("ecg_http_request_duration_seconds", m.latency[r]!, label: "route=\"\(r)\"") }
        s += "# HELP ecg_inference_batch_size Windows per encoder batch.\n# TYPE ecg_inference_batch_size histogram\n"
        s += hist("ecg_inference_batch_size", m.batch, label: nil)
        s += "# HELP ecg_inference_queue_seconds Time a window waited in the queue for a worker.\n# TYPE ecg_inference_queue_seconds histogram\n"
        s += hist("ecg_inference_queue_seconds", m.queueWait, label: nil)
        s += "# HELP ecg_inference_compute_seconds Time the encoder took for one window.\n# TYPE ecg_inference_compute_seconds histogram\n"
        s += hist("ecg_inference_compute_seconds", m.compute, label: nil)
        s +=
            "# HELP ecg_windows_processed_total Windows run through the encoder.\n# TYPE ecg_windows_processed_total counter\necg_windows_processed_total \(m.windows)\n"
        s +=
            "# HELP ecg_inference_spin_pickups_total Work (a batch of windows or a request to preprocess) an idle worker took while polling (--spin-us), without parking and being woken.\n# TYPE ecg_inference_spin_pickups_total counter\necg_inference_spin_pickups_total \(m.spinPickups)\n"
        s +=
            "# HELP ecg_inference_queue_depth Windows waiting for a worker.\n# TYPE ecg_inference_queue_depth gauge\necg_inference_queue_depth \(m.queueDepth)\n"
        s +=
            "# HELP ecg_inference_requests_waiting Requests waiting for a worker to preprocess them.\n# TYPE ecg_inference_requests_waiting gauge\necg_inference_requests_waiting \(m.requestsWaiting)\n"
        s += "# HELP ecg_open_connections Open client connections.\n# TYPE ecg_open_connections gauge\necg_open_connections \(m.connections)\n"
        s += "# HELP ecg_connections_total Connections accepted.\n# TYPE ecg_connections_total counter\necg_connections_total \(m.connectionsTotal)\n"
        s +=
            "# HELP ecg_connections_rejected_total Connections refused at the connection limit.\n# TYPE ecg_connections_rejected_total counter\necg_connections_rejected_total \(m.rejected)\n"
        s +=
            "# HELP ecg_connections_evicted_total Idle keep-alive connections closed to make room at the connection limit.\n# TYPE ecg_connections_evicted_total counter\necg_connections_evicted_total \(m.evicted)\n"
        s += "# HELP ecg_tls_failures_total TLS sessions that failed, during the handshake or after it.\n# TYPE ecg_tls_failures_total counter\n"
        s += "ecg_tls_failures_total{phase=\"handshake\"} \(m.tlsFailures.handshake)\necg_tls_failures_total{phase=\"session\"} \(m.tlsFailures.session)\n"
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
