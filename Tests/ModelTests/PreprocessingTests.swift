import Foundation
import ModelTestSupport
import TestSupport
import Testing
import NPY
@testable import Model
@testable import Training

@Suite struct PreprocessingVsScipy {
    static let fx = TF.npz("preprocessing.npz")

    func rel(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "\(a.count) vs \(b.count)")
        var d = 0.0, m = 0.0
        for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
        return d / m
    }

    @Test("resample_poly to 256 Hz matches scipy", arguments: ["50", "128", "250", "360", "500", "1000", "257.5"])
    func resample(_ fs: String) throws {
        let x = try #require(Self.fx["resample_in_\(fs)"]).doubles()
        let want = try #require(Self.fx["resample_out_\(fs)"]).doubles()
        let (up, down) = try #require(Preprocessing.ratio(from: Double(fs)!))
        let got = Preprocessing.resamplePoly(x, up: up, down: down)
        #expect(got.count == want.count)
        #expect(rel(got, want) <= 1e-9, "fs \(fs): \(rel(got, want))")
    }

    @Test("Butterworth sections and zero-phase high-pass match scipy")
    func highpass() throws {
        let sos = Preprocessing.butterworthHighpass(order: 4, cutoff: 0.8, fs: 256)
        let want = try #require(Self.fx["hp_sos"]).doubles()
        // Same filter: compare the overall frequency response at a few frequencies.
        func response(_ s: [[Double]], _ f: Double) -> Double {
            var mag = 1.0
            for q in s {
                let w = 2 * Double.pi * f / 256
                func poly(_ c: [Double]) -> Double {
                    let re = c[0] + c[1] * cos(w) + c[2] * cos(2 * w), im = -(c[1] * sin(w) + c[2] * sin(2 * w))
                    return (re * re + im * im).squareRoot()
                }
                mag *= poly(Array(q[0..<3])) / poly(Array(q[3..<6]))
            }
            return mag
        }
        let wantSos = stride(from: 0, to: want.count, by: 6).map { Array(want[$0..<($0 + 6)]) }
        for f in [0.1, 0.5, 0.8, 1.0, 5, 40, 127] {
            #expect(abs(response(sos, f) - response(wantSos, f)) <= 1e-9, "at \(f) Hz")
        }
        let x = try #require(Self.fx["hp_in"]).doubles()
        let got = Preprocessing.sosfiltfilt(sos, x)
        #expect(rel(got, try #require(Self.fx["hp_out"]).doubles()) <= 1e-8)
    }

    @Test("robust statistics: selection = sort, on random, tied, sorted and adversarial inputs")
    func selectionAgreesWithSort() {
        var g = SeededRandom(#function, salt: 1)
        var cases: [[Float]] = []
        for n in [1, 2, 3, 17, 40, 41, 2560, 2561, 100_003] {
            cases.append((0..<n).map { _ in Float.random(in: -5...5, using: &g) })
        }
        cases.append([Float](repeating: 0.25, count: 2560))  // flat
        cases.append((0..<2560).map { Float($0 % 7) })  // many ties
        cases.append((0..<2560).map { Float($0) })  // sorted
        cases.append((0..<2560).map { Float(2560 - $0) })  // reversed
        cases.append((0..<2560).map { Float(($0 % 2 == 0) ? $0 : 2560 - $0) })  // organ pipe
        cases.append((0..<2560).map { _ in Float(Int.random(in: 0..<3, using: &g)) * 1e6 })  // 3 values, huge
        for x in cases {
            let (m, s) = x.withUnsafeBufferPointer { Preprocessing.robustStats($0) }
            let (mr, sr) = x.withUnsafeBufferPointer { Preprocessing.robustStatsReference($0) }
            #expect(m == mr, "n \(x.count)")
            #expect(abs(s - sr) <= 1e-12 * max(1, abs(sr)), "n \(x.count): \(s) vs \(sr)")
        }
        // Selection itself: every rank of a random array with ties.
        let x = (0..<300).map { _ in Float(Int.random(in: 0..<40, using: &g)) }
        let sorted = x.sorted()
        for rank in 0..<x.count {
            var y = x
            y.withUnsafeMutableBufferPointer { p in
                Selection.select(p, rank: rank, in: 0..<p.count)
                #expect(p[rank] == sorted[rank])
                #expect(p[..<rank].allSatisfy { $0 <= p[rank] } && p[(rank + 1)...].allSatisfy { $0 >= p[rank] })
            }
        }
    }

    @Test("zero-phase filters: fast = reference, bit for bit")
    func filtersAgree() {
        var g = SeededRandom(#function, salt: 2)
        let sos = Preprocessing.butterworthHighpass(order: 4, cutoff: 0.8, fs: 256)
        for n in [2, 3, 10, 27, 28, 2560, 7681] {
            let x = (0..<n).map { i in sin(Double(i) * 0.07) * 3 + Double.random(in: -1...1, using: &g) + 40 }
            #expect(Preprocessing.sosfiltfilt(sos, x) == Preprocessing.sosfiltfiltReference(sos, x), "n \(n)")
            for b in [Biquad.highpass(fc: 5, fs: 256), Biquad.lowpass(fc: 15, fs: 360)] {
                #expect(b.filtfilt(x) == b.filtfiltReference(x), "n \(n)")
            }
        }
        let odd = Preprocessing.butterworthHighpass(order: 3, cutoff: 2, fs: 500)  // a first-order section
        let x = (0..<3000).map { _ in Double.random(in: -1...1, using: &g) }
        #expect(Preprocessing.sosfiltfilt(odd, x) == Preprocessing.sosfiltfiltReference(odd, x))
    }

    /// A synthetic ECG at 256 Hz: narrow R waves (upwards) every 0.8 s, a slower T wave, a
    /// little wander and noise.
    static func syntheticECG(seconds: Double, seed: UInt64) -> [Double] { ModelTestSupport.syntheticECG(seconds: seconds, seed: seed) }

    @Test("QRS polarity: upright beats keep their sign, inverted ones are turned; fast = reference")
    func polarity() throws {
        for (seconds, seed) in [(10.0, 1 as UInt64), (25, 2), (61, 3), (4, 4)] {
            let x = Self.syntheticECG(seconds: seconds, seed: seed)
            let neg = x.map { -$0 }
            #expect(Preprocessing.qrsPolarity(x) == 1, "\(seconds) s")
            #expect(Preprocessing.qrsPolarity(neg) == -1, "\(seconds) s")
            #expect(Preprocessing.qrsPolarity(x) == Preprocessing.qrsPolarityReference(x))
            #expect(Preprocessing.qrsPolarity(neg) == Preprocessing.qrsPolarityReference(neg))
        }
        // Random and degenerate inputs: the fast path and the sort agree on every one.
        var g = Rng(s: 9)
        for n in [2, 3, 100, 2559, 2560, 2561, 7680, 12_345] {
            let v = (0..<n).map { _ in Double(g.float()) * (g.float() > 0.99 ? 20 : 1) }
            #expect(Preprocessing.qrsPolarity(v) == Preprocessing.qrsPolarityReference(v), "n \(n)")
        }
        #expect(Preprocessing.qrsPolarity([Double](repeating: 3, count: 5000)) == 1)
        // Through prepare: with "qrs-up" a recording and its negation give the same windows.
        let x = Self.syntheticECG(seconds: 30, seed: 5)
        let a = try Preprocessing.prepare(
            x, fs: 256, filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization, polarity: Preprocessing.qrsUp)
        let b = try Preprocessing.prepare(
            x.map { -$0 }, fs: 256, filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization, polarity: Preprocessing.qrsUp)
        let c = try Preprocessing.prepare(x.map { -$0 }, fs: 256, filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization)
        #expect(a.windows == b.windows)
        #expect(relErr(a.windows, c.windows.map { -$0 }) <= 1e-6)
        #expect(throws: PreprocessingError.unknownPolarity("down")) {
            try Preprocessing.prepare(x, fs: 256, filter: "none", normalization: "none", polarity: "down")
        }
    }

    @Test("robust z-score matches numpy")
    func zscore() throws {
        var x = try #require(Self.fx["z_in"]).floats()
        x.withUnsafeMutableBufferPointer { Preprocessing.robustZScore($0) }
        let want = try #require(Self.fx["z_out"]).floats()
        #expect(relErr(x, want) <= 1e-6)
    }

    @Test("prepare: windows, remainder, and refusals")
    func prepare() throws {
        let x = (0..<(500 * 25)).map { sin(Double($0) / 50) }
        let p = try Preprocessing.prepare(x, fs: 500, filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization)
        #expect(p.count == 2)
        #expect(abs(p.remainderSeconds - 5) < 1e-9)
        #expect(throws: PreprocessingError.tooShort(samples: 2559, needed: 2560, fs: 256)) {
            try Preprocessing.prepare([Double](repeating: 0, count: 2559), fs: 256, filter: "none", normalization: "none")
        }
        #expect(throws: PreprocessingError.badSampleRate(20)) {
            try Preprocessing.prepare([Double](repeating: 0, count: 5000), fs: 20, filter: "none", normalization: "none")
        }
        #expect(throws: PreprocessingError.nonFinite(index: 3)) {
            try Preprocessing.prepare([0, 0, 0, .nan] + [Double](repeating: 0, count: 5000), fs: 256, filter: "none", normalization: "none")
        }
        #expect(throws: PreprocessingError.badSampleRate(500)) {
            try Preprocessing.prepare([Double](repeating: 0, count: 5000), fs: 500, filter: "none", normalization: "none", preprocessed: true)
        }
        // Preprocessed input is only cut: filter, polarity and normalisation are skipped.
        let raw = (0..<2560).map { Double($0 % 7) }
        let same = try Preprocessing.prepare(
            raw, fs: 256, filter: Preprocessing.bandFilter, normalization: Preprocessing.windowNormalization,
            polarity: Preprocessing.qrsUpBeats, preprocessed: true)
        #expect(same.windows == raw.map(Float.init))
        // A pipeline is checked when it is made, whatever the input: ecg-server makes it at load.
        #expect(throws: PreprocessingError.unknownFilter("x")) { try Preprocessing.Pipeline(filter: "x", normalization: "none") }
        #expect(throws: PreprocessingError.unknownNormalization("y")) { try Preprocessing.Pipeline(filter: "none", normalization: "y") }
        #expect(throws: PreprocessingError.unknownPolarity("z")) { try Preprocessing.Pipeline(filter: "none", normalization: "none", polarity: "z") }
    }
}
