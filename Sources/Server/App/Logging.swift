import Foundation
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
        w.raw("{\"time\":"); w.string(ISO8601DateFormatter.string(from: Date(), timeZone: .gmt, formatOptions: [.withInternetDateTime, .withFractionalSeconds]))
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
    func info(_ msg: String, _ fields: [(String, Any)] = []) { log([("level", "info"), ("msg", msg)] + fields) }
}
