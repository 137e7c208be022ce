import TestSupport
import Testing
import Foundation
import Model
@testable import HTTP
@testable import Server

/// Runs a command; returns its exit status and stdout + stderr.
@discardableResult
func sh(_ command: String, timeout: Double = 60) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    let out = Pipe()
    p.standardOutput = out; p.standardError = out
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    let data = Shared(Data())
    let reader = Thread { data.withLock { $0 = out.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    waitUntil(timeout: deadline.timeIntervalSinceNow, poll: 0.01) { !p.isRunning }
    if p.isRunning { p.terminate() }
    p.waitUntilExit()
    waitUntil(timeout: 60) { reader.isFinished }
    return (p.terminationStatus, String(decoding: data.current, as: UTF8.self))
}

/// A self-signed certificate for localhost/127.0.0.1 made by the openssl CLI, in a
/// fresh directory; `install` writes it to cert.pem/key.pem (atomically, by rename).
struct TestCertificate {
    let dir: String
    let name: String
    var cert: String { "\(dir)/\(name).crt" }
    var key: String { "\(dir)/\(name).key" }

    init(dir: String, name: String) throws {
        self.dir = dir; self.name = name
        let r = try sh(
            "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -days 2 -keyout '\(key)' -out '\(cert)'"
        )
        #expect(r.status == 0, "openssl: \(r.output)")
    }

    /// SHA-256 of the certificate's DER encoding (hex), as computed by openssl.
    var fingerprint: String {
        let out = (try? sh("openssl x509 -in '\(cert)' -noout -fingerprint -sha256"))?.output ?? "openssl failed"
        return String(out.split(separator: "=").last ?? "").trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ":", with: "").lowercased()
    }

    /// A certificate in a new directory of its own.
    static func fresh(_ tag: String) throws -> TestCertificate {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-tls-\(tag)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try TestCertificate(dir: dir, name: tag)
    }

    func install(as base: String) throws {
        for (from, to) in [(cert, "\(dir)/\(base).pem"), (key, "\(dir)/\(base)-key.pem")] {
            try? FileManager.default.removeItem(atPath: to + ".tmp")
            try FileManager.default.copyItem(atPath: from, toPath: to + ".tmp")
            #expect(rename(to + ".tmp", to) == 0)
        }
    }
}

/// Python's ssl module as the client: verifies the chain against `ca`, sends one GET,
/// prints the TLS version, the SHA-256 of the server's certificate and the status line.
func pythonTLSGet(port: Int, ca: String, path: String = "/health", maxVersion: String = "") throws -> (status: Int32, output: String) {
    let script = """
        import hashlib, socket, ssl, sys
        ctx = ssl.create_default_context(cafile=sys.argv[2])
        if sys.argv[4]: ctx.maximum_version = getattr(ssl.TLSVersion, sys.argv[4])
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(f"GET {sys.argv[3]} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n".encode())
                data = b""
                while chunk := s.recv(65536): data += chunk
                print(s.version(), hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest(), data.split(b"\\r\\n")[0].decode())
        """
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("tlsget-\(getpid()).py").path
    try script.write(toFile: file, atomically: true, encoding: .utf8)
    return try sh("python3 '\(file)' \(port) '\(ca)' '\(path)' '\(maxVersion)'")
}

@Suite(.serialized) struct TLS {
    let dir: String = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-tls-\(getpid())-\(UInt32.random(in: 0 ... .max))").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }()

    @Test("HTTPS with curl and Python's ssl: TLS 1.2 and 1.3 served, 1.1 and plain HTTP refused (counted), same answers as over TCP")
    func clients() throws {
        let a = try TestCertificate(dir: dir, name: "a")
        let s = try ServerProcess(["--tls-cert", a.cert, "--tls-key", a.key])
        defer { s.stop() }
        let url = "https://localhost:\(s.port)"
        var r = try sh("curl -sS --cacert '\(a.cert)' \(url)/health")
        #expect(r.status == 0 && r.output.contains("\"ok\""), "\(r.output)")
        r = try sh("curl -sS --cacert '\(a.cert)' --tlsv1.2 --tls-max 1.2 -o /dev/null -w '%{http_code}' \(url)/ready")
        #expect(r.status == 0 && r.output == "200", "TLS 1.2: \(r.output)")
        r = try sh("curl -sS --cacert '\(a.cert)' --tls-max 1.1 \(url)/health")
        #expect(r.status != 0, "TLS 1.1 must be refused: \(r.output)")

        // An embedding over TLS equals the one over plain TCP from the same weights.
        let body = jsonBody(["ecg": Array(fixtureInputs[0..<2560]).map(Double.init), "preprocessed": true])
        let bodyFile = "\(dir)/body.json"
        try Data(body).write(to: URL(fileURLWithPath: bodyFile))
        r = try sh("curl -sS --cacert '\(a.cert)' -H 'Content-Type: application/json' --data-binary @\(bodyFile) \(url)/embed")
        let viaTLS = try #require((try? JSONSerialization.jsonObject(with: Data(r.output.utf8))) as? [String: Any], "\(r.output.prefix(300))")
        let plain = try ServerProcess([])
        defer { plain.stop() }
        let c = try RawClient(port: plain.port)
        c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        let viaTCP = try #require(c.response()?.json as? [String: Any])
        let e1 = try #require((viaTLS["embeddings"] as? [[Double]])?.first), e2 = try #require((viaTCP["embeddings"] as? [[Double]])?.first)
        #expect(e1.count == 128 && e1 == e2)

        r = try pythonTLSGet(port: s.port, ca: a.cert)
        #expect(r.status == 0 && r.output.hasPrefix("TLSv1.3 \(a.fingerprint) HTTP/1.1 200"), "python ssl: \(r.output)")
        r = try pythonTLSGet(port: s.port, ca: a.cert, maxVersion: "TLSv1_2")
        #expect(r.status == 0 && r.output.hasPrefix("TLSv1.2 "), "python ssl, TLS 1.2: \(r.output)")

        // Plain HTTP on the TLS port: a plain 400 that says so (issue #19), and counted as a failed handshake.
        let p = try RawClient(port: s.port, timeout: 10)
        p.send(request("GET", "/health"))
        #expect(p.response()?.errorCode == "tls_required")
        r = try sh("curl -sS --cacert '\(a.cert)' \(url)/metrics")
        let failed = r.output.split(separator: "\n").first { $0.hasPrefix("ecg_tls_failures_total{phase=\"handshake\"}") }
        #expect((failed?.split(separator: " ").last).flatMap { Int($0) } ?? 0 >= 2, "\(failed ?? "no tls metric")")
    }

    @Test("clients that open TCP and never finish a handshake block no one, and are closed by the header timeout")
    func silentHandshakes() throws {
        let a = try TestCertificate(dir: dir, name: "b")
        let s = try ServerProcess(["--tls-cert", a.cert, "--tls-key", a.key, "--header-timeout", "2", "--workers", "1"])
        defer { s.stop() }
        // 50 that send nothing, 50 that send the first bytes of a ClientHello and stop.
        var silent: [RawClient] = []
        for i in 0..<100 {
            let c = try RawClient(port: s.port, timeout: 10)
            if i % 2 == 1 { c.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) }
            silent.append(c)
        }
        for _ in 0..<3 {
            let r = try pythonTLSGet(port: s.port, ca: a.cert, path: "/ready")
            #expect(r.status == 0 && r.output.contains("HTTP/1.1 200"), "\(r.output)")
        }
        // Each is closed by the server after the header timeout (2 s), not held open.
        let t0 = Date()
        for c in silent { #expect(c.closedByPeer()) }
        #expect(Date().timeIntervalSince(t0) < 9, "silent handshakes were held \(Date().timeIntervalSince(t0)) s")
    }

    @Test("SIGHUP reloads the certificate for new connections; a broken pair is refused and the old one kept")
    func reload() throws {
        let a = try TestCertificate(dir: dir, name: "c1"), b = try TestCertificate(dir: dir, name: "c2")
        try a.install(as: "live")
        let s = try ServerProcess(["--tls-cert", "\(dir)/live.pem", "--tls-key", "\(dir)/live-key.pem"], quiet: false)
        defer { s.stop() }
        // Trusting both, so that the fingerprint tells which one is served.
        let both = "\(dir)/both.pem"
        try (String(contentsOfFile: a.cert, encoding: .utf8) + String(contentsOfFile: b.cert, encoding: .utf8)).write(
            toFile: both, atomically: true, encoding: .utf8)
        var r = try pythonTLSGet(port: s.port, ca: both)
        #expect(r.output.contains(a.fingerprint), "before: \(r.output)")
        try b.install(as: "live")
        kill(s.pid, SIGHUP)
        var served = ""
        #expect(waitUntil { s.logSoFar.contains("tls_reloaded") }, "no tls_reloaded line after SIGHUP")
        try waitUntil(timeout: 10, poll: 0.1) {
            r = try pythonTLSGet(port: s.port, ca: both)
            served = r.output
            return served.contains(b.fingerprint)
        }
        #expect(served.contains(b.fingerprint), "after SIGHUP: \(served)")
        // A key that does not match: the reload fails, the served certificate stays b.
        try FileManager.default.removeItem(atPath: "\(dir)/live-key.pem")
        try FileManager.default.copyItem(atPath: a.key, toPath: "\(dir)/live-key.pem")
        kill(s.pid, SIGHUP)
        #expect(waitUntil { s.logSoFar.contains("tls_reload_failed") }, "no tls_reload_failed line after the bad SIGHUP")
        r = try pythonTLSGet(port: s.port, ca: both)
        #expect(r.status == 0 && r.output.contains(b.fingerprint), "after a bad reload: \(r.output)")
        s.stop()
        let log = s.log()
        #expect(log.contains("\"tls_reloaded\"") && log.contains("\"tls_reload_failed\"") && log.contains("does not match"), "\(log.suffix(600))")
    }

    @Test("a missing or mismatched certificate stops the server at start with exit 2 and says which file")
    func badStart() throws {
        let a = try TestCertificate(dir: dir, name: "d1"), b = try TestCertificate(dir: dir, name: "d2")
        for (args, expected) in [
            (["--tls-cert", "\(dir)/nope.pem", "--tls-key", a.key], "nope.pem"),
            (["--tls-cert", a.cert, "--tls-key", b.key], "does not match"),
            (["--tls-cert", a.cert], "go together"),
        ] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Process_.serverBin)
            p.arguments = ["--port", "0", "--weights", fixtureWeightsDir] + args
            let err = Pipe()
            p.standardError = err; p.standardOutput = FileHandle.nullDevice
            try p.run(); p.waitUntilExit()
            let msg = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(p.terminationStatus != 0 && msg.contains(expected), "\(args): \(p.terminationStatus) \(msg)")
        }
    }
}

/// Issue #19 item 8: the wrong protocol on a port is told so at once, in a form it can read.
@Suite(.serialized) struct WrongProtocol {
    @Test("plain HTTP on the TLS port reads a plain 400 that says the port speaks TLS (not a bare reset)")
    func plainOnTLS() throws {
        let a = try TestCertificate.fresh("plain")
        let s = try ServerProcess(["--tls-cert", a.cert, "--tls-key", a.key])
        defer { s.stop() }
        let r = try sh("curl -sS -m 10 -o - -w ' %{http_code}' http://127.0.0.1:\(s.port)/health")
        #expect(r.output.contains("tls_required") && r.output.hasSuffix(" 400"), "\(r.status) \(r.output)")
    }

    @Test("TLS on the plain port gets 400 at once, not after the header timeout")
    func tlsOnPlain() throws {
        let s = try TestServer(["--header-timeout", "10"])
        let c = try RawClient(port: s.port)
        let t0 = Date()
        // The first bytes of a TLS 1.2 ClientHello record.
        c.send([0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03])
        let r = try #require(c.response())
        #expect(r.status == 400 && r.text.contains("plain-HTTP port"), "\(r.status) \(r.text)")
        #expect(Date().timeIntervalSince(t0) < 3)
    }
}

@Suite(.serialized) struct TLSThreads {
    @Test("hundreds of TLS connections that never send a ClientHello: threads stay bounded, each timed-out handshake is counted")
    func silentClients() throws {
        let a = try TestCertificate.fresh("silent")
        let s = try ServerProcess(["--tls-cert", a.cert, "--tls-key", a.key, "--header-timeout", "1"])
        defer { s.stop() }
        func threads() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(s.pid)/task").count) ?? -1 }
        var peak = threads()
        for _ in 0..<3 {
            var fds: [Int32] = []
            for _ in 0..<300 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_port = UInt16(s.port).bigEndian
                inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
                let rc = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                if rc == 0 { fds.append(fd) } else { close(fd) }
            }
            for _ in 0..<25 { usleep(100_000); peak = max(peak, threads()) }
            for fd in fds { close(fd) }
        }
        print("TLS silent clients: peak \(peak) threads")
        #expect(peak <= 32, "peak \(peak) threads (was 170-260 before the connection queues left the overcommit pool)")
        let r = try sh("curl -sS --cacert '\(a.cert)' https://localhost:\(s.port)/metrics")
        let line = r.output.split(separator: "\n").first { $0.hasPrefix("ecg_tls_failures_total{phase=\"handshake\"}") }
        let failed = (line?.split(separator: " ").last).flatMap { Int($0) } ?? 0
        #expect(failed >= 600, "\(line ?? "no metric")")
    }
}
