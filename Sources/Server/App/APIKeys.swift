import Sync
import Foundation
import HTTP
import Model

/// The keys in force, replaced whole on SIGHUP (`--api-keys-file` rotation). Readers take
/// a copy under the mutex; a request is judged by the keys of the moment it arrived.
final class KeyStore: Sendable {
    private let keys: Locked<APIKeys>
    init(_ k: APIKeys) { keys = Locked(k) }
    var current: APIKeys { keys.withLock { $0 } }
    func replace(_ k: APIKeys) { keys.withLock { $0 = k } }
}

/// Bearer tokens that may call the model routes, kept only as SHA-256 digests and
/// compared in constant time (no early exit on the first differing byte, every key
/// checked).
struct APIKeys: Sendable {
    private let digests: [[UInt8]]
    var isEmpty: Bool { digests.isEmpty }
    var count: Int { digests.count }

    /// One key per line: the token itself, or `sha256:<64 hex digits>` of it. Blank lines
    /// and lines starting with # are skipped. A token must be 16–256 visible ASCII characters.
    init(file: String) throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw APIKeysError("cannot read --api-keys-file '\(file)'")
        }
        var d: [[UInt8]] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("sha256:") {
                let hex = line.dropFirst(7)
                guard hex.count == 64, let bytes = Self.hexBytes(String(hex)) else {
                    throw APIKeysError("\(file) line \(n + 1): sha256: needs 64 hex digits")
                }
                d.append(bytes)
            } else {
                guard (16...256).contains(line.utf8.count), line.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    throw APIKeysError("\(file) line \(n + 1): a key must be 16–256 visible ASCII characters (not shown)")
                }
                d.append(Self.digest(line))
            }
        }
        guard !d.isEmpty else { throw APIKeysError("\(file) holds no keys") }
        digests = d
    }

    init() { digests = [] }

    static func digest(_ token: String) -> [UInt8] { hexBytes(sha256Hex(Array(token.utf8)))! }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.lowercased().utf8)
        guard u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: u.count, by: 2) {
            guard let b = UInt8(String(decoding: u[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }

    /// Whether `authorization` ("Bearer <token>") carries one of the keys.
    func accepts(_ authorization: String?) -> Bool {
        guard let a = authorization, a.count > 7, a.prefix(7).lowercased() == "bearer " else { return false }
        let d = Self.digest(String(a.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        var found: UInt8 = 1
        for k in digests {
            var diff: UInt8 = 0
            for i in 0..<32 { diff |= k[i] ^ d[i] }
            found &= diff == 0 ? 0 : 1
        }
        return found == 0
    }
}

/// Bearer-token authentication as middleware: routes declared `authenticated` need one of
/// the keys in force when keys are configured (probes and metrics stay open); a request
/// with more than one Authorization header is refused on every route.
struct APIKeyMiddleware: Middleware {
    let keys: KeyStore

    func handle(
        _ r: HTTPRequest, route: Route, respond: @escaping @Sendable (HTTPResponse) -> Void,
        next: (HTTPRequest, @escaping @Sendable (HTTPResponse) -> Void) -> (@Sendable () -> Void)?
    ) throws(HTTPError) -> (@Sendable () -> Void)? {
        let given = r.headers.filter { $0.name == "authorization" }
        if given.count > 1 { throw HTTPError(.badRequest, "more than one Authorization header") }
        let current = keys.current
        if route.authenticated && !current.isEmpty && !current.accepts(given.first?.value) {
            throw HTTPError(
                .unauthorized, given.isEmpty ? "this route needs an API key: Authorization: Bearer <key>" : "the bearer token is not valid",
                headers: [("WWW-Authenticate", given.isEmpty ? #"Bearer realm="ecg-affect""# : #"Bearer realm="ecg-affect", error="invalid_token""#)])
        }
        return next(r, respond)
    }
}

struct APIKeysError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
