import Foundation
import Dispatch
import HTTP

/// Writes one JSON object per line to stdout. Never given ECG payloads.
/// Lines never interleave: every write to stdout happens with `lock` held.
final class Logger: Sendable {
    private let lock = NSLock()
    let enabled: Bool
    init(enabled: Bool = true) { self.enabled = enabled }

    func log(_ fields: [(String, Any)]) {
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
    func info(_ msg: String, _ fields: [(String, Any)] = []) { log([("level", "info"), ("msg", msg)] + fields) }
}

/// The per-request log lines, typed: every request line has the same fields in the same
/// order, and a refusal names its code.
enum LogEvent {
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
        }
    }
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
