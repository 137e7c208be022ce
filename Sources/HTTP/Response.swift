import Sync
import Foundation

/// An HTTP response before serialisation.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)] = []
    package var body: [UInt8] = []
    /// For HEAD: headers as for GET, no body.
    package var omitBody = false
    /// Counts the application attaches for its own log line and metrics (never sent).
    package var annotations: [String: Int] = [:]

    package init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], omitBody: Bool = false) {
        self.status = status; self.headers = headers; self.body = body; self.omitBody = omitBody
    }

    package static func json(_ status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    /// A refusal as plain text (`code: message`): the HTTP layer's default; an
    /// application sets its own error body with `Connection.Config.renderError`.
    package static func plainError(_ e: HTTPError) -> HTTPResponse {
        HTTPResponse(status: e.status, headers: [("Content-Type", "text/plain; charset=utf-8")] + e.headers, body: Array("\(e.code): \(e.message)\n".utf8))
    }

    package static let reasons: [Int: String] = [
        100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
        408: "Request Timeout", 411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
        415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
        431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
        503: "Service Unavailable", 505: "HTTP Version Not Supported",
    ]

    /// The bytes on the wire. `server`: the Server header's value (nil: none).
    package func serialize(keepAlive: Bool, requestID: String?, server: String? = nil) -> [UInt8] {
        var h = "HTTP/1.1 \(status) \(Self.reasons[status] ?? "Status")\r\n"
        h += "Date: \(HTTPDate.now())\r\n"
        if let server { h += "Server: \(server)\r\n" }
        for (k, v) in headers { h += "\(k): \(v)\r\n" }
        if let id = requestID { h += "X-Request-ID: \(id)\r\n" }
        h += "Content-Length: \(body.count)\r\n"
        h += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(h.utf8) + (omitBody ? [] : body)
    }
}

/// IMF-fixdate for the Date header, cached per second.
package enum HTTPDate {
    private static let cache = Locked<(second: Int, text: String)>((0, ""))
    package static func now() -> String {
        let t = Int(Date().timeIntervalSince1970)
        if let s = cache.withLock({ $0.second == t ? $0.text : nil }) { return s }
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        var buf = [Int8](repeating: 0, count: 64)
        strftime(&buf, 64, "%a, %d %b %Y %H:%M:%S GMT", &tmv)
        let s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cache.withLock { $0 = (t, s) }
        return s
    }
}
