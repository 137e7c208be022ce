import CZlib
import Foundation
import Model
import NPY
import Testing
@testable import HTTP
@testable import Server

/// Issue #10: every answer right, no silent defaults, HTTP details.
@Suite(.serialized) struct Serving {
    static let srv = try! TestServer()
    static let raw20s = (0..<(500 * 20)).map { sin(Double($0) / 40) + 0.1 * cos(Double($0) / 3) }

    func send(_ bytes: [UInt8]) throws -> Response {
        let c = try RawClient(port: Self.srv.port)
        c.send(bytes)
        return try #require(c.response())
    }
    func json(_ o: [String: Any], path: String = "/embed", headers: [String: String] = [:]) throws -> Response {
        try send(request("POST", path, body: jsonBody(o), headers: ["Content-Type": "application/json"].merging(headers) { $1 }))
    }

    @Test("samples beyond ±1e15 are refused with 422 naming the sample, in JSON and float64 npy")
    func outOfRange() throws {
        var w = Array(fixtureInputs[0..<2560]).map(Double.init)
        w[17] = 1e39
        var r = try json(["ecg": w, "preprocessed": true])
        #expect(r.status == 422 && r.errorCode == "out_of_range" && r.text.contains("sample 17"), "\(r.text)")
        w[17] = 1e300
        let npy = NPY.encode(NPYArray(dtype: .f8, shape: [2560], data: w.withUnsafeBytes { Array($0) }))
        r = try send(request("POST", "/classify?preprocessed=true", body: npy, headers: ["Content-Type": "application/x-npy"]))
        #expect(r.status == 422 && r.errorCode == "out_of_range", "\(r.text)")
    }

    @Test("any sampling rate from 50 Hz to 10 kHz is served", arguments: [333.333, 257.123, 256.001, 360.001, 50.0, 9999.9])
    func awkwardRates(_ fs: Double) throws {
        let n = Int((fs * 10.5).rounded(.up))
        let r = try json(["ecg": (0..<n).map { sin(Double($0) / fs * 7) }, "fs": fs])
        #expect(r.status == 200, "fs \(fs): \(r.text.prefix(200))")
        #expect((r.json as? [String: Any])?["embeddings"] as? [[Double]] != nil)
    }

    @Test("no silent defaults: a raw recording needs its rate; fs in the query of a JSON body is refused")
    func rates() throws {
        var r = try json(["ecg": Self.raw20s])
        #expect(r.status == 422 && r.errorCode == "missing_fs" && r.text.contains("\\\"fs\\\""), "\(r.text)")
        r = try send(request("POST", "/embed?fs=500", body: jsonBody(["ecg": Self.raw20s]), headers: ["Content-Type": "application/json"]))
        #expect(r.status == 400 && r.text.contains("query parameter 'fs'"), "\(r.text)")
        let npy = NPY.encode(NPYArray(floats: Self.raw20s.map(Float.init), shape: [Self.raw20s.count]))
        r = try send(request("POST", "/embed", body: npy, headers: ["Content-Type": "application/x-npy"]))
        #expect(r.status == 422 && r.errorCode == "missing_fs" && r.text.contains("?fs="), "\(r.text)")
        r = try send(request("POST", "/embed?fs=500", body: npy, headers: ["Content-Type": "application/x-npy"]))
        #expect(r.status == 200)
        r = try send(request("POST", "/embed?fs=500&fs=256", body: npy, headers: ["Content-Type": "application/x-npy"]))
        #expect(r.status == 400 && r.text.contains("more than once"), "\(r.text)")
        // Preprocessed windows are 256 Hz and need no rate.
        r = try json(["ecg": Array(fixtureInputs[0..<2560]).map(Double.init), "preprocessed": true])
        #expect(r.status == 200)
    }

    @Test(
        "Accept q-values are honoured",
        arguments: [
            ("application/x-npy", true), ("application/x-npy;q=0, application/json", false), ("application/json;q=0.5, application/x-npy", true),
            ("application/json, application/x-npy;q=0.9", false), ("*/*", false), ("application/x-npy; q=0.8, */*;q=0.1", true),
        ])
    func accept(_ c: (String, Bool)) throws {
        let r = try json(["ecg": Array(fixtureInputs[0..<2560]).map(Double.init), "preprocessed": true], headers: ["Accept": c.0])
        #expect(r.status == 200)
        #expect((r.headers["content-type"] == "application/x-npy") == c.1, "Accept: \(c.0) → \(r.headers["content-type"] ?? "")")
    }

    @Test("an npy answer carries the windows' recordings, starts, qualities and the remainders in headers")
    func npyMetadata() throws {
        let r = try json(["ecg": [Self.raw20s, Array(Self.raw20s[0..<6000])], "fs": 500], headers: ["Accept": "application/x-npy"])
        #expect(r.status == 200)
        #expect(try NPY.decode(r.body).shape == [3, 128])
        #expect(r.headers["x-window-recordings"] == "0,0,1" && r.headers["x-window-starts"] == "0,10,0")
        #expect(r.headers["x-window-quality"]?.split(separator: ",").count == 3)
        #expect(r.headers["x-remainders"] == "0:2:0.0,1:1:2.0")
    }

    @Test("HTTP/1.0 with Transfer-Encoding is a framing error (400), and parser refusals carry X-Request-ID")
    func framing() throws {
        let r = try send(Array("POST /embed HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n0\r\n\r\n".utf8))
        #expect(r.status == 400 && r.text.contains("HTTP/1.0") && !r.text.contains("only chunked"), "\(r.text)")
        #expect((r.headers["x-request-id"] ?? "").count == 16)
    }

    @Test("gzip: every member of a multi-member body is decoded; bytes after the last member are refused")
    func gzipMembers() throws {
        let body = jsonBody(["ecg": Array(fixtureInputs[0..<2560]).map(Double.init), "preprocessed": true])
        let half = body.count / 2
        var r = try send(
            request(
                "POST", "/embed", body: gzip(Array(body[..<half])) + gzip(Array(body[half...])),
                headers: ["Content-Type": "application/json", "Content-Encoding": "gzip"]))
        #expect(r.status == 200, "\(r.text)")
        r = try send(
            request("POST", "/embed", body: gzip(body) + Array("garbage".utf8), headers: ["Content-Type": "application/json", "Content-Encoding": "gzip"]))
        #expect(r.status == 400 && r.errorCode == "bad_gzip", "\(r.text)")
    }

    @Test("/openapi.yaml is the built-in spec, identical to openapi.yaml (SwiftPM embeds the file itself)")
    func builtInSpec() throws {
        let file = try String(contentsOfFile: repo("openapi.yaml"), encoding: .utf8)
        #expect(PackageResources.openapi_yaml == Array(file.utf8))
        let s = try TestServer(["--openapi", ""])
        let c = try RawClient(port: s.port)
        c.send(request("GET", "/openapi.yaml"))
        #expect(c.response()?.text == file)
    }
}

@Suite struct PolarityOverHTTP {
    /// The fixture's weights with a manifest that asks for QRS-up recordings.
    static let weights: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-fixture-qrsup-\(getpid())").path
        let (net, _) = try! WeightsDirectory.importTensors(from: repo("Tests/ModelTests/Fixtures/weights.npz"))
        _ = try! WeightsDirectory.write(
            net, to: dir,
            preprocessing: .init(
                filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization,
                polarity: Preprocessing.qrsUp),
            provenance: .init(description: "TF parity fixture, qrs-up (tests)", datasets: [], licenses: [], command: "tests", created: "tests"))
        return dir
    }()

    @Test("weights that say \"polarity\": \"qrs-up\" embed a recording and its negation alike; /v1/model says so")
    func qrsUp() throws {
        // 20 s at 500 Hz: upright R waves every 0.8 s on a slow wander.
        let x = (0..<10_000).map { i -> Double in
            let t = Double(i) / 500, ph = t.truncatingRemainder(dividingBy: 0.8)
            return exp(-(ph - 0.4) * (ph - 0.4) / (2 * 0.012 * 0.012)) + 0.25 * exp(-(ph - 0.65) * (ph - 0.65) / 0.005) + 0.3 * sin(t)
        }
        func embed(_ port: Int, _ ecg: [Double]) throws -> [[Double]] {
            let c = try RawClient(port: port)
            c.send(request("POST", "/embed", body: jsonBody(["ecg": ecg, "fs": 500]), headers: ["Content-Type": "application/json"]))
            let r = try #require(c.response())
            #expect(r.status == 200, "\(r.text.prefix(200))")
            return try #require((r.json as? [String: Any])?["embeddings"] as? [[Double]])
        }
        let up = try TestServer(weights: Self.weights), keep = try TestServer()
        let a = try embed(up.port, x), b = try embed(up.port, x.map { -$0 })
        #expect(a.count == 2 && a == b)
        // Without the polarity step the two differ (so the equality above is the step's doing).
        let c = try embed(keep.port, x), d = try embed(keep.port, x.map { -$0 })
        #expect(c == a && c != d)
        let m = try RawClient(port: up.port)
        m.send(request("GET", "/v1/model"))
        let model = try #require(m.response()?.json as? [String: Any])
        let pre = ((model["input"] as? [String: Any])?["preprocessing"] as? [String: Any])
        #expect(pre?["polarity"] as? String == "qrs-up", "\(model["input"] ?? "")")
    }
}

@Suite struct ReadmeExamples {
    @Test(
        "every `curl -s localhost:8080…` line of the README runs as written and answers 200",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")))
    func readme() throws {
        let lines = try String(contentsOfFile: repo("README.md"), encoding: .utf8).split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("curl -s localhost:8080") }
        #expect(lines.count >= 4)
        let s = try TestServer()
        for line in lines {
            let cmd = line.replacingOccurrences(of: "localhost:8080", with: "127.0.0.1:\(s.port)")
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", cmd + " -o /dev/null -w '%{http_code}'"]
            p.currentDirectoryURL = repoRoot
            let out = Pipe()
            p.standardOutput = out
            try p.run(); p.waitUntilExit()
            let code = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(code == "200", "\(line) → \(code)")
        }
    }
}

@Suite struct SpinningWorkers {
    /// Windows taken by a polling worker, read from /metrics.
    func pickups(_ c: RawClient) throws -> Double {
        c.send(request("GET", "/metrics"))
        let m = try #require(c.response()).text
        let line = try #require(m.split(separator: "\n").first { $0.hasPrefix("ecg_inference_spin_pickups_total ") })
        return try #require(Double(line.split(separator: " ")[1]))
    }

    @Test(
        "--spin-us: an idle worker that polls takes the next window without sleeping; answers unchanged; 0 never polls",
        arguments: [0.0, 100_000.0])
    func spin(_ us: Double) throws {
        let s = try TestServer(["--workers", "1", "--spin-us", String(us)])
        let c = try RawClient(port: s.port)
        let before = try pickups(c)
        // Back to back: each request reaches the queue within the 100 ms the worker polls
        // after the previous answer (npy, already preprocessed: little to decode). On a
        // loaded machine a gap can exceed 100 ms, so rounds of 4 continue until a pickup is
        // seen (at most 10 rounds); with 0 all 10 rounds go to a parked worker.
        var taken = 0.0
        var sent = 0
        while sent < 40 && (us == 0 || taken < 1) {
            let k = sent % 4
            let w = Array(fixtureInputs[(k * 2560)..<((k + 1) * 2560)])
            let npy = NPY.encode(NPYArray(dtype: .f4, shape: [2560], data: w.withUnsafeBytes { Array($0) }))
            c.send(request("POST", "/embed?preprocessed=true", body: npy, headers: ["Content-Type": "application/x-npy"]))
            let r = try #require(c.response())
            #expect(r.status == 200, "\(r.text)")
            let e = ((r.json as? [String: Any])?["embeddings"] as? [[Double]])?.first?.map(Float.init) ?? []
            #expect(relErr(e, Array(fixtureEmbeddings[(k * 128)..<((k + 1) * 128)])) <= 1e-5)
            sent += 1
            if sent % 4 == 0 { taken = try pickups(c) - before }
        }
        if us == 0 {
            #expect(taken == 0)
        } else {
            #expect(taken >= 1, "none of \(sent) back-to-back requests was taken while polling")
        }
    }

    @Test("--spin-us is bounded")
    func bounds() {
        #expect(throws: (any Error).self) { try ECGServer.parse(["--spin-us", "-1"]) }
        #expect(throws: (any Error).self) { try ECGServer.parse(["--spin-us", "100001"]) }
    }
}

@Suite struct OpenInferenceProtocol {
    @Test("/v2 infer: JSON tensors give the /embed embeddings; hostile shapes and methods are refused, never a crash")
    func v2() throws {
        let s = try TestServer()
        let c = try RawClient(port: s.port)
        let w = Array(fixtureInputs[0..<(2 * 2560)]).map(Double.init)
        c.send(
            request(
                "POST", "/v2/models/ssl-ecg/infer",
                body: jsonBody([
                    "id": "a", "parameters": ["preprocessed": true],
                    "inputs": [["name": "ecg", "shape": [2, 2560], "datatype": "FP32", "data": w]],
                    "outputs": [["name": "embedding"]],
                ]), headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let out = try #require(((r.json as? [String: Any])?["outputs"] as? [[String: Any]])?.first)
        #expect(out["shape"] as? [Int] == [2, 128])
        let e = try #require(out["data"] as? [Double]).map(Float.init)
        #expect(relErr(e, Array(fixtureEmbeddings[0..<256])) <= 1e-5)
        // Found by schemathesis: a shape beyond Int used to trap the server.
        for shape: [Double] in [[1e300], [-1], [2.5], [1e11, 1e11], [1, 2, 3]] {
            c.send(
                request(
                    "POST", "/v2/models/ssl-ecg/infer",
                    body: jsonBody([
                        "inputs": [["name": "ecg", "shape": shape, "datatype": "FP32", "data": [1.0]]]
                    ]), headers: ["Content-Type": "application/json"]))
            let b = try #require(c.response())
            #expect(b.status == 400 && (b.json as? [String: Any])?["error"] is String, "shape \(shape): \(b.status) \(b.text)")
        }
        c.send(request("DELETE", "/v2/models/ssl-ecg"))
        let m = try #require(c.response())
        #expect(m.status == 405 && m.headers["allow"] == "GET, HEAD")
        c.send(request("GET", "/v2/models/other"))
        #expect(c.response()?.status == 404)
    }
}
