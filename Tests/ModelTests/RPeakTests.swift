import Foundation
import TestSupport
import Testing
import NPY
@testable import Model
@testable import Training

/// The corpus beside the checkout (../shared/data/ecg; CI has it too). Never committed.
let corpusDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("shared/data/ecg").path

@Suite struct RPeakDetection {
    static let mitdb = ["100", "102", "104", "105", "106", "108", "114", "116", "121", "123"]

    static func record(_ r: String) throws -> (ecg: [Double], fs: Double, ref: [Int]) {
        let z = try NPZ.read(path: "\(corpusDir)/tpcp-mitdb/\(r).npz")
        let ecg = try #require(z["ecg"]).doubles(), fs = try #require(z["fs"]).doubles()[0]
        let ref = try String(contentsOfFile: "\(corpusDir)/tpcp-mitdb/rpeaks/\(r).csv", encoding: .utf8)
            .split(separator: "\n").dropFirst().compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (ecg, fs, ref)
    }

    /// Pan & Tompkins reported Se 99.3 %, +P 99.5 % on the whole database; the target here
    /// is ≥ 99 % for both on average over the 10 annotated records, at 150 ms.
    @Test(
        "Pan-Tompkins against the MIT-BIH reference beats: Se and +P ≥ 99 % on average at 150 ms",
        .enabled(if: FileManager.default.fileExists(atPath: corpusDir + "/tpcp-mitdb/rpeaks/100.csv")))
    func mitdb() throws {
        var se = 0.0, pp = 0.0
        for r in Self.mitdb {
            let (x, fs, ref) = try Self.record(r)
            let det = RPeaks.detect(x, fs: fs)
            let s = RPeaks.score(detected: det, reference: ref, tolerance: Int(0.15 * fs))
            let sens = Double(s.tp) / Double(s.tp + s.fn), ppv = Double(s.tp) / Double(s.tp + s.fp)
            print(
                String(
                    format: "mitdb %@: %d reference beats, %d detected, TP %d FN %d FP %d, Se %.2f %%, +P %.2f %%",
                    r, ref.count, det.count, s.tp, s.fn, s.fp, 100 * sens, 100 * ppv))
            se += sens; pp += ppv
            #expect(sens > 0.9 && ppv > 0.9, "record \(r)")
        }
        se /= Double(Self.mitdb.count); pp /= Double(Self.mitdb.count)
        print(String(format: "mitdb mean: Se %.2f %%, +P %.2f %%", 100 * se, 100 * pp))
        #expect(se >= 0.99 && pp >= 0.99, "mean Se \(se), +P \(pp)")
    }

    @Test("the detector follows a synthetic rhythm at any rate, and HRV features are right")
    func synthetic() {
        for fs in [128.0, 250, 256, 360, 500, 1000] {
            // Gaussian QRS-like spikes at a known RR pattern, with baseline wander and noise.
            var rng = SeededRandom(#function, salt: 1)
            let rrs = (0..<40).map { 0.8 + 0.05 * Double($0 % 3) }  // 0.80, 0.85, 0.90 s
            var t = 0.5, beats: [Double] = []
            for r in rrs { beats.append(t); t += r }
            let n = Int((t + 0.5) * fs)
            var x = (0..<n).map { i in 0.3 * sin(2 * .pi * 0.2 * Double(i) / fs) + 0.02 * Double.random(in: -1...1, using: &rng) }
            for b in beats {
                let c = Int(b * fs)
                for i in max(0, c - Int(0.05 * fs))..<min(n, c + Int(0.05 * fs)) {
                    let d = Double(i - c) / fs
                    x[i] += exp(-d * d / (2 * 0.008 * 0.008)) - 0.25 * exp(-(d - 0.02) * (d - 0.02) / (2 * 0.006 * 0.006))
                }
            }
            let det = RPeaks.detect(x, fs: fs)
            let s = RPeaks.score(detected: det, reference: beats.map { Int($0 * fs) }, tolerance: Int(0.02 * fs) + 1)
            #expect(s.fn == 0 && s.fp == 0, "fs \(fs): \(s)")
            let f = HRVFeatures(peaks: det, fs: fs, start: 0, end: n, signal: x)
            let rrms = zip(det.dropFirst(), det).map { Double($0 - $1) / fs * 1000 }
            let mean = rrms.reduce(0, +) / Double(rrms.count)
            #expect(abs(f.heartRate! - 60_000 / mean) < 1e-9)
            // SDNN of the repeating 800/850/900 ms pattern ≈ 40.8 ms; RMSSD ≈ 70.7 ms (±1 sample).
            #expect(abs(f.sdnn! - 40.8) < 1000 / fs + 1, "fs \(fs): sdnn \(f.sdnn!)")
            #expect(abs(f.rmssd! - 70.7) < 2000 / fs + 1, "fs \(fs): rmssd \(f.rmssd!)")
            #expect(f.quality == .good)
        }
        // Flat line and noise: no confident beats.
        #expect(HRVFeatures(peaks: RPeaks.detect([Double](repeating: 0, count: 2560), fs: 256), fs: 256, start: 0, end: 2560).quality == .unusable)
    }
}

@Suite struct QualityRule {
    @Test("noise, flat lines, a sine and a square wave are not 'good' ECG")
    func outOfDistribution() {
        var rng = SeededRandom(#function, salt: 2)
        func gauss() -> Double {
            let u = Double.random(in: 1e-12..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng); return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
        let n = 2560
        let inputs: [(String, [Double])] = [
            ("gaussian noise", (0..<n).map { _ in gauss() }),
            ("flat", [Double](repeating: 0, count: n)),
            ("sine 1 Hz", (0..<n).map { sin(2 * .pi * Double($0) / 256) }),
            ("square 1.2 Hz", (0..<n).map { sin(2 * .pi * 1.2 * Double($0) / 256) > 0 ? 1 : -1 }),
            ("uniform noise", (0..<n).map { _ in Double.random(in: -1...1, using: &rng) }),
        ]
        for (name, x) in inputs {
            let q = HRVFeatures(peaks: RPeaks.detect(x, fs: 256), fs: 256, start: 0, end: n, signal: x)
            print("quality \(name): \(q.quality), beats \(q.beats), hr \(q.heartRate ?? -1)")
            #expect(q.quality != .good, "\(name)")
        }
    }
}
