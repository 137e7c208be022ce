import Foundation
import Sync
import TestSupport
import Testing
import Model
@testable import HTTP
@testable import Server

/// The server's own routes through its Router and middleware, on request values: no sockets.
@Suite struct AppRoutes {
    /// The router of a server assembled (not started) on the fixture weights.
    static func router(keys: [String] = []) throws -> (Router, ECGService) {
        var extra: [String] = []
        if !keys.isEmpty {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("route-keys-\(UUID().uuidString)").path
            try keys.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            extra = ["--api-keys-file", file]
        }
        let o = try ECGServer.parse(["--weights", fixtureWeightsDir, "--workers", "1"] + extra)
        let m = try Manifest.load(directory: o.weights)
        let apiKeys = keys.isEmpty ? APIKeys() : try APIKeys(file: o.apiKeysFile)
        let (_, service, queue) = try ECGServer.assemble(
            network: try m.loadNetwork(directory: o.weights), manifest: m, affect: [], configuration: o.configuration, logger: Logger(enabled: false),
            apiKeys: apiKeys)
        queue.stop()
        service.setReady(true)
        return (service.router(), service)
    }

    static func answer(_ router: Router, _ r: HTTPRequest) -> HTTPResponse {
        let got = Locked<HTTPResponse?>(nil)
        _ = router.handle(r, requestID: "t") { resp in got.withLock { $0 = resp } }
        return got.withLock { $0 } ?? HTTPResponse(status: 0)
    }

    static func json(_ r: HTTPResponse) -> [String: Any] { (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:] }

    @Test("probes, 404 and 405 in each protocol's error shape, HEAD without a body, versioned v2 paths")
    func routes() throws {
        let (router, _) = try Self.router()
        let health = Self.answer(router, HTTPRequest("GET", "/health"))
        #expect(health.status == 200 && String(decoding: health.body, as: UTF8.self) == #"{"status":"ok"}"#)
        let head = Self.answer(router, HTTPRequest("HEAD", "/ready"))
        #expect(head.status == 200 && head.omitBody)
        let nf = Self.answer(router, HTTPRequest("GET", "/nope"))
        #expect(nf.status == 404 && (Self.json(nf)["error"] as? [String: Any])?["code"] as? String == "not_found")
        let na = Self.answer(router, HTTPRequest("GET", "/embed"))
        #expect(na.status == 405 && na.headers.contains { $0 == ("Allow", "POST") })
        // The Open Inference Protocol's errors are {"error": "message"}.
        let v2nf = Self.answer(router, HTTPRequest("GET", "/v2/models/other"))
        #expect(v2nf.status == 404 && (Self.json(v2nf)["error"] as? String)?.contains("unknown model") == true)
        let v2na = Self.answer(router, HTTPRequest("GET", "/v2/models/ssl-ecg/infer"))
        #expect(v2na.status == 405 && Self.json(v2na)["error"] is String && v2na.headers.contains { $0 == ("Allow", "POST") })
        let versioned = Self.answer(router, HTTPRequest("GET", "/v2/models/ssl-ecg/versions/1/ready"))
        #expect(versioned.status == 200 && String(decoding: versioned.body, as: UTF8.self) == #"{"ready":true}"#)
        #expect(router.probePaths == ["/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"])
    }

    @Test("API keys as middleware: authenticated routes need a key, probes do not; two Authorization headers are refused")
    func keys() throws {
        let key = "route-test-key-0123456789"
        let (router, _) = try Self.router(keys: [key])
        let none = Self.answer(router, HTTPRequest("GET", "/v1/model"))
        #expect(none.status == 401 && none.headers.contains { $0.0 == "WWW-Authenticate" })
        let wrong = Self.answer(router, HTTPRequest("GET", "/v1/model", headers: [("authorization", "Bearer not-the-key-000000")]))
        #expect(wrong.status == 401 && wrong.headers.contains { $0.0 == "WWW-Authenticate" && $0.1.contains("invalid_token") })
        #expect(Self.answer(router, HTTPRequest("GET", "/v1/model", headers: [("authorization", "Bearer \(key)")])).status == 200)
        #expect(Self.answer(router, HTTPRequest("GET", "/health")).status == 200)
        let v2 = Self.answer(router, HTTPRequest("GET", "/v2/models/ssl-ecg"))
        #expect(v2.status == 401 && Self.json(v2)["error"] is String)
        let twice = Self.answer(router, HTTPRequest("GET", "/health", headers: [("authorization", "Bearer a"), ("authorization", "Bearer b")]))
        #expect(twice.status == 400)
    }
}
