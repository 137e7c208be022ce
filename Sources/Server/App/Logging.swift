import Foundation
import Dispatch
import HTTP

/// Writes one JSON object per line to stdout. Never given ECG payloads.
/// Lines never interleave: every write to stdout happens with `lock` held.
final class Logger: Sendable {
    private let lock = NSLock()
    let enabled: Bool
    init(enabled: Bool = true) { self.enabled = enabled }

    private func log(_ fields: [(String, Any)]) {
        guard enabled else { return }
        var w = JSONWriter()
        w.raw("{\"time\":");
        w.string(ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds]))
        for (k, v) in fields {
            w.raw(","); w.string(k); w.raw(":")
            switch v {
            case let s as String: w.string(s)
            case let i as Int: w.raw(String(i))
            case let d as Double: w.raw(String(format: "%.3f", d))
            case let b as Bool: w.raw(b ? "true" : "false")
            default: w.string("\(v)")
            }
        }
        w.raw("}\n")
        let line = Data(w.out)
        lock.lock(); FileHandle.standardOutput.write(line); lock.unlock()
    }
    func log(_ e: LogEvent) { log(e.fields) }
}

/// Every line the server logs, typed: each kind's message and fields (names and order)
/// are declared here once; call sites name the event and its values.
enum LogEvent {
    /// Listening, with what is served (never a key or a sample).
    case listening(
        host: String, port: Int, weights: String, encoderSHA256: String, kernels: String, workers: Int, openapi: String, apiKeys: Int, tls: Bool,
        heads: [String])
    /// The warm-up window went through the engine: /ready turns 200.
    case ready(startupSeconds: Double)
    /// SIGTERM or SIGINT: /ready turns 503, the listener closes, requests in flight finish.
    case draining(signal: String, openConnections: Int)
    case stopped(openConnections: Int)
    case tls(certificate: String, sha256: String, notAfter: String)
    case tlsReloaded(certificate: String, sha256: String, notAfter: String)
    case tlsReloadFailed(error: String, keptSHA256: String)
    case apiKeysReloaded(file: String, count: Int)
    case apiKeysReloadFailed(error: String, kept: Int)
    /// What a SIGHUP reloaded (empty: nothing).
    case sighup(reloaded: [String])
    /// A request answered (any status), with the route label metrics use.
    case request(requestID: String, method: String, route: String, status: Int, bytesIn: Int, bytesOut: Int, windows: Int, seconds: Double)
    /// A request the parser refused before it reached a route.
    case refused(requestID: String, status: Int, code: String, reason: String)

    var fields: [(String, Any)] {
        switch self {
        case let .request(id, method, route, status, bytesIn, bytesOut, windows, seconds):
            return [
                ("request_id", id), ("method", method), ("path", route), ("status", status),
                ("bytes_in", bytesIn), ("bytes_out", bytesOut), ("windows", windows), ("duration_ms", seconds * 1000),
            ]
        case let .refused(id, status, code, reason):
            return [("level", "info"), ("msg", "request refused"), ("request_id", id), ("status", status), ("code", code), ("reason", reason)]
        case let .listening(host, port, weights, sha, kernels, workers, openapi, keys, tls, heads):
            return Self.info("listening") + [
                ("host", host), ("port", port), ("weights", weights), ("encoder_sha256", sha), ("kernels", kernels), ("workers", workers),
                ("openapi", openapi), ("api_keys", keys), ("tls", tls ? "on" : "off"), ("heads", heads.joined(separator: ",")),
            ]
        case let .ready(secs): return Self.info("ready") + [("startup_ms", secs * 1000)]
        case let .draining(signal, open): return Self.info("draining") + [("signal", signal), ("open_connections", open)]
        case let .stopped(open): return Self.info("stopped") + [("open_connections", open)]
        case let .tls(cert, sha, notAfter): return Self.info("tls") + [("certificate", cert), ("sha256", sha), ("not_after", notAfter)]
        case let .tlsReloaded(cert, sha, notAfter): return Self.info("tls_reloaded") + [("certificate", cert), ("sha256", sha), ("not_after", notAfter)]
        case let .tlsReloadFailed(error, kept): return Self.error("tls_reload_failed") + [("error", error), ("kept_sha256", kept)]
        case let .apiKeysReloaded(file, count): return Self.info("api_keys_reloaded") + [("file", file), ("api_keys", count)]
        case let .apiKeysReloadFailed(error, kept): return Self.error("api_keys_reload_failed") + [("error", error), ("kept_api_keys", kept)]
        case let .sighup(reloaded): return Self.info("sighup") + [("reloaded", reloaded.isEmpty ? "nothing" : reloaded.joined(separator: ","))]
        }
    }

    private static func info(_ msg: String) -> [(String, Any)] { [("level", "info"), ("msg", msg)] }
    private static func error(_ msg: String) -> [(String, Any)] { [("level", "error"), ("msg", msg)] }
}

/// Every request's log line and its count in the metrics, labelled with the route the
/// router matched ("(unknown)" for none, "(parser)" for a refusal before routing).
struct AccessLog: RequestObserver {
    let metrics: Metrics
    let logger: Logger
    let router: Router

    func refused(_ e: HTTPError, requestID: String, bytesIn: Int) {
        metrics.request(RequestLabel(route: "(parser)", status: e.status), seconds: 0)
        logger.log(.refused(requestID: requestID, status: e.status, code: e.code, reason: e.message))
    }

    func log(_ r: HTTPRequest, requestID: String, response: HTTPResponse, bytesOut: Int, started: DispatchTime) {
        let secs = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let route = router.route(r.path)?.path ?? "(unknown)"
        metrics.request(RequestLabel(route: route, status: response.status), seconds: secs)
        logger.log(
            .request(
                requestID: requestID, method: r.method, route: route, status: response.status, bytesIn: r.body.count, bytesOut: bytesOut,
                windows: response.annotations[ECGService.windowsAnnotation] ?? 0, seconds: secs))
    }
}
