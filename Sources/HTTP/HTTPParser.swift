// An incremental HTTP/1.1 request parser (RFC 9112): a pure value over bytes, with no
// socket in sight, so it can be tested and fuzzed byte by byte. Limits are checked
// before anything is allocated for a client's claims.

/// A parsed request.
package struct HTTPRequest: Sendable {
    package var method: String
    /// The request target as sent (origin-form: path and optional query).
    package var target: String
    package var path: String
    package var query: [String: String]
    /// Query parameters given more than once (the application refuses them).
    package var duplicateQuery: [String] = []
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    package var minorVersion: Int
    /// Header fields in order, names lower-cased.
    package var headers: [(name: String, value: String)]
    package var body: [UInt8]
    /// Whether the connection stays open after the response.
    package var keepAlive: Bool

    package func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
}

extension HTTPRequest {
    /// The request the parser would give for `method target HTTP/1.1` with these header
    /// fields and body: for routing and middleware without a socket (tests, tools).
    package init(_ method: String, _ target: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        let (path, query, dups) = HTTPParser.splitTarget(target)
        self.init(
            method: method, target: target, path: path, query: query, duplicateQuery: dups, minorVersion: 1,
            headers: headers.map { (name: $0.0.lowercased(), value: $0.1) }, body: body, keepAlive: true)
    }
}

/// A request the parser refuses: the status to answer and the documented error code.
/// A refusal's machine-readable code and the HTTP status it is sent with, declared once
/// each (the HTTP layer's below, the application's in its own module) and named where the
/// error is thrown: `HTTPError(.uriTooLong, "request line longer than 8192 bytes")`.
package struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    package let name: String
    package let status: Int
    package init(_ name: String, status: Int) { self.name = name; self.status = status }
    package var description: String { name }
}

extension ErrorCode {
    /// 400
    package static let badGzip = ErrorCode("bad_gzip", status: 400)
    /// 400
    package static let badRequest = ErrorCode("bad_request", status: 400)
    /// 408
    package static let requestTimeout = ErrorCode("request_timeout", status: 408)
    /// 411
    package static let lengthRequired = ErrorCode("length_required", status: 411)
    /// 413
    package static let payloadTooLarge = ErrorCode("payload_too_large", status: 413)
    /// 414
    package static let uriTooLong = ErrorCode("uri_too_long", status: 414)
    /// 417
    package static let expectationFailed = ErrorCode("expectation_failed", status: 417)
    /// 431
    package static let headersTooLarge = ErrorCode("headers_too_large", status: 431)
    /// 500
    package static let `internal` = ErrorCode("internal", status: 500)
    /// 501
    package static let notImplemented = ErrorCode("not_implemented", status: 501)
    /// 503
    package static let draining = ErrorCode("draining", status: 503)
    /// 503
    package static let tooManyConnections = ErrorCode("too_many_connections", status: 503)
    /// 400: plain HTTP sent to a TLS port.
    package static let tlsRequired = ErrorCode("tls_required", status: 400)
    /// 505
    package static let httpVersionNotSupported = ErrorCode("http_version_not_supported", status: 505)
}

/// An error answer: code (with its status), message for people, extra headers.
package struct HTTPError: Error, Equatable, Sendable {
    package var status: Int { kind.status }
    package var code: String { kind.name }
    package let kind: ErrorCode
    package var message: String
    package var headers: [(String, String)] = []

    package init(_ kind: ErrorCode, _ message: String, headers: [(String, String)] = []) {
        self.kind = kind; self.message = message; self.headers = headers
    }

    package static func == (a: HTTPError, b: HTTPError) -> Bool { a.kind == b.kind }
    package static func bad(_ m: String) -> HTTPError { HTTPError(.badRequest, m) }
}

package struct HTTPLimits: Sendable {
    /// Bytes of the request line, CRLF excluded (414 beyond).
    package var maxRequestLine = 8 * 1024
    /// Bytes of the header section, request line included (431 beyond).
    package var maxHeaderBytes = 32 * 1024
    /// Number of header fields (431 beyond).
    package var maxHeaderCount = 100
    /// Bytes of body as sent, before any Content-Encoding is undone (413 beyond).
    package var maxBodyBytes = 8 * 1024 * 1024

    package init(maxRequestLine: Int = 8 * 1024, maxHeaderBytes: Int = 32 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 8 * 1024 * 1024) {
        self.maxRequestLine = maxRequestLine; self.maxHeaderBytes = maxHeaderBytes; self.maxHeaderCount = maxHeaderCount; self.maxBodyBytes = maxBodyBytes
    }
}

package struct HTTPParser {
    package let limits: HTTPLimits
    private var buf: [UInt8] = []
    private var pos = 0  // start of unparsed bytes in buf
    private var scan = 0  // where the search for CRLF resumes
    private var state = State.requestLine
    private var req: HTTPRequest?
    private var body: [UInt8] = []
    private var announcedContinue = false
    private var headerBytes = 0
    private(set) var failed: HTTPError?

    package enum State: Equatable {
        case requestLine, headers, fixedBody(Int), chunkSize, chunkData(Int), chunkDataEnd, trailers
    }

    package init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Bytes received and not yet consumed (for limits on what a client may buffer).
    package var buffered: Int { buf.count - pos }
    /// True while a request has started arriving but is not complete.
    package var inProgress: Bool { state != .requestLine || buf.count > pos }
    /// True while a request line or header section is arriving (not yet the body).
    package var receivingHead: Bool {
        switch state {
        case .requestLine: return buf.count > pos
        case .headers: return true
        default: return false
        }
    }

    package mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if pos > 0 && pos > buf.count / 2 { buf.removeFirst(pos); scan -= pos; pos = 0 }
        buf.append(contentsOf: bytes)
    }

    /// Parses as far as the bytes allow. Throws the error to answer; after a throw the
    /// connection must be closed (the parser stays failed).
    package mutating func next() throws -> HTTPRequest? {
        if let f = failed { throw f }
        // A TLS ClientHello (record type 0x16) where a request line should start: no HTTP
        // method begins with that byte, so say so at once instead of waiting for a line.
        if state == .requestLine, pos < buf.count, buf[pos] == 0x16 {
            let e = HTTPError.bad("TLS on a plain-HTTP port: this port speaks HTTP (use http://, or the server's TLS port)")
            failed = e
            throw e
        }
        do { return try step() } catch let e as HTTPError { failed = e; throw e }
    }

    /// True once, when a request with `Expect: 100-continue` needs its interim response.
    package mutating func wantsContinue() -> Bool {
        guard let r = req, !announcedContinue else { return false }
        switch state {
        case .fixedBody, .chunkSize:
            if r.header("expect")?.lowercased() == "100-continue" && body.isEmpty && buf.count == pos {
                announcedContinue = true
                return true
            }
        default: break
        }
        return false
    }

    private mutating func line(limit: Int, error: HTTPError) throws -> ArraySlice<UInt8>? {
        var i = max(scan, pos)
        while i + 1 < buf.count {
            if buf[i] == 0x0D && buf[i + 1] == 0x0A {
                let l = buf[pos..<i]
                pos = i + 2; scan = pos
                if l.count > limit { throw error }
                return l
            }
            if buf[i] == 0x0A { throw HTTPError.bad("bare LF in the request head (lines must end with CRLF)") }
            i += 1
        }
        scan = max(pos, buf.count - 1)
        if buf.count - pos > limit { throw error }
        return nil
    }

    private mutating func step() throws -> HTTPRequest? {
        while true {
            switch state {
            case .requestLine:
                // Tolerate empty lines before a request (RFC 9112 2.2).
                while buf.count - pos >= 2 && buf[pos] == 0x0D && buf[pos + 1] == 0x0A { pos += 2; scan = pos }
                guard
                    let l = try line(
                        limit: limits.maxRequestLine,
                        error: HTTPError(.uriTooLong, "request line longer than \(limits.maxRequestLine) bytes"))
                else { return nil }
                headerBytes = l.count + 2
                req = try Self.parseRequestLine(l)
                body = []; announcedContinue = false
                state = .headers
            case .headers:
                let remaining = limits.maxHeaderBytes - headerBytes
                let tooBig = HTTPError(.headersTooLarge, "header section larger than \(limits.maxHeaderBytes) bytes")
                guard let l = try line(limit: max(0, remaining - 2), error: tooBig) else { return nil }
                headerBytes += l.count + 2
                if headerBytes > limits.maxHeaderBytes { throw tooBig }
                if l.isEmpty {
                    try finishHeaders()
                    if case .requestLine = state { return complete() }
                    continue
                }
                guard req!.headers.count < limits.maxHeaderCount else {
                    throw HTTPError(.headersTooLarge, "more than \(limits.maxHeaderCount) header fields")
                }
                req!.headers.append(try Self.parseHeader(l))
            case let .fixedBody(n):
                let take = min(n, buf.count - pos)
                body.append(contentsOf: buf[pos..<(pos + take)])
                pos += take; scan = pos
                if take == n { return complete() }
                state = .fixedBody(n - take)
                return nil
            case .chunkSize:
                guard let l = try line(limit: 1024, error: .bad("chunk-size line too long")) else { return nil }
                let sizePart = l.prefix { $0 != 0x3B }  // before ';' extensions
                guard !sizePart.isEmpty, sizePart.count <= 8, sizePart.allSatisfy(Self.isHex) else {
                    throw HTTPError.bad("bad chunk size")
                }
                let n = Int(String(decoding: sizePart, as: UTF8.self), radix: 16)!
                if n == 0 { state = .trailers; continue }
                guard body.count + n <= limits.maxBodyBytes else { throw Self.tooLarge(limits.maxBodyBytes) }
                state = .chunkData(n)
            case let .chunkData(n):
                let take = min(n, buf.count - pos)
                body.append(contentsOf: buf[pos..<(pos + take)])
                pos += take; scan = pos
                if take < n { state = .chunkData(n - take); return nil }
                state = .chunkDataEnd
            case .chunkDataEnd:
                guard buf.count - pos >= 2 else { return nil }
                guard buf[pos] == 0x0D && buf[pos + 1] == 0x0A else { throw HTTPError.bad("chunk data not followed by CRLF") }
                pos += 2; scan = pos
                state = .chunkSize
            case .trailers:
                guard let l = try line(limit: limits.maxHeaderBytes, error: HTTPError(.headersTooLarge, "trailer section too large")) else { return nil }
                if l.isEmpty { return complete() }
                _ = try Self.parseHeader(l)  // validated, then ignored
            }
        }
    }

    private mutating func complete() -> HTTPRequest {
        var r = req!
        r.body = body
        req = nil; body = []
        state = .requestLine
        return r
    }

    package static func tooLarge(_ n: Int) -> HTTPError {
        HTTPError(.payloadTooLarge, "request body larger than \(n) bytes")
    }

    private mutating func finishHeaders() throws {
        var r = req!
        let hosts = r.headers.filter { $0.name == "host" }
        if r.minorVersion == 1 && hosts.count != 1 {
            throw HTTPError.bad(hosts.isEmpty ? "missing Host header (required in HTTP/1.1)" : "more than one Host header")
        }
        let connection = r.headers.filter { $0.name == "connection" }.flatMap {
            $0.value.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        r.keepAlive = r.minorVersion == 1 ? !connection.contains("close") : connection.contains("keep-alive")
        let cls = r.headers.filter { $0.name == "content-length" }
        let tes = r.headers.filter { $0.name == "transfer-encoding" }
        if !cls.isEmpty && !tes.isEmpty {
            throw HTTPError.bad("both Content-Length and Transfer-Encoding (request smuggling risk)")
        }
        if cls.count > 1 { throw HTTPError.bad("more than one Content-Length header") }
        if let e = r.header("expect"), e.lowercased() != "100-continue" {
            throw HTTPError(.expectationFailed, "only Expect: 100-continue is supported")
        }
        req = r
        if let te = tes.first {
            // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            guard r.minorVersion == 1 else {
                throw HTTPError.bad("Transfer-Encoding is not allowed in HTTP/1.0 (send Content-Length)")
            }
            guard tes.count == 1, te.value.lowercased() == "chunked" else {
                throw HTTPError(.notImplemented, "unsupported Transfer-Encoding '\(te.value)' (only chunked)")
            }
            state = .chunkSize
            return
        }
        if let cl = cls.first {
            let v = cl.value
            guard !v.isEmpty, v.count <= 18, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(v) else {
                throw HTTPError.bad("bad Content-Length '\(v)'")
            }
            guard n <= limits.maxBodyBytes else { throw Self.tooLarge(limits.maxBodyBytes) }
            state = n == 0 ? .requestLine : .fixedBody(n)
            return
        }
        if r.method == "POST" || r.method == "PUT" || r.method == "PATCH" {
            throw HTTPError(.lengthRequired, "\(r.method) needs a Content-Length or chunked body")
        }
        state = .requestLine
    }

    package static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66) }

    /// RFC 9110 tchar.
    package static func isTChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    package static func parseRequestLine(_ l: ArraySlice<UInt8>) throws -> HTTPRequest {
        let parts = l.split(separator: 0x20, omittingEmptySubsequences: false)
        if parts.count == 3, String(decoding: parts[2], as: UTF8.self) == "HTTP/2.0" {
            throw HTTPError.bad("HTTP/2 is not supported by this endpoint; use HTTP/1.1")
        }
        guard parts.count == 3 else {
            if parts.count == 2 { throw HTTPError.bad("HTTP/0.9 requests are not supported; use HTTP/1.1") }
            throw HTTPError.bad("malformed request line")
        }
        guard !parts[0].isEmpty, parts[0].allSatisfy(isTChar) else { throw HTTPError.bad("bad method") }
        let version = String(decoding: parts[2], as: UTF8.self)
        let minor: Int
        switch version {
        case "HTTP/1.1": minor = 1
        case "HTTP/1.0": minor = 0
        default:
            if version.hasPrefix("HTTP/") && version.count == 8 {
                throw HTTPError(.httpVersionNotSupported, "\(version) is not supported; use HTTP/1.1")
            }
            throw HTTPError.bad("bad HTTP version")
        }
        let target = parts[1]
        guard let first = target.first, first == UInt8(ascii: "/"),
            target.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw HTTPError.bad("request target must be an absolute path (origin-form)")
        }
        let t = String(decoding: target, as: UTF8.self)
        if let q = t.firstIndex(of: "?") {
            for part in t[t.index(after: q)...].split(separator: "&").flatMap({ $0.split(separator: "=", maxSplits: 1) })
            where percentDecode(String(part)) == nil {
                throw HTTPError.bad("bad percent-encoding in the query: '\(part)'")
            }
        }
        let (path, query, dups) = splitTarget(t)
        return HTTPRequest(
            method: String(decoding: parts[0], as: UTF8.self), target: t, path: path, query: query, duplicateQuery: dups,
            minorVersion: minor, headers: [], body: [], keepAlive: minor == 1)
    }

    package static func splitTarget(_ t: String) -> (String, [String: String], [String]) {
        guard let q = t.firstIndex(of: "?") else { return (percentDecode(t) ?? t, [:], []) }
        var out: [String: String] = [:]
        var dups: [String] = []
        for pair in t[t.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = percentDecode(String(kv[0])) ?? String(kv[0])
            let v = kv.count > 1 ? (percentDecode(String(kv[1])) ?? String(kv[1])) : ""
            if out[k] != nil && !dups.contains(k) { dups.append(k) }
            out[k] = v
        }
        let p = String(t[..<q])
        return (percentDecode(p) ?? p, out, dups)
    }

    package static func percentDecode(_ s: String) -> String? {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v); it = it.dropFirst(2)
            } else if c == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    package static func parseHeader(_ l: ArraySlice<UInt8>) throws -> (name: String, value: String) {
        guard let first = l.first else { throw HTTPError.bad("empty header line") }
        if first == 0x20 || first == 0x09 { throw HTTPError.bad("obsolete line folding in headers") }
        guard let colon = l.firstIndex(of: UInt8(ascii: ":")) else { throw HTTPError.bad("header line without ':'") }
        let name = l[l.startIndex..<colon]
        guard !name.isEmpty, name.allSatisfy(isTChar) else { throw HTTPError.bad("bad header name") }
        var value = l[(colon + 1)...]
        while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
        while let b = value.last, b == 0x20 || b == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            throw HTTPError.bad("control character in the value of header '\(String(decoding: name, as: UTF8.self))'")
        }
        return (String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self))
    }
}

import Foundation
