import Foundation
import Testing
@testable import Training

/// Issue #17, item 2: the interference the heads are trained with (`prepare --augment`).
@Suite struct AugmentationKinds {
    /// A clean test signal: 1.2 Hz "beats" (a sharp Gaussian bump per beat) at `fs`.
    static func beats(seconds: Double, fs: Double) -> [Double] {
        (0..<Int(seconds * fs)).map { i in
            let t = Double(i) / fs, phase = (t * 1.2).truncatingRemainder(dividingBy: 1) - 0.5
            return exp(-phase * phase / (2 * 0.01 * 0.01))
        }
    }

    /// Amplitude of the f Hz component of d (least squares on sin and cos).
    static func amplitude(_ d: [Double], f: Double, fs: Double) -> Double {
        var s = 0.0, c = 0.0
        for (i, v) in d.enumerated() { s += v * sin(2 * .pi * f * Double(i) / fs); c += v * cos(2 * .pi * f * Double(i) / fs) }
        return 2 * (s * s + c * c).squareRoot() / Double(d.count)
    }

    @Test(
        "hum is a 50 or 60 Hz sine of the drawn share of the range; wander a slow sine of its drawn share; both within their ranges",
        arguments: [1 as UInt64, 2, 3, 4, 5, 6])
    func sines(seed: UInt64) throws {
        let fs = 500.0, x = Self.beats(seconds: 20, fs: fs), range = x.max()! - x.min()!
        for kind in [Augmentation.Kind.hum, .wander] {
            var y = x, rng = Transformations.RNG(seed: seed)
            let drawn = Augmentation.apply([kind], to: &y, fs: fs, rng: &rng)
            let d = zip(y, x).map { $0 - $1 }
            if kind == .hum {
                let f = try #require(drawn.humHz), a = try #require(drawn.humAmplitude)
                #expect(f == 50 || f == 60)
                #expect(Augmentation.humAmplitude.contains(a))
                #expect(abs(Self.amplitude(d, f: f, fs: fs) - a * range) <= 1e-6 * range)
                #expect(Self.amplitude(d, f: f == 50 ? 60 : 50, fs: fs) < 1e-3 * range)  // one mains rate, not both
            } else {
                let f = try #require(drawn.wanderHz), a = try #require(drawn.wanderAmplitude)
                #expect(Augmentation.wanderHz.contains(f) && Augmentation.wanderAmplitude.contains(a))
                #expect(abs(d.map(abs).max()! - a * range) <= 0.01 * a * range)
                #expect(drawn.humHz == nil && drawn.noiseSNRdB == nil)
            }
        }
    }

    @Test("noise is white Gaussian at the drawn SNR against the record's high-passed power", arguments: [7 as UInt64, 8, 9])
    func noise(seed: UInt64) throws {
        let fs = 360.0, x = Self.beats(seconds: 60, fs: fs)
        var y = x, rng = Transformations.RNG(seed: seed)
        let drawn = Augmentation.apply([.noise], to: &y, fs: fs, rng: &rng)
        let snr = try #require(drawn.noiseSNRdB)
        #expect(Augmentation.noiseSNRdB.contains(snr))
        let d = zip(y, x).map { $0 - $1 }
        let mean = d.reduce(0, +) / Double(d.count), v = d.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d.count)
        let want = Augmentation.highPassedPower(x, window: Int(fs)) / pow(10, snr / 10)
        #expect(abs(v / want - 1) < 0.05, "noise power \(v), want \(want)")
        // White: neighbouring samples uncorrelated.
        let lag1 = zip(d, d.dropFirst()).map { ($0 - mean) * ($1 - mean) }.reduce(0, +) / Double(d.count - 1) / v
        #expect(abs(lag1) < 0.03)
    }

    @Test("the high-passed power is the plain definition's (moving mean removed), and a constant has none")
    func highPassedPower() {
        let x = Self.beats(seconds: 3, fs: 100), w = 100
        var plain = 0.0
        for i in x.indices {
            let lo = max(0, i - w / 2), hi = min(x.count, i - w / 2 + w)
            let m = x[lo..<hi].reduce(0, +) / Double(hi - lo)
            plain += (x[i] - m) * (x[i] - m)
        }
        #expect(abs(Augmentation.highPassedPower(x, window: w) - plain / Double(x.count)) < 1e-12)
        #expect(Augmentation.highPassedPower([Double](repeating: 3, count: 500), window: w) == 0)
    }

    @Test("a record's draw depends only on the seed and its place; kinds parse strictly")
    func seeding() throws {
        let x = Self.beats(seconds: 5, fs: 256)
        func run(_ seed: UInt64, _ index: Int) -> ([Double], Augmentation.Drawn) {
            var y = x, rng = Transformations.RNG(seed: Augmentation.recordSeed(seed, index: index))
            let d = Augmentation.apply([.hum, .noise, .wander], to: &y, fs: 256, rng: &rng)
            return (y, d)
        }
        #expect(run(1, 3).0 == run(1, 3).0 && run(1, 3).1 == run(1, 3).1)
        #expect(run(1, 3).0 != run(1, 4).0 && run(1, 3).0 != run(2, 3).0)
        #expect(try Augmentation.kinds("hum, noise,hum").get() == [.hum, .noise])
        #expect(throws: Augmentation.UnknownKind(name: "mains")) { try Augmentation.kinds("hum,mains").get() }
    }
}
