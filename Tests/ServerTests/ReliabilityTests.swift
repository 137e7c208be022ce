import Testing
import Foundation
import TestSupport
import Model
import Training
import NPY
@testable import HTTP
@testable import Server

/// Resident set size of a process in bytes (Linux /proc).
func residentBytes(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

/// Open file descriptors of a process (Linux /proc).
func openFDs(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
}

/// The release or debug ecg-server binary beside the tests, started on port 0 with the
/// fixture weights; its stdout (the "ready" line) gives the port.
final class ServerProcess {
    let process: Process
    let port: Int
    var pid: Int32 { process.processIdentifier }

    let out: Pipe
    let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-server-stderr-\(UUID().uuidString)").path

    init(_ args: [String], quiet: Bool = true) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Process_.serverBin)
        p.arguments = ["--port", "0", "--host", "127.0.0.1", "--weights", fixtureWeightsDir] + (quiet ? ["--quiet"] : []) + args
        let out = Pipe()
        self.out = out
        p.standardOutput = out
        // stderr to a file of its own, so that a sanitizer's report reaches the test's output.
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardError = FileHandle(forWritingAtPath: errPath) ?? FileHandle.nullDevice
        try p.run()
        var text = ""
        while !text.contains("\"ready\"") {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        process = p
        port = Int(text.components(separatedBy: "\"port\":")[1].prefix { $0.isNumber })!
        // The rest of stdout as it comes, so a test can wait for a line while it runs.
        let logged = Shared(text)
        self.logged = logged
        reader = Thread {
            while true {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty { break }
                logged.withLock { $0 += String(decoding: d, as: UTF8.self) }
            }
        }
        reader.start()
    }

    private let logged: Shared<String>
    private let reader: Thread

    /// What it has logged so far (while it runs).
    var logSoFar: String { logged.current }
    /// Everything it logged (after it has been stopped).
    func log() -> String {
        waitUntil(timeout: 60) { reader.isFinished }
        return logged.current
    }
    /// What it wrote to stderr (e.g. a sanitizer's report).
    func stderr() -> String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    func stop() { kill(pid, SIGKILL); process.waitUntilExit() }
}

@Suite(.serialized) struct Memory {
    /// The leak of issue #8: every answered inference request stayed alive (a cycle
    /// slot → cancel → job → completion → respond → slot, and consumed queue items kept
    /// until 4096 had piled up), about 40 kB per window.
    @Test(
        "thousands of inference requests leave RSS flat", .enabled(if: ProcessInfo.processInfo.environment["ECG_SANITIZER"] == nil),
        arguments: ["npy", "json"])
    func rssFlat(_ format: String) throws {
        let s = try ServerProcess(["--workers", "1"])
        defer { s.stop() }
        let c = try RawClient(port: s.port)
        let win = Array(fixtureInputs[0..<2560])
        let body: [UInt8], type: String
        if format == "npy" {
            body = NPY.encode(NPYArray(floats: win, shape: [2560])); type = "application/x-npy"
        } else {
            body = jsonBody(["ecg": win.map(Double.init), "preprocessed": true]); type = "application/json"
        }
        let req = request("POST", format == "npy" ? "/embed?preprocessed=true" : "/embed", body: body, headers: ["Content-Type": type])
        func run(_ n: Int) throws {
            for _ in 0..<n {
                c.send(req)
                let r = try #require(c.response())
                try #require(r.status == 200, "\(r.status) \(r.text)")
            }
        }
        try run(300)  // warm-up: allocator arenas, caches
        let before = residentBytes(s.pid)
        try run(1500)
        let after = residentBytes(s.pid)
        let grown = Double(after - before) / 1_048_576
        print("rss \(format): \(before / 1_048_576) → \(after / 1_048_576) MiB over 1500 requests")
        // The leak grew 40 kB per window: 1500 windows → ~60 MB. Allow allocator noise.
        #expect(grown < 12, "RSS grew \(String(format: "%.1f", grown)) MiB over 1500 requests (\(before / 1_048_576) → \(after / 1_048_576) MiB)")
    }
}

@Suite(.serialized) struct ConnectionPressure {
    @Test("silent connections cannot lock clients out: the longest-idle one makes room, and they close after the header timeout")
    func idleSocketsEvicted() throws {
        let s = try TestServer(["--max-connections", "8", "--header-timeout", "1"])
        let silent = try (0..<8).map { _ in try RawClient(port: s.port) }
        #expect(waitUntil { s.server.connectionCount == 8 })  // all accepted before the next client
        // The server is full of connections that never sent a byte; a new client is served.
        let c = try RawClient(port: s.port)
        c.send(request("GET", "/health"))
        #expect(c.response()?.status == 200)
        c.send(
            request(
                "POST", "/embed", body: jsonBody(["ecg": Array(fixtureInputs[0..<2560]).map(Double.init), "preprocessed": true]),
                headers: ["Content-Type": "application/json"]))
        #expect(c.response()?.status == 200)
        // One silent connection was evicted at once; the others close after the header timeout.
        let t0 = Date()
        for q in silent { #expect(q.closedByPeer()) }
        #expect(Date().timeIntervalSince(t0) < 4)
        #expect(s.server.connectionCount == 1)
    }

    @Test("connections that never sent a request are evicted before a served keep-alive client")
    func silentFirst() throws {
        let s = try TestServer(["--max-connections", "4", "--header-timeout", "30"])
        let k = try RawClient(port: s.port)
        k.send(request("GET", "/health"))
        #expect(k.response()?.status == 200)
        // k is idle now, and older than the silent ones.
        #expect(waitUntil { s.server.idleConnectionCount == 1 })
        let silent = try (0..<3).map { _ in try RawClient(port: s.port) }
        #expect(waitUntil { s.server.connectionCount == 4 })
        for _ in 0..<3 {
            let n = try RawClient(port: s.port)
            n.send(request("GET", "/health"))
            #expect(n.response()?.status == 200)
        }
        k.send(request("GET", "/health"))
        #expect(k.response()?.status == 200, "the served keep-alive client was evicted")
        _ = silent
    }

    @Test("with every slot busy, probes are still answered on reserved slots; other routes get 503")
    func probesUnderPressure() throws {
        let s = try TestServer(["--max-connections", "4", "--header-timeout", "30", "--reserved-probe-connections", "2"])
        // Four clients each start a request and stall in the middle of its headers (busy, not idle).
        let slow = try (0..<4).map { _ in try RawClient(port: s.port) }
        for q in slow { q.send("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ") }
        #expect(waitUntil { s.server.connectionCount == 4 && s.server.idleConnectionCount == 0 }, "the four stalled requests were not all read")
        for path in ["/health", "/ready", "/metrics"] {
            do {
                let p = try RawClient(port: s.port)
                p.send(request("GET", path))
                let r = p.response()
                #expect(r?.status == 200, "\(path): \(r?.status ?? -1)")
                #expect(r?.headers["connection"] == "close")
            }  // the client closes here; the server frees the reserved slot when it sees that
            // Wait until it has (a lingering close ends on the client's FIN, asynchronously;
            // under the sanitizers that can take a while), so the next probe finds a free slot.
            waitUntil(timeout: 10, poll: 0.01) { s.server.connectionCount <= 4 }
            #expect(s.server.connectionCount == 4, "\(path): the probe connection was not released")
        }
        let other = try RawClient(port: s.port)
        other.send(request("POST", "/embed", body: jsonBody(["ecg": [1.0]]), headers: ["Content-Type": "application/json"]))
        let r = other.response()
        #expect(r?.status == 503 && r?.errorCode == "too_many_connections")
        // The stalled clients are still served when they finish.
        slow[0].send("1\r\n\r\n")
        #expect(slow[0].response()?.status == 200)
    }

    @Test("a header that trickles in is cut off with 408 after the header timeout")
    func slowHeaders() throws {
        let s = try TestServer(["--header-timeout", "1", "--read-timeout", "30"])
        let c = try RawClient(port: s.port)
        let t0 = Date()
        c.send("GET /health HTTP/1.1\r\n")
        for _ in 0..<3 { usleep(400_000); c.send("X") }
        let r = try #require(c.response())
        #expect(r.status == 408 && r.errorCode == "request_timeout")
        #expect(Date().timeIntervalSince(t0) < 3)
        // Issue #19: a 408 carries an X-Request-ID and is counted like any refusal.
        #expect((r.headers["x-request-id"] ?? "").count >= 8)
        let m = try RawClient(port: s.port)
        m.send(request("GET", "/metrics"))
        #expect(try #require(m.response()).text.contains("status=\"408\""))
    }
}

@Suite(.serialized) struct LingeringClose {
    /// Without a lingering close the kernel answers the unread input with RST and the
    /// client reads ECONNRESET instead of the response.
    @Test("a client that keeps sending after the limit still reads the 4xx", arguments: [431, 413, 414])
    func clientStillSending(_ status: Int) throws {
        let s = try TestServer(["--max-header-bytes", "4096", "--max-body-bytes", "65536", "--max-request-line", "1024"])
        let c = try RawClient(port: s.port)
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: 400_000)
        let payload: [UInt8]
        switch status {
        case 431: payload = Array("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ".utf8) + filler + Array("\r\n\r\n".utf8)
        case 413: payload = Array("POST /embed HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400000\r\n\r\n".utf8) + filler
        default: payload = Array("GET /".utf8) + filler + Array(" HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        }
        // The client keeps sending (8 kB every millisecond) while the server has already answered.
        // Like a sequential client (send everything, then read), it reads only when done.
        let fd = c.fd
        let done = DispatchSemaphore(value: 0)
        let sent = Shared(0)
        let sender = Thread {
            var off = 0
            while off < payload.count {
                let n = payload[off..<min(payload.count, off + 8192)].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n <= 0 { break }
                off += n
                usleep(500)
            }
            sent.withLock { $0 = off }
            done.signal()
        }
        sender.start()
        done.wait()
        // A client like Python's `requests` gives up when its send fails (EPIPE/ECONNRESET)
        // and never reads the answer: the server must read (and drop) what it sends.
        #expect(sent.current == payload.count, "the client could send only \(sent.current) of \(payload.count) bytes")
        let r = c.response()
        #expect(r?.status == status, "got \(r.map { String($0.status) } ?? "no response (errno \(errno))")")
        #expect(c.closedByPeer())
    }
}

@Suite(.serialized) struct FeaturesRoute {
    /// A synthetic ECG at 500 Hz: QRS-like spikes every 0.8 s (75 bpm), baseline wander.
    static func synthetic(seconds: Double, fs: Double) -> (x: [Double], beats: [Int]) {
        let n = Int(seconds * fs)
        var x = (0..<n).map { 0.2 * sin(2 * .pi * 0.25 * Double($0) / fs) }
        var beats: [Int] = []
        var t = 0.4
        while t < seconds - 0.1 {
            let c = Int(t * fs)
            beats.append(c)
            for i in max(0, c - Int(0.05 * fs))..<min(n, c + Int(0.05 * fs)) {
                let d = Double(i - c) / fs
                x[i] += exp(-d * d / (2 * 0.008 * 0.008))
            }
            t += 0.8
        }
        return (x, beats)
    }

    @Test("POST /features: R peaks at the input's rate, HR/SDNN/RMSSD and quality per 10 s window")
    func features() throws {
        let s = try TestServer()
        let (x, beats) = Self.synthetic(seconds: 25, fs: 500)
        let c = try RawClient(port: s.port)
        c.send(
            request(
                "POST", "/features", body: jsonBody(["ecg": [x, Array(repeating: 0.0, count: 5000)], "fs": 500]),
                headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text)")
        let j = try #require(r.json as? [String: Any])
        #expect(j["detector"] as? String == RPeaks.name)
        let peaks = try #require(j["r_peaks"] as? [[Int]])
        #expect(peaks.count == 2 && peaks[1].isEmpty)
        #expect(RPeaks.score(detected: peaks[0], reference: beats, tolerance: 5) == (beats.count, 0, 0))
        let w = try #require(j["windows"] as? [[String: Any]])
        #expect(w.count == 3)  // 2 windows of the 25 s recording, 1 of the flat 10 s one
        #expect(abs((w[0]["heart_rate_bpm"] as? Double ?? 0) - 75) < 0.5)
        #expect((w[0]["sdnn_ms"] as? Double ?? 99) < 3 && w[0]["quality"] as? String == "good")
        #expect(w[2]["recording"] as? Int == 1 && w[2]["quality"] as? String == "unusable" && w[2]["heart_rate_bpm"] is NSNull)
        // Errors as for /embed.
        c.send(request("POST", "/features", body: jsonBody(["ecg": [1.0, 2.0], "fs": 500]), headers: ["Content-Type": "application/json"]))
        let e = try #require(c.response())
        #expect(e.status == 422 && e.errorCode == "too_short")
    }
}

@Suite struct QualityGate {
    @Test("/classify: every window carries its quality; unusable windows give no affect label for their recording")
    func gate() throws {
        var t = HeadTrainer()
        t.epochs = 1
        var rng = SeededRandom(#function, salt: 1)
        let head = t.train(
            name: "stress", labels: ["rest", "stress"], x: (0..<(16 * 128)).map { _ in Float.random(in: -1...1, using: &rng) },
            y: (0..<16).map { $0 % 2 })
        let s = try TestServer(affect: [head])
        let (ecg, _) = FeaturesRoute.synthetic(seconds: 20, fs: 500)
        let c = try RawClient(port: s.port)
        c.send(
            request(
                "POST", "/classify", body: jsonBody(["ecg": [ecg, Array(repeating: 0.0, count: 10_000)], "fs": 500]),
                headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text)")
        let j = try #require(r.json as? [String: Any])
        let q = try #require(j["windows"] as? [[String: Any]]).map { $0["quality"] as? String }
        #expect(q == ["good", "good", "unusable", "unusable"])
        let recs = try #require(j["recordings"] as? [[String: [String: Any]]])
        #expect(recs[0]["stress"]?["windows_used"] as? Int == 2 && recs[0]["stress"]?["label"] is String)
        #expect(recs[1]["stress"]?["windows_used"] as? Int == 0 && recs[1]["stress"]?["label"] is NSNull && recs[1]["stress"]?["probability"] is NSNull)
        // The multi-label pretext head: mean independent probabilities, no argmax label.
        let ssl = try #require(recs[1]["ssl_transformations"])
        #expect((ssl["probabilities"] as? [Double])?.count == 7 && ssl["label"] == nil)
    }
}

@Suite struct LinearHead {
    @Test("a logistic-regression head (no hidden layer, as `finetune --layers 0` writes) is served: /classify = the regression on /embed's embedding")
    func served() throws {
        var rng = Transformations.RNG(seed: 3)
        let x = (0..<(64 * 128)).map { _ in Double.random(in: -1...1, using: &rng) }
        let lr = LogisticRegression(x: x, y: (0..<64).map { x[$0 * 128] + x[$0 * 128 + 1] > 0 ? 1 : 0 }, dims: 128)
        let s = try TestServer(affect: [lr.head(name: "stress", labels: ["rest", "stress"])])
        let body = jsonBody(["ecg": Array(fixtureInputs[0..<(2 * 2560)]).map(Double.init), "preprocessed": true])
        let c = try RawClient(port: s.port)
        c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        let emb = try #require((c.response()?.json as? [String: Any])?["embeddings"] as? [[Double]])
        c.send(request("POST", "/classify", body: body, headers: ["Content-Type": "application/json"]))
        let r = try #require(c.response())
        #expect(r.status == 200, "\(r.text.prefix(300))")
        let heads = try #require((r.json as? [String: Any])?["heads"] as? [String: [String: Any]])
        let p = try #require(heads["stress"]?["probabilities"] as? [[Double]])
        let want = lr.probabilities(emb.flatMap { $0 })
        #expect(p.count == 2 && emb.count == 2)
        for k in 0..<2 { #expect(abs(p[k][1] - want[k]) < 1e-5 && abs(p[k][0] + p[k][1] - 1) < 1e-5, "\(p[k]) vs \(want[k])") }
    }
}

@Suite struct APIKeyAuth {
    @Test("API keys: model routes need a bearer token (raw or sha256-listed), probes stay open, no key and no sample in the logs")
    func keys() throws {
        let raw = "k3y-" + String(UInt64.random(in: 1 << 60..<UInt64.max), radix: 16)
        let hashedKey = "other-" + String(UInt64.random(in: 1 << 60..<UInt64.max), radix: 16)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(getpid())").path
        try "# keys\n\(raw)\nsha256:\(sha256Hex(Array(hashedKey.utf8)))\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let s = try ServerProcess(["--api-keys-file", file], quiet: false)
        let c = try RawClient(port: s.port)
        for p in ["/health", "/ready", "/metrics", "/openapi.yaml"] {
            c.send(request("GET", p)); #expect(c.response()?.status == 200, "\(p)")
        }
        var w = Array(fixtureInputs[0..<2560]).map(Double.init)
        w[5] = 123.456789  // a marker sample that must never be logged
        let body = jsonBody(["ecg": w, "preprocessed": true])
        c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json"]))
        var r = try #require(c.response())
        #expect(r.status == 401 && r.errorCode == "unauthorized" && r.headers["www-authenticate"] == #"Bearer realm="ecg-affect""#)
        c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json", "Authorization": "Bearer wrong-key-0123456789"]))
        r = try #require(c.response())
        #expect(r.status == 401 && (r.headers["www-authenticate"] ?? "").contains("invalid_token"))
        c.send(request("GET", "/v1/model")); #expect(c.response()?.status == 401)
        for k in [raw, hashedKey] {
            c.send(request("POST", "/embed", body: body, headers: ["Content-Type": "application/json", "Authorization": "Bearer \(k)"]))
            #expect(c.response()?.status == 200)
            c.send(request("GET", "/v1/model", headers: ["Authorization": "bearer \(k)"])); #expect(c.response()?.status == 200)
        }
        s.stop()
        let log = s.log()
        #expect(log.contains("\"status\":401") && log.contains("\"api_keys\":2"), "the log should record the requests")
        #expect(!log.contains(raw) && !log.contains(hashedKey) && !log.contains("wrong-key"), "a key appears in the log")
        #expect(!log.contains("123.456"), "an ECG sample appears in the log")
    }

    @Test("a bad keys file stops the server at start with a message that does not show the key")
    func badFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("badkeys-\(getpid())").path
        try "short\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let r = try startExpectingRefusal(["--port", "0", "--weights", fixtureWeightsDir, "--api-keys-file", file])
        #expect(!r.started && r.status == 2)
        #expect(r.stderr.contains("line 1") && !r.stderr.contains("short"), "\(r.stderr)")
    }

    @Test("an ECG_… variable that does not read as its option's type stops the server at start, named; never a silent default")
    func unreadableEnvironment() throws {
        let r = try startExpectingRefusal(
            ["--port", "0", "--host", "127.0.0.1", "--weights", fixtureWeightsDir],
            environment: ["ECG_SPIN_US": "abc", "ECG_MAX_BODY_BYTES": "8MB"], timeout: 20)
        #expect(!r.started, "the server started with unreadable ECG_ variables")
        #expect(r.status == 64 || r.status == 2, "exit \(r.status)")
        #expect(r.stderr.contains("ECG_SPIN_US='abc'") && r.stderr.contains("ECG_MAX_BODY_BYTES='8MB'"), "\(r.stderr)")
    }
}

@Suite struct DrainUnderLoad {
    /// Issue #8: SIGTERM under full load. Every request is either answered completely
    /// (200, or 503 while draining) or refused before it was read (connection refused, or
    /// closed without a byte of answer on a connection the client then leaves); none is
    /// cut mid-response; /ready answers 503 on a connection that stays open; exit 0 within
    /// the drain deadline.
    @Test("SIGTERM under load: nothing cut mid-response, /ready 503 while draining, exit 0")
    func sigtermUnderLoad() throws {
        let s = try ServerProcess(["--workers", "2", "--drain-seconds", "20"])
        let body = NPY.encode(NPYArray(floats: Array(fixtureInputs[0..<2560]), shape: [2560]))
        let req = request("POST", "/embed?preprocessed=true", body: body, headers: ["Content-Type": "application/x-npy"])
        struct Tally { var ok = 0, unavailable = 0, refused = 0, closedBeforeAnswer = 0, cut = 0, other: [String] = [] }
        let tally = Shared(Tally())
        let stop = Shared(false)
        let group = DispatchGroup()
        let port = s.port
        for _ in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while !stop.current {
                    guard let c = try? RawClient(port: port, timeout: 30) else { tally.withLock { $0.refused += 1 }; return }
                    while !stop.current {
                        c.send(req)
                        if let r = c.response() {
                            tally.withLock { t in
                                if r.status == 200 && r.body.count > 0 {
                                    t.ok += 1
                                } else if r.status == 503 {
                                    t.unavailable += 1
                                } else {
                                    t.other.append("\(r.status)")
                                }
                            }
                            if r.headers["connection"] == "close" { break }
                        } else {
                            // No complete answer: cut if any byte of it had arrived.
                            tally.withLock { t in if c.buf.isEmpty { t.closedBeforeAnswer += 1 } else { t.cut += 1 } }
                            break
                        }
                    }
                }
            }
        }
        // A keep-alive connection that will ask /ready during the drain.
        let probe = try RawClient(port: port)
        probe.send(request("GET", "/ready"))
        #expect(probe.response()?.status == 200)
        // Load first: at least 10 answers (a sanitizer build is much slower), at most 60 s.
        let warm = Date().addingTimeInterval(60)
        waitUntil(timeout: warm.timeIntervalSinceNow, poll: 0.05) { tally.current.ok >= 10 }
        let before = tally.current.ok
        let t0 = Date()
        kill(s.pid, SIGTERM)
        #expect(waitUntil { s.logSoFar.contains("\"draining\"") }, "no draining line after SIGTERM")
        probe.send(request("GET", "/ready"))
        let ready = probe.response()
        #expect(
            ready?.status == 503 && ready?.errorCode == "draining" && ready?.headers["connection"] == "close",
            "/ready during the drain: \(ready.map { "\($0.status) \($0.headers)" } ?? "no answer")")
        s.process.waitUntilExit()
        let took = Date().timeIntervalSince(t0)
        stop.withLock { $0 = true }
        group.wait()
        let t = tally.current
        print(
            "drain under load: \(t.ok) answered 200 (\(t.ok - before) after SIGTERM), \(t.unavailable) 503, \(t.refused) refused at connect, \(t.closedBeforeAnswer) closed before an answer, \(t.cut) cut; exit in \(String(format: "%.2f", took)) s"
        )
        #expect(t.cut == 0, "\(t.cut) responses cut mid-way")
        #expect(t.other.isEmpty, "unexpected statuses \(t.other)")
        #expect(before >= 10)
        #expect(s.process.terminationStatus == 0 && took < 20)
    }
}
