import Sync
import Foundation

/// An HTTP response before serialisation.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(String, String)] = []
    package var body: [UInt8] = []
    /// For HEAD: headers as for GET, no body.
    package var omitBody = false
    /// Windows the request carried (for the log line).
    package var windows = 0

    package init(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], omitBody: Bool = false, windows: Int = 0) {
        self.status = status; self.headers = headers; self.body = body; self.omitBody = omitBody; self.windows = windows
    }

    package static func json(_ status: Int, _ body: [UInt8], headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: body)
    }

    package static func error(_ e: HTTPError) -> HTTPResponse {
        var w = JSONWriter()
        w.raw("{\"error\":{\"code\":"); w.string(e.code); w.raw(",\"message\":"); w.string(e.message); w.raw("}}")
        return json(e.status, w.out, headers: e.headers)
    }

    package static let reasons: [Int: String] = [
        100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
        408: "Request Timeout", 411: "Length Required", 413: "Content Too Large", 414: "URI Too Long",
        415: "Unsupported Media Type", 417: "Expectation Failed", 422: "Unprocessable Content",
        431: "Request Header Fields Too Large", 500: "Internal Server Error", 501: "Not Implemented",
        503: "Service Unavailable", 505: "HTTP Version Not Supported",
    ]

    package func serialize(keepAlive: Bool, requestID: String?) -> [UInt8] {
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
