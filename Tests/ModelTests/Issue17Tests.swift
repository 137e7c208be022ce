import Foundation
import ModelTestSupport
import Testing
import NPY
@testable import Model
@testable import Training

/// Issue #17: the band filter (scipy twin), the beat-based polarity rule, quality that only
/// passes ECG, T waves not counted as beats, and what heads read (HeadInputs).
@Suite struct BandFilter {
    static let fx = TF.npz("preprocessing.npz")

    @Test("band filter (0.8 Hz high-pass, 40 Hz low-pass, 50/60 Hz notches) matches scipy's sosfiltfilt")
    func matchesScipy() throws {
        let sos = try #require(Preprocessing.sections(forFilter: Preprocessing.bandFilter))
        let want = try #require(Self.fx["band_sos"]).doubles()
        let wantSos = stride(from: 0, to: want.count, by: 6).map { Array(want[$0..<($0 + 6)]) }
        #expect(sos.count == wantSos.count)
        // The same filter (scipy pairs poles into sections its own way): the overall response.
        func response(_ s: [[Double]], _ f: Double) -> Double {
            var mag = 1.0
            let w = 2 * Double.pi * f / 256
            for q in s {
                func poly(_ c: ArraySlice<Double>) -> Double {
                    let c = Array(c)
                    let re = c[0] + c[1] * cos(w) + c[2] * cos(2 * w), im = -(c[1] * sin(w) + c[2] * sin(2 * w))
                    return (re * re + im * im).squareRoot()
                }
                mag *= poly(q[0..<3]) / poly(q[3..<6])
            }
            return mag
        }
        for f in [0.1, 0.8, 1, 5, 15, 30, 40, 45, 49.5, 50, 55, 60, 61, 90, 127] {
            #expect(abs(response(sos, f) - response(wantSos, f)) <= 1e-9, "at \(f) Hz")
        }
        let x = try #require(Self.fx["band_in"]).doubles(), y = try #require(Self.fx["band_out"]).doubles()
        let got = Preprocessing.sosfiltfilt(sos, x)
        var d = 0.0, m = 0.0
        for i in 0..<y.count { d = max(d, abs(got[i] - y[i])); m = max(m, abs(y[i])) }
        #expect(d / m <= 1e-8, "relative error \(d / m)")
        // Fast path = reference, and the hum is gone (steady state, away from the edges).
        #expect(got == Preprocessing.sosfiltfiltReference(sos, x))
        let t = (0..<(256 * 40)).map { sin(2 * .pi * 50 * Double($0) / 256) + sin(2 * .pi * 60 * Double($0) / 256) }
        let h = Preprocessing.sosfiltfilt(sos, t)[(256 * 10)..<(256 * 30)]
        #expect(h.map(abs).max()! < 1e-3)
    }

    @Test("prepare applies the filter the manifest names; an unknown name is refused")
    func prepareUsesIt() throws {
        let x = PreprocessingVsScipy.syntheticECG(seconds: 20, seed: 3)
        let hum = x.enumerated().map { i, v in v + 0.3 * sin(2 * .pi * 50 * Double(i) / 256) }
        let a = try Preprocessing.prepare(x, fs: 256, filter: Preprocessing.bandFilter, normalization: "none")
        let b = try Preprocessing.prepare(hum, fs: 256, filter: Preprocessing.bandFilter, normalization: "none")
        let c = try Preprocessing.prepare(hum, fs: 256, filter: Preprocessing.highpassFilter, normalization: "none")
        // Away from the first and last 2 s (the notches ring at the edges: Q = 30 is about 0.2 s per e-fold).
        let mid = 512..<(a.windows.count - 512)
        let dBand = mid.map { abs(a.windows[$0] - b.windows[$0]) }.max()!, dHigh = mid.map { abs(a.windows[$0] - c.windows[$0]) }.max()!
        print("hum 0.3 at 50 Hz: largest change \(dBand) with the band filter, \(dHigh) with the high-pass alone")
        #expect(dBand < 0.01 && dHigh > 0.25, "band \(dBand), high-pass only \(dHigh)")
        #expect(throws: PreprocessingError.unknownFilter("lowpass-7Hz")) {
            try Preprocessing.prepare(x, fs: 256, filter: "lowpass-7Hz", normalization: "none")
        }
    }
}

@Suite struct PolarityBeats {
    /// Beats at 256 Hz with a chosen QRS (R then S, amplitudes r and s) and T wave (amplitude t).
    static func beats(seconds: Double, r: Double, s: Double, t: Double) -> [Double] {
        (0..<Int(seconds * 256)).map { i in
            let ph = (Double(i) / 256).truncatingRemainder(dividingBy: 0.85)
            func g(_ c: Double, _ w: Double) -> Double { exp(-(ph - c) * (ph - c) / (2 * w * w)) }
            return r * g(0.3, 0.01) - s * g(0.325, 0.01) + t * g(0.58, 0.045) + 0.1 * g(0.15, 0.02)
        }
    }

    @Test("a deep-S lead with an upright T keeps its sign (the quantile rule turned it); an inverted lead is turned")
    func deepS() {
        let deepS = Self.beats(seconds: 30, r: 0.4, s: 1.2, t: 0.35)
        #expect(Preprocessing.qrsPolarity(deepS) == -1)  // the old rule's mistake
        #expect(Preprocessing.qrsPolarityBeats(deepS) == 1)  // kept
        let upright = Self.beats(seconds: 30, r: 1.2, s: 0.2, t: 0.3)
        #expect(Preprocessing.qrsPolarityBeats(upright) == 1)
        #expect(Preprocessing.qrsPolarityBeats(upright.map { -$0 }) == -1)  // inverted: QRS and T down
        #expect(Preprocessing.qrsPolarityBeats([Double](repeating: 0, count: 2560)) == 1)  // no beats: keep
        var y = upright.map { -$0 }
        #expect(Preprocessing.turnUp(&y, rule: Preprocessing.qrsUpBeats))
        #expect(y == upright)
    }
}

@Suite struct ECGOnlyQuality {
    static let fs = 256.0, n = 2560

    static func classes(seed: UInt64) -> [(String, [Double])] {
        var g = Rng(s: seed)
        func gauss() -> Double { Double(g.float() + g.float() + g.float()) }  // near-Gaussian (sum of 3 uniforms)
        let white = (0..<n).map { _ in gauss() }
        // Pink noise: white noise through a 1/f shaping (sum of first-order low-passes).
        var p = [0.0, 0.0, 0.0]
        let pink = (0..<n).map { _ -> Double in
            let w = gauss()
            p[0] = 0.997 * p[0] + 0.029591 * w; p[1] = 0.985 * p[1] + 0.032534 * w; p[2] = 0.950 * p[2] + 0.048056 * w
            return p[0] + p[1] + p[2] + 0.1848 * w
        }
        let t = (0..<n).map { Double($0) / fs }
        return [
            ("white noise", white), ("pink noise", pink),
            ("sine 1 Hz", t.map { sin(2 * .pi * $0) }), ("sine 1.3 Hz", t.map { sin(2 * .pi * 1.3 * $0) }),
            ("sine 8 Hz", t.map { sin(2 * .pi * 8 * $0) }),
            ("square 1 Hz", t.map { sin(2 * .pi * $0) >= 0 ? 1 : -1 }), ("square 1.2 Hz", t.map { sin(2 * .pi * 1.2 * $0) >= 0 ? 1 : -1 }),
            ("sawtooth 1 Hz", t.map { $0.truncatingRemainder(dividingBy: 1) }),
            ("sawtooth 1.2 Hz down", t.map { 1 - (1.2 * $0).truncatingRemainder(dividingBy: 1) }),
            ("constant 1.0", [Double](repeating: 1, count: n)), ("flat 0", [Double](repeating: 0, count: n)),
            (
                "PPG-like pulse",
                t.map { x in
                    let ph = (1.2 * x).truncatingRemainder(dividingBy: 1)
                    return exp(-(ph - 0.25) * (ph - 0.25) / 0.01) + 0.4 * exp(-(ph - 0.55) * (ph - 0.55) / 0.02)
                }
            ),
        ]
    }

    @Test("every synthetic non-ECG class is 'unusable', raw and through the server's preprocessing", arguments: [UInt64(1), 2, 3])
    func nonECG(seed: UInt64) throws {
        for (name, x) in Self.classes(seed: seed) {
            let raw = HRVFeatures(peaks: RPeaks.detect(x, fs: Self.fs), fs: Self.fs, start: 0, end: Self.n, signal: x)
            #expect(
                raw.quality == .unusable, "\(name) (seed \(seed)): \(raw.quality), beats \(raw.beats), bSQI \(raw.agreement ?? -1), kSQI \(raw.kurtosis ?? -1)")
            let p = try Preprocessing.prepare(x, fs: Self.fs, filter: Preprocessing.bandFilter, normalization: Preprocessing.windowNormalization)
            let w = HRVFeatures.window(p.windows[0..<Self.n])
            #expect(w.quality == .unusable, "\(name) preprocessed (seed \(seed)): \(w.quality), bSQI \(w.agreement ?? -1), kSQI \(w.kurtosis ?? -1)")
        }
    }

    @Test("clean synthetic ECG stays usable, with both detectors agreeing")
    func ecgPasses() throws {
        for seed in [UInt64(1), 2, 3] {
            let x = PreprocessingVsScipy.syntheticECG(seconds: 10, seed: seed)
            let p = try Preprocessing.prepare(x, fs: 256, filter: Preprocessing.bandFilter, normalization: Preprocessing.windowNormalization)
            let f = HRVFeatures.window(p.windows[0..<2560])
            #expect(f.quality == .good, "seed \(seed): bSQI \(f.agreement ?? -1), kSQI \(f.kurtosis ?? -1)")
            #expect((f.agreement ?? 0) >= 0.9)
        }
        // bSQI is the share of beats both detectors found.
        #expect(SQI.agreement([100, 300, 500], [102, 298, 700], fs: 256) == 2.0 / 4.0)
        #expect(SQI.agreement([], [], fs: 256) == nil)
    }

    @Test("a tall T wave is not a beat, also when the next beat is late (search-back)")
    func tallT() {
        // 60 bpm with T waves 70 % of the R wave, and one pause of 1.9 s (search-back territory).
        var beats: [Double] = []
        var t = 0.6
        for k in 0..<30 { beats.append(t); t += k == 14 ? 1.9 : 1.0 }
        let n = Int((t + 0.5) * 256)
        var x = [Double](repeating: 0, count: n)
        for b in beats {
            for i in max(0, Int((b - 0.1) * 256))..<min(n, Int((b + 0.5) * 256)) {
                let d = Double(i) / 256 - b
                x[i] += exp(-d * d / (2 * 0.01 * 0.01)) + 0.7 * exp(-(d - 0.3) * (d - 0.3) / (2 * 0.04 * 0.04))
            }
        }
        let det = RPeaks.detect(x, fs: 256)
        let s = RPeaks.score(detected: det, reference: beats.map { Int($0 * 256) }, tolerance: 10)
        #expect(s.fp == 0 && s.fn <= 1, "\(s)")
    }
}

@Suite struct HeadInputAssembly {
    static func window(_ rec: Int, _ k: Int, hr: Double, usable: Bool = true) -> HeadInputs.Window {
        var f = HRVFeatures(peaks: [], fs: 256, start: 0, end: 0)
        f.heartRate = hr; f.sdnn = hr / 10; f.rmssd = hr / 20
        return HeadInputs.Window(recording: rec, index: k, usable: usable, features: f)
    }

    @Test("context averages usable windows of the same recording; baseline is subtracted; unusable windows get nil")
    func assemble() throws {
        let spec = HeadInputs(features: [HeadInputs.heartRate], contextWindows: 1, baseline: HeadInputs.difference)
        let w = [
            Self.window(0, 0, hr: 60), Self.window(0, 1, hr: 70), Self.window(0, 2, hr: 200, usable: false),
            Self.window(0, 3, hr: 90), Self.window(1, 0, hr: 100),
        ]
        let base = try #require(
            spec.baselineMean([Self.window(0, 0, hr: 50), Self.window(0, 1, hr: 54), Self.window(0, 2, hr: 99, usable: false)], embeddings: []))
        #expect(base.used == 2 && base.mean == [52])
        let rows = spec.assemble(w, embeddings: [], baseline: base.mean)
        #expect(rows[0] == [Float(65 - 52)])  // (60 + 70) / 2
        #expect(rows[1] == [Float(65 - 52)])  // (60 + 70) / 2: window 2 is unusable
        #expect(rows[2] == nil)
        #expect(rows[3] == [Float(90 - 52)])  // its neighbour 2 is unusable, 4 does not exist
        #expect(rows[4] == [Float(100 - 52)])  // another recording: not mixed in
        let both = HeadInputs(features: [HeadInputs.embedding, HeadInputs.rmssd])
        #expect(both.count == 129)
        let e = (0..<(2 * 128)).map { Float($0) }
        let r = both.assemble([Self.window(0, 0, hr: 60), Self.window(0, 1, hr: 80)], embeddings: e)
        #expect(r[1]![0] == 128 && r[1]![127] == 255 && r[1]![128] == 4)
        #expect(throws: WeightsError.self) { try HeadInputs(features: ["pulse"]).validate(head: "x") }
        #expect(throws: WeightsError.self) { try HeadInputs(features: [HeadInputs.heartRate], contextWindows: 99).validate(head: "x") }
    }

    @Test("a head fitted by fit-head's logistic regression gives the regression's probabilities")
    func logisticHead() {
        var g = Rng(s: 5)
        let n = 400
        var x: [Double] = []
        for i in 0..<n {
            let level: Double = i % 2 == 0 ? 70 : 85
            x.append(level + Double(g.float()) * 8)
        }
        let y = (0..<n).map { $0 % 2 }
        let lr = LogisticRegression(x: x, y: y, dims: 1, l2: 1 / Double(n), iterations: 2000)
        let h = lr.head(name: "stress", labels: ["rest", "stress"]).scaled(temperature: 2)
        let p = h.probabilities(x.map(Float.init))
        let q = lr.probabilities(x)
        for i in 0..<n {
            let logit: Double = log(q[i] / (1 - q[i]))
            let want: Double = 1 / (1 + exp(-logit / 2))
            #expect(abs(Double(p[2 * i + 1]) - want) < 1e-4)
        }
        // More beats per minute, more stress here: the fitted slope is positive.
        #expect(p[3] > p[1])
    }
}
