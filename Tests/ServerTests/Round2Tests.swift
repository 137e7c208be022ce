import Foundation
import TestSupport
import Testing
import Model
import NPY
@testable import HTTP
@testable import Server

/// Issue #19 (reliability, round 2): each test failed on main 6b96c1a.
@Suite(.serialized) struct ReliabilityRound2 {
    static func keysFile(_ keys: [String]) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        try keys.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func status(_ port: Int, _ key: String?) throws -> Int {
        let c = try RawClient(port: port)
        c.send(request("GET", "/v1/model", headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:]))
        return try #require(c.response()).status
    }

    /// Waits (up to 10 s) until `cond` holds.
    static func eventually(_ cond: () throws -> Bool) rethrows -> Bool { try waitUntil(timeout: 10, poll: 0.05, cond) }

    @Test("drain: an idle connection it closes while a request sits unread in the socket ends with a FIN (lingering close), not a reset")
    func drainClosesWithLinger() throws {
        // Item 5: under SIGTERM at full load a request could cross the drain's close of an idle
        // keep-alive connection; closing a socket with unread input sends RST and the client
        // loses even the end of the stream. Made deterministic: reads are stopped, so the
        // second request stays unread when the drain's grace ends and the connection closes.
        let t = try TestServer()
        let c = try RawClient(port: t.port, timeout: 10)
        c.send(request("GET", "/health"))
        #expect(try #require(c.response()).status == 200)
        #expect(Self.eventually { t.server.openConnections.count == 1 })
        for conn in t.server.openConnections { conn.suspendReadingForTests() }
        c.send(request("GET", "/health"))  // unread: the connection is idle to the server
        t.server.beginDrain()  // closes it after drainIdleGrace (1 s)
        let ended = Date()
        #expect(c.response() == nil)
        #expect(c.lastReadError.hasPrefix("EOF"), "the client saw \(c.lastReadError), not a clean end of stream")
        #expect(Date().timeIntervalSince(ended) < 8)
    }

    @Test("SIGHUP without TLS: the server stays up and reloads the API keys (new accepted, removed refused, unreadable kept)")
    func sighupKeys() throws {
        let old = "old-key-0123456789abcdef", new = "new-key-0123456789abcdef"
        let file = try Self.keysFile([old])
        let s = try ServerProcess(["--api-keys-file", file], quiet: false)
        defer { s.stop() }
        defer {
            if !s.process.isRunning || s.process.terminationStatus != 0 {
                print("ecg-server (exit \(s.process.isRunning ? "-" : "\(s.process.terminationStatus)")) log:\n\(s.log())\nstderr:\n\(s.stderr())")
            }
        }
        #expect(try Self.status(s.port, old) == 200 && Self.status(s.port, new) == 401)
        try [new].joined().write(toFile: file, atomically: true, encoding: .utf8)
        kill(s.pid, SIGHUP)
        #expect(try Self.eventually { try Self.status(s.port, new) == 200 })
        #expect(try Self.status(s.port, old) == 401)
        #expect(s.process.isRunning)
        // An unreadable file: the keys in force are kept.
        try FileManager.default.removeItem(atPath: file)
        kill(s.pid, SIGHUP)
        #expect(waitUntil { s.logSoFar.contains("api_keys_reload_failed") })
        #expect(try Self.status(s.port, new) == 200)
        #expect(s.process.isRunning)
        kill(s.pid, SIGTERM)
        s.process.waitUntilExit()
        let log = s.log()
        #expect(log.contains("api_keys_reloaded") && log.contains("api_keys_reload_failed") && log.contains("\"sighup\""))
        #expect(!log.contains(new) && !log.contains(old), "keys must never be logged")
    }

    @Test("two Authorization headers, bad percent-encoding, unknown query parameters and hexadecimal fs are 400")
    func badRequests() throws {
        let s = try TestServer()
        let npy = NPY.encode(NPYArray(floats: Array(fixtureInputs[0..<2560]), shape: [2560]))
        let cases: [(String, [String: String], [UInt8], String)] = [
            ("/embed?fs=256", ["Content-Type": "application/x-npy", "Authorization": "Bearer a"], npy, "two Authorization headers"),
            ("/embed?fs=%G0", ["Content-Type": "application/x-npy"], npy, "bad percent-encoding"),
            ("/embed?fs=256&window=5", ["Content-Type": "application/x-npy"], npy, "unknown query parameter"),
            ("/embed?fs=0x100", ["Content-Type": "application/x-npy"], npy, "hexadecimal fs"),
        ]
        for (k, (path, headers, body, what)) in cases.enumerated() {
            let c = try RawClient(port: s.port)
            var raw = request("POST", path, body: body, headers: headers)
            if k == 0 {  // a second Authorization header, spliced in after the request line
                let text = String(decoding: raw, as: UTF8.self)
                raw = Array(text.replacingOccurrences(of: "\r\n", with: "\r\nAuthorization: Bearer b\r\n", options: [], range: text.range(of: "\r\n")).utf8)
            }
            c.send(raw)
            let r = try #require(c.response())
            #expect(r.status == 400, "\(what): \(r.status) \(r.text)")
        }
        // The same body with a plain rate is served.
        let c = try RawClient(port: s.port)
        c.send(request("POST", "/embed?fs=256", body: npy, headers: ["Content-Type": "application/x-npy"]))
        #expect(try #require(c.response()).status == 200)
    }

    @Test("too many windows is refused from sizes alone (npy header, sample counts) and beyond the queue is 413, not 503")
    func windowLimits() throws {
        let s = try TestServer(["--max-windows", "4", "--queue-capacity", "3"])
        // 8 windows' worth of int8 at 50 Hz = 40 windows at 256 Hz: 413 before decoding.
        let big = NPYArray(dtype: .i1, shape: [50 * 80], data: [UInt8](repeating: 1, count: 50 * 80))
        var c = try RawClient(port: s.port)
        c.send(request("POST", "/embed?fs=50", body: NPY.encode(big), headers: ["Content-Type": "application/x-npy"]))
        var r = try #require(c.response())
        #expect(r.status == 413 && r.errorCode == "too_many_windows", "\(r.text)")
        // 4 windows: within --max-windows, beyond --queue-capacity: it could never be queued.
        c = try RawClient(port: s.port)
        c.send(
            request(
                "POST", "/embed", body: jsonBody(["ecg": Array(fixtureInputs[0..<(4 * 2560)]).map(Double.init), "preprocessed": true]),
                headers: ["Content-Type": "application/json"]))
        r = try #require(c.response())
        #expect(r.status == 413 && r.errorCode == "too_many_windows" && r.headers["retry-after"] == nil, "\(r.status) \(r.text)")
    }

    @Test("Open Inference Protocol requests are labelled by route in /metrics, not '(unknown)'")
    func v2Metrics() throws {
        let s = try TestServer()
        for path in ["/v2", "/v2/health/ready", "/v2/models/ssl-ecg"] {
            let c = try RawClient(port: s.port)
            c.send(request("GET", path))
            _ = c.response()
        }
        let c = try RawClient(port: s.port)
        c.send(request("GET", "/metrics"))
        let m = try #require(c.response()).text
        #expect(m.contains("route=\"/v2/health/ready\"") && m.contains("route=\"/v2/models/ssl-ecg\"") && m.contains("route=\"/v2\""), "\(m.prefix(2000))")
        #expect(!m.contains("route=\"(unknown)\""))
    }

    @Test("the memory budget: a request that does not fit beside another gets 503 memory_busy with Retry-After; alone it is admitted; released after")
    func memoryBudget() throws {
        let s = try TestServer(["--memory-budget-mib", "1"])
        let body = jsonBody(["ecg": Array(fixtureInputs[0..<(2 * 2560)]).map(Double.init), "preprocessed": true])
        s.queue.setPaused(true)
        let a = try RawClient(port: s.port)
        a.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        waitUntil { s.queue.depth >= 2 }
        #expect(s.service.memory.reserved > 1 << 20)  // alone, over the budget, admitted
        let b = try RawClient(port: s.port)
        b.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        let r = try #require(b.response())
        #expect(r.status == 503 && r.errorCode == "memory_busy" && r.headers["retry-after"] == "1", "\(r.status) \(r.errorCode ?? "")")
        s.queue.setPaused(false)
        #expect(a.response()?.status == 200)
        #expect(Self.eventually { s.service.memory.reserved == 0 })
        let c = try RawClient(port: s.port)
        c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        #expect(try #require(c.response()).status == 200)
    }

    @Test("/features and /embed give every window the same grade (one grade per window)")
    func oneGrade() throws {
        let s = try TestServer()
        var g = SeededRandom(#function, salt: 1)
        // 20 s of ECG then 20 s of noise at 500 Hz, and a recording with a flat stretch.
        let ecg = PersonalBaseline.ecg(seconds: 20, fs: 500, rr: 0.8)
        let mixed = ecg + (0..<(500 * 20)).map { _ in Double.random(in: -1...1, using: &g) }
        let flat = PersonalBaseline.ecg(seconds: 15, fs: 500, rr: 0.7) + [Double](repeating: 0.3, count: 500 * 15)
        var grades: [String: [String]] = [:]
        for path in ["/features", "/embed"] {
            let c = try RawClient(port: s.port)
            c.send(request("POST", path, body: jsonBody(["ecg": [mixed, flat], "fs": 500]), headers: ["Content-Type": "application/json"]))
            let r = try #require(c.response())
            #expect(r.status == 200, "\(path): \(r.status)")
            grades[path] = try #require((r.json as? [String: Any])?["windows"] as? [[String: Any]]).map { $0["quality"] as? String ?? "?" }
        }
        #expect(grades["/features"] == grades["/embed"], "\(grades)")
        #expect(grades["/embed"]?.contains("unusable") == true && grades["/embed"]?.first != "unusable")
    }
}
