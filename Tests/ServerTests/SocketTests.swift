import TestSupport
import CZlib
import Foundation
import Model
import Training
import NPY
import Testing
@testable import HTTP
@testable import Server

func gzip(_ b: [UInt8]) -> [UInt8] {
    var s = z_stream()
    deflateInit2_(&s, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
    defer { deflateEnd(&s) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, uLong(b.count))) + 64)
    b.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            s.next_in = UnsafeMutablePointer(mutating: src.baseAddress); s.avail_in = uInt(src.count)
            s.next_out = dst.baseAddress; s.avail_out = uInt(dst.count)
            _ = deflate(&s, Z_FINISH)
        }
    }
    return Array(out[0..<Int(s.total_out)])
}

/// Hostile or invalid requests over a real socket: status, documented error code.
struct WireCase: CustomTestStringConvertible, Sendable {
    let name: String, raw: [UInt8], status: Int, code: String?
    var testDescription: String { name }
}

let window = (0..<2560).map { Double(sin(Double($0) / 20)) }
let wireCases: [WireCase] = {
    func post(_ body: [UInt8], _ ct: String = "application/json", path: String = "/embed", extra: [String: String] = [:]) -> [UInt8] {
        request("POST", path, body: body, headers: ["Content-Type": ct].merging(extra) { $1 })
    }
    var nanNPY = NPY.encode(NPYArray(doubles: window, shape: [2560])); nanNPY[nanNPY.count - 8 * 100] = 0; nanNPY[nanNPY.count - 8 * 100 + 6] = 0xF8;
    nanNPY[nanNPY.count - 8 * 100 + 7] = 0x7F
    let goodNPY = NPY.encode(NPYArray(doubles: window, shape: [2560]))
    let bomb = gzip([UInt8](repeating: 0x20, count: 20 << 20))
    return [
        WireCase(name: "bad JSON", raw: post(Array(#"{"ecg": [1, 2,"#.utf8)), status: 400, code: "bad_json"),
        WireCase(name: "JSON NaN literal", raw: post(Array(#"{"ecg": [NaN]}"#.utf8)), status: 400, code: "bad_json"),
        WireCase(name: "JSON not an object", raw: post(Array("[1,2,3]".utf8)), status: 400, code: "bad_request"),
        WireCase(name: "ecg is a string", raw: post(jsonBody(["ecg": "abc"])), status: 400, code: "bad_request"),
        WireCase(name: "ecg missing", raw: post(jsonBody(["fs": 256])), status: 400, code: "bad_request"),
        WireCase(name: "fs is a string", raw: post(jsonBody(["ecg": window, "fs": "256"])), status: 400, code: "bad_request"),
        WireCase(name: "preprocessed not bool", raw: post(jsonBody(["ecg": window, "preprocessed": 1])), status: 400, code: "bad_request"),
        WireCase(name: "unknown field", raw: post(jsonBody(["ecg": window, "extra": 1])), status: 400, code: "bad_request"),
        WireCase(name: "mixed nested arrays", raw: post(Array(#"{"ecg": [[1,2],3]}"#.utf8)), status: 400, code: "bad_request"),
        WireCase(name: "empty ecg", raw: post(jsonBody(["ecg": [Double](), "fs": 256])), status: 422, code: "empty"),
        WireCase(name: "empty recording among several", raw: post(jsonBody(["ecg": [window, [Double]()], "fs": 256])), status: 422, code: "empty"),
        WireCase(name: "too short", raw: post(jsonBody(["ecg": Array(window[0..<2559]), "fs": 256])), status: 422, code: "too_short"),
        WireCase(name: "fs too low", raw: post(jsonBody(["ecg": window, "fs": 10])), status: 422, code: "bad_fs"),
        WireCase(name: "fs negative", raw: post(jsonBody(["ecg": window, "fs": -256])), status: 422, code: "bad_fs"),
        WireCase(
            name: "preprocessed with fs 500", raw: post(jsonBody(["ecg": window + window, "fs": 500, "preprocessed": true])), status: 422, code: "bad_fs"),
        WireCase(name: "NaN in npy", raw: post(nanNPY, "application/x-npy", path: "/embed?fs=256"), status: 422, code: "non_finite"),
        WireCase(name: "truncated npy", raw: post(Array(goodNPY.dropLast(9)), "application/x-npy"), status: 400, code: "bad_npy"),
        WireCase(
            name: "3-D npy", raw: post(NPY.encode(NPYArray(floats: [Float](repeating: 0, count: 2560 * 2), shape: [1, 2, 2560])), "application/x-npy"),
            status: 422, code: "bad_shape"),
        WireCase(
            name: "npy with bad fs query", raw: request("POST", "/embed?fs=abc", body: goodNPY, headers: ["Content-Type": "application/x-npy"]), status: 400,
            code: "bad_request"),
        WireCase(name: "unsupported media type", raw: post(Array("ecg=1".utf8), "text/plain"), status: 415, code: "unsupported_media_type"),
        WireCase(name: "missing media type", raw: request("POST", "/embed", body: jsonBody(["ecg": window])), status: 415, code: "unsupported_media_type"),
        WireCase(
            name: "unsupported encoding", raw: post(jsonBody(["ecg": window]), extra: ["Content-Encoding": "br"]), status: 415, code: "unsupported_encoding"),
        WireCase(name: "corrupt gzip", raw: post(Array("not gzip at all".utf8), extra: ["Content-Encoding": "gzip"]), status: 400, code: "bad_gzip"),
        WireCase(name: "gzip bomb", raw: post(bomb, extra: ["Content-Encoding": "gzip"]), status: 413, code: "payload_too_large"),
        WireCase(
            name: "oversize body", raw: Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n".utf8),
            status: 413, code: "payload_too_large"),
        WireCase(name: "too many windows", raw: post(jsonBody(["ecg": (0..<6).flatMap { _ in window }, "fs": 256])), status: 413, code: "too_many_windows"),
        WireCase(name: "wrong method", raw: request("PUT", "/embed", body: [1]), status: 405, code: "method_not_allowed"),
        WireCase(name: "GET on /classify", raw: request("GET", "/classify"), status: 405, code: "method_not_allowed"),
        WireCase(name: "unknown path", raw: request("GET", "/nope"), status: 404, code: "not_found"),
        WireCase(name: "HTTP/0.9", raw: Array("GET /health\r\n".utf8), status: 400, code: "bad_request"),
        WireCase(name: "HTTP/2 preface", raw: Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8), status: 400, code: "bad_request"),
        WireCase(name: "missing Host", raw: Array("GET /health HTTP/1.1\r\n\r\n".utf8), status: 400, code: "bad_request"),
        WireCase(
            name: "duplicate Content-Length", raw: Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}".utf8),
            status: 400, code: "bad_request"),
        WireCase(
            name: "CL with TE", raw: Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".utf8),
            status: 400, code: "bad_request"),
        WireCase(
            name: "bad chunk size", raw: Array("POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n".utf8), status: 400,
            code: "bad_request"),
        WireCase(
            name: "header overflow", raw: Array(("GET /health HTTP/1.1\r\nHost: x\r\nX-A: " + String(repeating: "a", count: 40000) + "\r\n\r\n").utf8),
            status: 431, code: "headers_too_large"),
        WireCase(
            name: "request line overflow", raw: Array(("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n").utf8), status: 414,
            code: "uri_too_long"),
        WireCase(
            name: "control byte in header name", raw: Array("GET /health HTTP/1.1\r\nHost: x\r\nX\u{1}A: b\r\n\r\n".utf8), status: 400, code: "bad_request"),
        WireCase(
            name: "POST without length", raw: Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n".utf8), status: 411,
            code: "length_required"),
        WireCase(name: "classify bad JSON", raw: post(Array("{".utf8), path: "/classify"), status: 400, code: "bad_json"),
    ]
}()

@Suite(.serialized) struct OverSockets {
    static let srv = try! TestServer(["--max-windows", "4", "--workers", "2"])

    @Test("GET endpoints, HEAD, 404 and 405 with Allow")
    func endpoints() throws {
        let c = try RawClient(port: Self.srv.port)
        c.send(request("GET", "/health")); var r = try #require(c.response())
        #expect(r.status == 200 && r.text == #"{"status":"ok"}"#)
        #expect(r.headers["date"] != nil && r.headers["x-request-id"] != nil)
        c.send(request("GET", "/ready")); r = try #require(c.response()); #expect(r.status == 200)
        c.send(request("GET", "/v1/model")); r = try #require(c.response())
        let m = try #require(r.json as? [String: Any])
        #expect((m["encoder"] as? [String: Any])?["sha256"] as? String == Self.srv.service.manifest.encoder.sha256)
        #expect(m["runtime"] != nil)
        c.send(request("GET", "/openapi.yaml")); r = try #require(c.response())
        let spec = [UInt8](try Data(contentsOf: URL(fileURLWithPath: repo("openapi.yaml"))))
        #expect(r.status == 200 && r.body == spec)
        c.send(request("HEAD", "/health")); r = try #require(c.response(head: true))
        #expect(r.status == 200 && r.body.isEmpty && r.headers["content-length"] == "15")
        c.send(request("DELETE", "/health")); r = try #require(c.response())
        #expect(r.status == 405 && r.headers["allow"] == "GET, HEAD" && r.errorCode == "method_not_allowed")
        c.send(request("GET", "/metrics")); r = try #require(c.response())
        #expect(r.status == 200 && r.text.contains("ecg_http_requests_total{route=\"/health\",status=\"200\"}"))
        #expect(r.text.contains("ecg_open_connections") && r.text.contains("ecg_inference_queue_depth"))
        c.send(request("GET", "/health", headers: ["X-Request-ID": "abc-123"])); r = try #require(c.response())
        #expect(r.headers["x-request-id"] == "abc-123")
    }

    @Test(
        "/v1/model of the shipped weights shows both stress heads (what they read, their figures with intervals) against the baselines, and the pretext tasks")
    func modelShowsEvaluation() throws {
        let s = try TestServer(weights: repo("weights"))
        let c = try RawClient(port: s.port)
        c.send(request("GET", "/v1/model")); let r = try #require(c.response())
        let m = try #require(r.json as? [String: Any])
        let evs = try #require(m["evaluations"] as? [[String: Any]])
        #expect(Set(evs.compactMap { $0["head"] as? String }) == ["stress", "stress (with a personal baseline)"])
        let models = try #require(evs.first?["models"] as? [[String: Any]])
        let hr = try #require(models.first { $0["name"] as? String == "heart rate (NeuroKit2 R peaks, one window)" })
        #expect((hr["balanced_accuracy"] as? Double).map { $0 > 0.5 && $0 < 1 } == true)
        #expect((hr["balanced_accuracy_ci95"] as? [Double])?.count == 2 && hr["brier_p_stress"] is Double && hr["brier"] == nil)
        let pv = try #require(m["pretext_validation"] as? [String: Any])
        #expect((pv["f1"] as? [String: Double])?.count == 7)
        let heads = try #require(m["heads"] as? [[String: Any]])
        #expect(heads.filter { $0["name"] as? String == "stress" }.count == 2)
        #expect(heads.contains { ($0["inputs"] as? [String: Any])?["baseline"] as? String == "difference" })
        for h in heads { #expect(((h["metrics"] as? [String: Double])?["balanced_accuracy_ci95_low"]).map { $0 > 0 } == true) }
    }

    @Test("inference workers carry their names in the OS (top -H, /proc/PID/task/*/comm)")
    func workerThreadNames() throws {
        _ = Self.srv.port
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(names.contains("inference-0") && names.contains("inference-1"), "\(names)")
    }

    @Test("parity through HTTP: fixture windows, preprocessed, equal TF's embeddings")
    func parityJSON() throws {
        let rows = (0..<4).map { i in fixtureInputs[(i * 2560)..<((i + 1) * 2560)].map(Double.init) }
        let c = try RawClient(port: Self.srv.port)
        c.send(request("POST", "/embed", body: jsonBody(["ecg": rows, "preprocessed": true]), headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text)")
        let j = try #require(r.json as? [String: Any])
        let e = (j["embeddings"] as! [[Double]]).flatMap { $0.map(Float.init) }
        #expect(relErr(e, Array(fixtureEmbeddings[0..<(4 * 128)])) <= 1e-5)
        #expect((j["windows"] as! [[String: Any]]).map { $0["recording"] as? Int } == [0, 1, 2, 3])
        // Per-window stage histograms: every computed window has a queue wait and a compute time.
        c.send(request("GET", "/metrics")); let m = try #require(c.response()).text
        func value(_ name: String) -> Double? {
            m.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let computed = try #require(value("ecg_inference_compute_seconds_count"))
        #expect(computed >= 4 && value("ecg_inference_queue_seconds_count") == computed && value("ecg_windows_processed_total") == computed)
        #expect(try #require(value("ecg_inference_compute_seconds_sum")) > 0)
        #expect(m.contains("ecg_inference_compute_seconds_bucket{le=\"0.005\"}"))
    }

    @Test("npy in, npy out, gzip: bit-identical to `ecg-train embed --preprocessed`")
    func npyMatchesCLI() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("srv-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bin = productsDir.appendingPathComponent("ecg-train").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = [
            "embed", "--weights", fixtureWeightsDir, "--in", repo("Tests/ModelTests/Fixtures/inputs.npy"),
            "--out", dir + "/cli.npy", "--preprocessed", "--quiet",
        ]
        try p.run(); p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let cli = try NPY.read(path: dir + "/cli.npy")
        let body = [UInt8](try Data(contentsOf: URL(fileURLWithPath: repo("Tests/ModelTests/Fixtures/inputs.npy"))))
        let c = try RawClient(port: Self.srv.port)
        for gz in [false, true] {
            var h = ["Content-Type": "application/x-npy", "Accept": "application/x-npy"]
            if gz { h["Content-Encoding"] = "gzip" }
            c.send(request("POST", "/embed?preprocessed=true&fs=256", body: gz ? gzip(body) : body, headers: h))
            let r = try #require(c.response())
            #expect(r.status == 413)  // 8 windows > --max-windows 4: checked first
        }
        let four = NPY.encode(NPYArray(floats: Array(fixtureInputs[0..<(4 * 2560)]), shape: [4, 2560]))
        for gz in [false, true] {
            var h = ["Content-Type": "application/x-npy", "Accept": "application/x-npy"]
            if gz { h["Content-Encoding"] = "gzip" }
            c.send(request("POST", "/embed?preprocessed=true", body: gz ? gzip(four) : four, headers: h))
            let r = try #require(c.response())
            #expect(r.status == 200 && r.headers["content-type"] == "application/x-npy")
            let a = try NPY.decode(r.body)
            #expect(a.shape == [4, 128])
            #expect(a.data == Array(cli.data[0..<(4 * 128 * 4)]), "bit-identical to the CLI")
        }
    }

    @Test("classify: probabilities per window and a label per recording")
    func classify() throws {
        let c = try RawClient(port: Self.srv.port)
        let rec = (0..<(500 * 25)).map { sin(Double($0) / 40) + 0.1 * cos(Double($0) / 3) }
        c.send(request("POST", "/classify", body: jsonBody(["ecg": rec, "fs": 500]), headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text)")
        let j = try #require(r.json as? [String: Any])
        let heads = try #require(j["heads"] as? [String: [String: Any]])
        let h = try #require(heads["ssl_transformations"])
        let probs = h["probabilities"] as! [[Double]]
        #expect(probs.count == 2 && probs.allSatisfy { $0.count == 7 && $0.allSatisfy { $0 >= 0 && $0 <= 1 } })
        #expect((j["remainders"] as! [[String: Any]])[0]["remainder_s"] as? Double == 5)
        #expect((j["recordings"] as! [[String: Any]]).count == 1)
    }

    @Test("hostile and invalid requests get the right 4xx, the JSON error, and the server lives", arguments: wireCases)
    func hostile(_ w: WireCase) throws {
        let c = try RawClient(port: Self.srv.port)
        c.send(w.raw)
        let r = try #require(c.response(), "\(w.name): no response")
        #expect(r.status == w.status, "\(w.name): \(r.status) \(r.text)")
        if let code = w.code { #expect(r.errorCode == code, "\(w.name): \(r.text)") }
        #expect(r.headers["content-type"] == "application/json")
        let alive = try RawClient(port: Self.srv.port)
        alive.send(request("GET", "/health"))
        #expect(alive.response()?.status == 200)
    }

    @Test("at least 40 hostile cases over the wire")
    func enoughCases() { #expect(wireCases.count >= 40) }

    @Test("pipelined requests are answered in order; Connection: close is honoured")
    func pipelining() throws {
        let c = try RawClient(port: Self.srv.port)
        let one = fixtureInputs[0..<2560].map(Double.init)
        c.send(
            request("POST", "/embed", body: jsonBody(["ecg": one, "preprocessed": true]), headers: ["Content-Type": "application/json"])
                + request("GET", "/nope") + request("GET", "/health", headers: ["Connection": "close"]))
        #expect(c.response()?.status == 200)
        #expect(c.response()?.status == 404)
        let last = c.response()
        #expect(last?.status == 200 && last?.headers["connection"] == "close")
        #expect(c.closedByPeer())
    }

    @Test("HTTP/1.0 closes by default; Expect: 100-continue; chunked upload")
    func protocolFeatures() throws {
        var c = try RawClient(port: Self.srv.port)
        c.send("GET /health HTTP/1.0\r\n\r\n")
        #expect(c.response()?.headers["connection"] == "close")
        #expect(c.closedByPeer())
        c = try RawClient(port: Self.srv.port)
        let body = jsonBody(["ecg": fixtureInputs[0..<2560].map(Double.init), "preprocessed": true])
        c.send("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(body.count)\r\n\r\n")
        #expect(c.response()?.status == 100)
        c.send(body)
        #expect(c.response()?.status == 200)
        var chunked = Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        var off = 0
        while off < body.count {
            let n = min(1000, body.count - off)
            chunked += Array("\(String(n, radix: 16))\r\n".utf8) + body[off..<(off + n)] + [13, 10]
            off += n
        }
        c.send(chunked + Array("0\r\n\r\n".utf8))
        let r = try #require(c.response())
        #expect(r.status == 200)
        let e = ((r.json as! [String: Any])["embeddings"] as! [[Double]])[0].map(Float.init)
        #expect(relErr(e, Array(fixtureEmbeddings[0..<128])) <= 1e-5)
    }

    @Test("64 concurrent clients get correct, unmixed answers")
    func concurrentClients() throws {
        let port = Self.srv.port
        let results = Shared([String](repeating: "not run", count: 64))
        let group = DispatchGroup()
        for k in 0..<64 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                let row = k % 8
                func done(_ s: String) { results.withLock { $0[k] = s } }
                // The body is made before connecting: a connection silent for the header
                // timeout (10 s) is closed, which a slow (sanitizer) build can reach.
                let req = request(
                    "POST", "/embed", body: jsonBody(["ecg": fixtureInputs[(row * 2560)..<((row + 1) * 2560)].map(Double.init), "preprocessed": true]),
                    headers: ["Content-Type": "application/json", "X-Request-ID": "client-\(k)"])
                let c: RawClient
                do { c = try RawClient(port: port) } catch { return done("connect: \(error)") }
                c.send(req)
                guard let r = c.response() else { return done("no response (\(c.lastReadError))") }
                guard r.status == 200, r.headers["x-request-id"] == "client-\(k)",
                    let j = r.json as? [String: Any], let e = j["embeddings"] as? [[Double]], e.count == 1
                else { return done("\(r.status) \(r.text.prefix(200))") }
                let err = relErr(e[0].map(Float.init), Array(fixtureEmbeddings[(row * 128)..<((row + 1) * 128)]))
                done(err <= 1e-5 ? "ok" : "relative error \(err)")
            }
        }
        group.wait()
        for (k, r) in results.current.enumerated() { #expect(r == "ok", "client \(k): \(r)") }
    }

    @Test("IPv6 loopback")
    func ipv6() throws {
        let s = try TestServer(["--host", "::1"])
        let c = try RawClient(port: s.port, host: "::1")
        c.send(request("GET", "/health"))
        #expect(c.response()?.status == 200)
    }
}

@Suite(.serialized) struct Limits {
    @Test("a stalled request gets 408 after the read timeout")
    func readTimeout() throws {
        let s = try TestServer(["--read-timeout", "1"])
        let c = try RawClient(port: s.port)
        c.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        let r = try #require(c.response())
        #expect(r.status == 408 && r.errorCode == "request_timeout")
        #expect(c.closedByPeer())
    }

    @Test("a full queue answers 503 with Retry-After; a request larger than the queue itself 413")
    func queueFull() throws {
        let s = try TestServer(["--queue-capacity", "3"])
        func body(_ n: Int) -> [UInt8] { jsonBody(["ecg": Array(fixtureInputs[0..<(n * 2560)]).map(Double.init), "preprocessed": true]) }
        s.queue.setPaused(true)
        let a = try RawClient(port: s.port)
        a.send(request("POST", "/embed", body: body(2), headers: ["Content-Type": "application/json"]))
        waitUntil { s.queue.depth >= 2 }
        let b = try RawClient(port: s.port)
        b.send(request("POST", "/embed", body: body(2), headers: ["Content-Type": "application/json"]))
        let r = try #require(b.response())
        #expect(r.status == 503 && r.headers["retry-after"] == "1" && r.errorCode == "overloaded", "\(r.status) \(r.errorCode ?? "")")
        let c = try RawClient(port: s.port)
        c.send(request("POST", "/embed", body: body(4), headers: ["Content-Type": "application/json"]))
        let big = try #require(c.response())
        #expect(big.status == 413 && big.errorCode == "too_many_windows" && big.headers["retry-after"] == nil, "\(big.status) \(big.errorCode ?? "")")
        s.queue.setPaused(false)
        #expect(a.response()?.status == 200)
    }

    @Test("a client that disconnects gets its queued windows dropped")
    func disconnectDropsWork() throws {
        let s = try TestServer(["--workers", "1", "--max-batch", "1"])
        // A keeps the single worker busy with 32 windows; B queues 2 behind them and leaves.
        let rows = (0..<32).map { i in fixtureInputs[((i % 8) * 2560)..<((i % 8 + 1) * 2560)].map(Double.init) }
        let a = try RawClient(port: s.port)
        a.send(request("POST", "/embed", body: jsonBody(["ecg": rows, "preprocessed": true]), headers: ["Content-Type": "application/json"]))
        // Wait until A's windows are queued (the worker takes them one at a time).
        waitUntil(timeout: 10) { s.queue.depth >= 16 }
        do {
            let b = try RawClient(port: s.port)
            b.send(request("POST", "/embed", body: jsonBody(["ecg": Array(rows[0..<2]), "preprocessed": true]), headers: ["Content-Type": "application/json"]))
            shutdown(b.fd, Int32(SHUT_RDWR))
        }
        #expect(a.response()?.status == 200)
        // Let the worker drain whatever is left, then count what it computed.
        let c = try RawClient(port: s.port)
        for _ in 0..<50 where s.queue.depth > 0 { c.send(request("GET", "/health")); _ = c.response() }
        c.send(request("GET", "/health")); _ = c.response()
        #expect(
            s.service.metrics.windowsProcessed == 32, "computed \(s.service.metrics.windowsProcessed) windows; the disconnected client's 2 should be dropped")
    }

    @Test("connections beyond the limit are refused at once with 503 when none is idle and no probe slot is left")
    func maxConnections() throws {
        let s = try TestServer(["--max-connections", "1", "--reserved-probe-connections", "0"])
        let a = try RawClient(port: s.port)
        a.send(request("GET", "/health"))
        #expect(a.response()?.status == 200)
        a.send("GET /health HTTP/1.1\r\n")  // a request in progress: not idle, not evictable
        #expect(waitUntil { s.server.idleConnectionCount == 0 })
        let b = try RawClient(port: s.port)
        let r = b.response()
        #expect(r?.status == 503 && r?.errorCode == "too_many_connections")
    }

    @Test("not ready: 503 on /ready and on inference")
    func notReady() throws {
        let s = try TestServer()
        s.service.setReady(false)
        let c = try RawClient(port: s.port)
        c.send(request("GET", "/ready"))
        #expect(c.response()?.status == 503)
        c.send(request("POST", "/embed", body: jsonBody(["ecg": window]), headers: ["Content-Type": "application/json"]))
        #expect(c.response()?.status == 503)
    }
}

@Suite struct Process_ {
    static var serverBin: String { productsDir.appendingPathComponent("ecg-server").path }

    /// Starts the real binary and reads its port from the first log line.
    func launch(_ args: [String]) throws -> (Process, Int, Pipe) {
        let s = try ServerProcess(["--openapi", repo("openapi.yaml")] + args, quiet: false)
        return (s.process, s.port, s.out)
    }

    @Test("SIGTERM with requests in flight: none lost, then exit 0")
    func sigterm() throws {
        let (p, port, _) = try launch(["--workers", "1", "--drain-seconds", "20"])
        let n = 12
        let body = jsonBody(["ecg": (0..<4).map { i in fixtureInputs[(i * 2560)..<((i + 1) * 2560)].map(Double.init) }, "preprocessed": true])
        var clients: [RawClient] = []
        for _ in 0..<n {
            let c = try RawClient(port: port)
            c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
            clients.append(c)
        }
        // All requests are on the wire before the signal.
        let check = try RawClient(port: port)
        check.send(request("GET", "/metrics"))
        _ = check.response()
        kill(p.processIdentifier, SIGTERM)
        var ok = 0
        for c in clients { if let r = c.response(), r.status == 200, (r.json as? [String: Any])?["embeddings"] != nil { ok += 1 } }
        #expect(ok == n, "\(ok) of \(n) answered")
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }

    @Test("a bad weights directory is refused at start with a clear message and non-zero exit")
    func badWeights() throws {
        let r = try startExpectingRefusal(["--port", "0", "--weights", "/nonexistent-weights"])
        #expect(!r.started && r.status != 0)
        #expect(r.stderr.contains("cannot load weights") && r.stderr.contains("HINT"))
    }

    @Test(
        "a manifest whose preprocessing this build cannot do stops the server at start, named (it used to start and answer 422 to every request)",
        arguments: [("filter", "lowpass-7Hz"), ("normalization", "subject-robust-zscore"), ("polarity", "qrs-sideways")])
    func unknownPreprocessing(field: String, value: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-badpre-\(field)-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var pre = Manifest.Preprocessing(filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization)
        switch field {
        case "filter": pre.filter = value
        case "normalization": pre.normalization = value
        default: pre.polarity = value
        }
        let (net, _) = try WeightsDirectory.importTensors(from: repo("Tests/ModelTests/Fixtures/weights.npz"))
        _ = try WeightsDirectory.write(
            net, to: dir, preprocessing: pre,
            provenance: .init(description: "tests", datasets: [], licenses: [], command: "tests", created: "tests"))
        let r = try startExpectingRefusal(["--port", "0", "--host", "127.0.0.1", "--weights", dir])
        #expect(!r.started, "the server started with \(field) '\(value)'")
        #expect(r.status == 2)
        #expect(r.stderr.contains("cannot serve the weights") && r.stderr.contains("'\(value)'") && r.stderr.contains("HINT"), "\(r.stderr)")
    }
}
