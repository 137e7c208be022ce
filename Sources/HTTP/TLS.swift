import Sync
import CTLS
import Foundation

/// A TLS failure: what OpenSSL said.
package struct TLSError: Error, CustomStringConvertible {
    package var description: String
    init(_ what: String) {
        var reasons: [String] = []
        while case let e = ERR_get_error(), e != 0 {
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            reasons.append(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        description = reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
    }
}

/// A server certificate and key loaded into an OpenSSL context (TLS 1.2+).
///
/// Sendable because `ctx` is fully configured in `init` and never changed afterwards;
/// OpenSSL allows one configured SSL_CTX to create sessions from many threads. Freed
/// when the last connection using it is gone (each SSL holds a reference of its own).
package final class TLSContext: @unchecked Sendable {
    let ctx: OpaquePointer
    /// SHA-256 of the leaf certificate (hex), and its notAfter date (for the log).
    package let fingerprint: String
    package let notAfter: String

    package init(certificate: String, key: String) throws {
        ERR_clear_error()
        guard let method = TLS_server_method(), let c = SSL_CTX_new(method) else { throw TLSError("cannot create a TLS context") }
        guard ecg_tls_configure(c) == 1 else { SSL_CTX_free(c); throw TLSError("cannot configure TLS 1.2+") }
        guard SSL_CTX_use_certificate_chain_file(c, certificate) == 1 else {
            SSL_CTX_free(c); throw TLSError("cannot load the certificate chain '\(certificate)' (PEM)")
        }
        guard SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(c)
            let e = TLSError("cannot load the private key '\(key)' (PEM, unencrypted)")
            if e.description.contains("key values mismatch") {
                throw TLSError("the private key '\(key)' does not match the certificate '\(certificate)'")
            }
            throw e
        }
        guard SSL_CTX_check_private_key(c) == 1 else {
            SSL_CTX_free(c); throw TLSError("the private key '\(key)' does not match the certificate '\(certificate)'")
        }
        ctx = c
        var fp = "", na = ""
        if let x = SSL_CTX_get0_certificate(c) {
            var md = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var len: UInt32 = 0
            if X509_digest(x, EVP_sha256(), &md, &len) == 1 { fp = md.prefix(Int(len)).map { String(format: "%02x", $0) }.joined() }
            var t = tm()
            if let a = X509_get0_notAfter(x), ASN1_TIME_to_tm(a, &t) == 1 {
                na = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
            }
        }
        fingerprint = fp; notAfter = na
    }

    deinit { SSL_CTX_free(ctx) }
}

/// The server's current TLS context; `reload()` (on SIGHUP) replaces it for new
/// connections, while open connections keep the one they started with.
package final class TLSCertificates: Sendable {
    package let certificatePath: String
    package let keyPath: String
    private let current: Locked<TLSContext>

    package init(certificate: String, key: String) throws {
        certificatePath = certificate; keyPath = key
        current = Locked(try TLSContext(certificate: certificate, key: key))
    }

    package var context: TLSContext { current.withLock { $0 } }

    /// Loads the files again; on failure the previous certificate stays in use.
    @discardableResult
    package func reload() throws -> TLSContext {
        let c = try TLSContext(certificate: certificatePath, key: keyPath)
        current.withLock { $0 = c }
        return c
    }
}

/// One TLS session over a non-blocking socket, driven by its connection: the handshake
/// happens inside the first reads and writes, so a client that never sends a
/// ClientHello holds nothing but its own connection (which the header timeout closes).
/// Not Sendable: touched only on its connection's queue.
package final class TLSSession {
    private let ssl: OpaquePointer
    private let context: TLSContext  // keeps the SSL_CTX alive for this session
    /// A read needs the socket writable (handshake flight blocked) / a write needs it readable.
    package private(set) var readWantsWrite = false
    package private(set) var writeWantsRead = false
    /// Why the session failed (handshake or record error), for the log.
    package private(set) var failure: String?
    /// The client spoke plain HTTP to the TLS port (OpenSSL: "http request"); it has been
    /// sent a plain 400 that says so, instead of a bare reset.
    package private(set) var plainHTTP = false
    private let fd: Int32

    /// The answer to plain HTTP on the TLS port (written in clear, before the close).
    private let plainHTTPAnswer: [UInt8]

    package init?(context: TLSContext, fd: Int32, plainHTTPAnswer: [UInt8]) {
        self.plainHTTPAnswer = plainHTTPAnswer
        guard let s = SSL_new(context.ctx) else { return nil }
        guard SSL_set_fd(s, fd) == 1 else { SSL_free(s); return nil }
        SSL_set_accept_state(s)
        ssl = s; self.context = context; self.fd = fd
    }

    deinit { SSL_free(ssl) }

    /// Whether the handshake has completed.
    package var handshakeDone: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Decrypted bytes already read from the socket but not yet returned.
    package var pending: Bool { SSL_pending(ssl) > 0 }

    package func read(_ buf: UnsafeMutableRawBufferPointer) -> Sys.IOResult {
        io(reading: true) { SSL_read(ssl, buf.baseAddress, Int32(clamping: buf.count)) }
    }

    package func write(_ buf: UnsafeRawBufferPointer) -> Sys.IOResult {
        io(reading: false) { SSL_write(ssl, buf.baseAddress, Int32(clamping: buf.count)) }
    }

    /// One SSL_read or SSL_write on a clean error queue, and what its result means.
    private func io(reading: Bool, _ call: () -> Int32) -> Sys.IOResult {
        guard failure == nil else { return .closed }
        ERR_clear_error()
        let n = call()
        guard n > 0 else { return outcome(n, reading: reading) }
        if reading { readWantsWrite = false } else { writeWantsRead = false }
        return .bytes(Int(n))
    }

    /// Sends close_notify if it can (best effort: the socket is non-blocking).
    package func shutdown() {
        guard failure == nil else { return }
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
    }

    private func outcome(_ n: Int32, reading: Bool) -> Sys.IOResult {
        let e = SSL_get_error(ssl, n)
        switch e {
        case SSL_ERROR_WANT_READ:
            if !reading { writeWantsRead = true }
            return .wouldBlock
        case SSL_ERROR_WANT_WRITE:
            if reading { readWantsWrite = true }
            return .wouldBlock
        case SSL_ERROR_ZERO_RETURN:
            return .closed  // the peer sent close_notify
        case SSL_ERROR_SYSCALL:
            if errno == EINTR || errno == EAGAIN { return .wouldBlock }
            failure = errno == 0 ? "connection closed during TLS" : "TLS I/O: \(String(cString: strerror(errno)))"
            return .closed
        default:
            failure = TLSError("TLS error").description
            if failure?.contains("http request") == true || failure?.contains("HTTP_REQUEST") == true {
                plainHTTP = true
                _ = plainHTTPAnswer.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                Glibc.shutdown(fd, Int32(SHUT_WR))
            }
            return .closed
        }
    }
}
