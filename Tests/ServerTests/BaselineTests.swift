import Foundation
import TestSupport
import Testing
import Model
import NPY
@testable import Server

/// Issue #17: heads on heart-rate features, the personal baseline, and null probabilities
/// for unusable windows, over real sockets.
@Suite struct PersonalBaseline {
    /// ECG-like spikes (with a T wave) every `rr` seconds at `fs`.
    static func ecg(seconds: Double, fs: Double, rr: Double) -> [Double] {
        let n = Int(seconds * fs)
        var x = (0..<n).map { 0.1 * sin(2 * .pi * 0.25 * Double($0) / fs) }
        var t = 0.3
        while t < seconds - 0.1 {
            let c = Int(t * fs)
            for i in max(0, c - Int(0.1 * fs))..<min(n, c + Int(0.45 * fs)) {
                let d = Double(i - c) / fs
                x[i] += exp(-d * d / (2 * 0.01 * 0.01)) + 0.2 * exp(-(d - 0.25) * (d - 0.25) / (2 * 0.04 * 0.04))
            }
            t += rr
        }
        return x
    }

    /// P(stress) = sigmoid(slope · (x − centre)) as a two-class head on one input.
    static func head(slope: Float, centre: Float) -> AffectHead {
        AffectHead(
            name: "stress", labels: ["rest", "stress"], hidden: [],
            output: DenseLayer(kernel: [0, slope], bias: [0, -slope * centre], inputs: 1, outputs: 2))
    }

    static func server() throws -> TestServer {
        try TestServer(
            affect: [head(slope: 0.2, centre: 80), head(slope: 0.3, centre: 10)],
            inputs: [
                HeadInputs(features: [HeadInputs.heartRate]),
                HeadInputs(features: [HeadInputs.heartRate], contextWindows: 1, baseline: HeadInputs.difference),
            ])
    }

    static func classify(_ port: Int, _ body: [String: Any], path: String = "/classify") throws -> Response {
        let c = try RawClient(port: port)
        c.send(request("POST", path, body: jsonBody(body), headers: ["Content-Type": "application/json"]))
        return try #require(c.response())
    }

    /// What the server should compute for window k of `x`: its heart rate through the
    /// served preprocessing (the fixture weights' high-pass), by the library's functions.
    static func heartRates(_ x: [Double], fs: Double) throws -> [Double] {
        let p = try Preprocessing.prepare(x, fs: fs, filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization)
        return (0..<p.count).map { HRVFeatures.window(p.windows[($0 * 2560)..<(($0 + 1) * 2560)]).heartRate! }
    }

    @Test("without a baseline the absolute head answers; with one the relative head, and the answer says what the baseline gave")
    func relative() throws {
        let s = try Self.server()
        let fast = Self.ecg(seconds: 30, fs: 500, rr: 0.6), rest = Self.ecg(seconds: 70, fs: 500, rr: 0.8)
        let hr = try Self.heartRates(fast, fs: 500), hrRest = try Self.heartRates(rest, fs: 500)
        #expect(abs(hr[1] - 100) < 2 && abs(hrRest[1] - 75) < 2)
        // No baseline: P = sigmoid(0.2 (HR − 80)) per window.
        let a = try Self.classify(s.port, ["ecg": fast, "fs": 500])
        #expect(a.status == 200, "\(a.text)")
        let ja = try #require(a.json as? [String: Any])
        let pa = try #require(((ja["heads"] as? [String: Any])?["stress"] as? [String: Any])?["probabilities"] as? [[Double]])
        for (k, p) in pa.enumerated() { #expect(abs(p[1] - 1 / (1 + exp(-0.2 * (hr[k] - 80)))) < 1e-4, "window \(k)") }
        #expect(ja["baseline"] == nil)
        // Baseline 70 s at 75 bpm: P = sigmoid(0.3 (mean HR over ±1 window − baseline mean − 10)).
        let b = try Self.classify(s.port, ["ecg": fast, "fs": 500, "baseline": ["ecg": rest, "fs": 500]])
        #expect(b.status == 200, "\(b.text)")
        let jb = try #require(b.json as? [String: Any])
        let stress = try #require((jb["heads"] as? [String: Any])?["stress"] as? [String: Any])
        #expect(stress["relative_to_baseline"] as? Bool == true)
        let pb = try #require(stress["probabilities"] as? [[Double]])
        let baseMean =
            zip(hrRest.indices, hrRest).map { k, _ in
                let near = hrRest[max(0, k - 1)...min(hrRest.count - 1, k + 1)]
                return near.reduce(0, +) / Double(near.count)
            }.reduce(0, +) / Double(hrRest.count)
        for k in 0..<hr.count {
            let near = hr[max(0, k - 1)...min(hr.count - 1, k + 1)]
            let want = 1 / (1 + exp(-0.3 * (near.reduce(0, +) / Double(near.count) - baseMean - 10)))
            #expect(abs(pb[k][1] - want) < 1e-4, "window \(k): \(pb[k][1]) vs \(want)")
        }
        let base = try #require(jb["baseline"] as? [String: Any])
        #expect(base["windows"] as? Int == 7 && base["windows_used"] as? Int == 7)
        #expect(abs((base["heart_rate_bpm"] as? Double ?? 0) - hrRest.reduce(0, +) / Double(hrRest.count)) < 0.01)
    }

    @Test("a baseline too short, unusable, misplaced or malformed is refused with its own code")
    func refusals() throws {
        let s = try Self.server()
        let fast = Self.ecg(seconds: 20, fs: 500, rr: 0.6)
        var g = SeededRandom(#function, salt: 1)
        let noise = (0..<(500 * 70)).map { _ in Double.random(in: -1...1, using: &g) }
        let cases: [([String: Any], String, Int, String)] = [
            (["ecg": fast, "fs": 500, "baseline": ["ecg": Self.ecg(seconds: 45, fs: 500, rr: 0.8), "fs": 500]], "/classify", 422, "baseline_too_short"),
            (["ecg": fast, "fs": 500, "baseline": ["ecg": noise, "fs": 500]], "/classify", 422, "baseline_unusable"),
            (["ecg": fast, "fs": 500, "baseline": ["ecg": Self.ecg(seconds: 70, fs: 500, rr: 0.8)]], "/classify", 422, "missing_fs"),
            (["ecg": fast, "fs": 500, "baseline": ["ecg": [1, 2, 3], "fs": 500, "unit": "mV"]], "/classify", 400, "bad_request"),
            (["ecg": fast, "fs": 500, "baseline": [1, 2, 3]], "/classify", 400, "bad_request"),
            (["ecg": fast, "fs": 500, "baseline": ["ecg": Self.ecg(seconds: 70, fs: 500, rr: 0.8), "fs": 500]], "/embed", 400, "bad_request"),
        ]
        for (body, path, status, code) in cases {
            let r = try Self.classify(s.port, body, path: path)
            #expect(r.status == status && r.errorCode == code, "\(path) \(body.keys.sorted()): \(r.status) \(r.text.prefix(200))")
        }
    }

    @Test("unusable windows get null affect probabilities (the pretext head still answers)")
    func nullForUnusable() throws {
        let s = try TestServer(affect: [Self.head(slope: 0.2, centre: 80)], inputs: [HeadInputs(features: [HeadInputs.heartRate])])
        let r = try Self.classify(s.port, ["ecg": [Self.ecg(seconds: 20, fs: 500, rr: 0.8), [Double](repeating: 0, count: 10_000)], "fs": 500])
        #expect(r.status == 200, "\(r.text)")
        let j = try #require(r.json as? [String: Any])
        let heads = try #require(j["heads"] as? [String: Any])
        let p = try #require((heads["stress"] as? [String: Any])?["probabilities"] as? [Any])
        #expect(p.count == 4 && p[0] is [Double] && p[2] is NSNull && p[3] is NSNull)
        let ssl = try #require((heads["ssl_transformations"] as? [String: Any])?["probabilities"] as? [Any])
        #expect(ssl.allSatisfy { $0 is [Double] })
    }

    @Test("Open Inference Protocol: a 'baseline' input tensor with baseline_fs selects the relative head")
    func kserve() throws {
        let s = try Self.server()
        let fast = Self.ecg(seconds: 20, fs: 500, rr: 0.6), rest = Self.ecg(seconds: 60, fs: 500, rr: 0.6)
        func infer(_ inputs: [[String: Any]], _ params: [String: Any]) throws -> [String: Any] {
            let c = try RawClient(port: s.port)
            c.send(
                request(
                    "POST", "/v2/models/ssl-ecg/infer", body: jsonBody(["inputs": inputs, "parameters": params]),
                    headers: ["Content-Type": "application/json"]))
            let r = try #require(c.response())
            #expect(r.status == 200, "\(r.text)")
            return try #require(r.json as? [String: Any])
        }
        let ecg: [String: Any] = ["name": "ecg", "datatype": "FP64", "shape": [fast.count], "data": fast]
        let base: [String: Any] = ["name": "baseline", "datatype": "FP64", "shape": [rest.count], "data": rest]
        func stress(_ j: [String: Any]) -> [Double] {
            ((j["outputs"] as? [[String: Any]])?.first { $0["name"] as? String == "stress" }?["data"] as? [Double]) ?? []
        }
        let without = stress(try infer([ecg], ["fs": 500]))
        let with = stress(try infer([ecg, base], ["fs": 500, "baseline_fs": 500]))
        // Same heart rate as the baseline: ΔHR ≈ 0 → P(stress) = sigmoid(−3) ≈ 0.047; absolute: sigmoid(4) ≈ 0.98.
        #expect(without.count == 4 && with.count == 4)
        #expect(without[1] > 0.95 && with[1] < 0.1, "\(without) vs \(with)")
    }
}
