import Foundation
import Testing
import NPY
@testable import Model
@testable import Training

@Suite struct TrainingData {
    @Test("the six transformations do what the paper says")
    func transformations() {
        var rng = Transformations.RNG(seed: 7)
        let w = (0..<2560).map { Float(sin(Double($0) / 15)) + Float($0 % 13) / 20 }
        #expect(Transformations.apply(0, w[...], rng: &rng) == w)
        let noisy = Transformations.apply(1, w[...], rng: &rng)
        let ps = w.reduce(0.0) { $0 + Double($1 * $1) }, pn = zip(noisy, w).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        #expect(abs(10 * log10(ps / pn) - 15) < 0.5, "SNR \(10 * log10(ps / pn)) dB")
        #expect(Transformations.apply(2, w[...], rng: &rng) == w.map { $0 * 1.1 })
        #expect(Transformations.apply(3, w[...], rng: &rng) == w.map { -$0 })
        #expect(Transformations.apply(4, w[...], rng: &rng) == Array(w.reversed()))
        let perm = Transformations.apply(5, w[...], rng: &rng)
        #expect(perm != w && perm.sorted() == w.sorted())
        let pieces = (0..<20).map { Array(w[(2560 * $0 / 20)..<(2560 * ($0 + 1) / 20)]) }
        var rest = perm[...]
        var used = Set<Int>()
        while !rest.isEmpty {
            let k = pieces.indices.first { !used.contains($0) && rest.starts(with: pieces[$0]) }
            guard let k else { Issue.record("not a permutation of 20 pieces"); break }
            used.insert(k); rest = rest.dropFirst(pieces[k].count)
        }
        let warped = Transformations.apply(6, w[...], rng: &rng)
        #expect(warped.count == 2560 && warped != w)
        #expect(warped.max()! <= w.max()! + 1e-6 && warped.min()! >= w.min()! - 1e-6)  // linear interpolation stays in range
    }

    @Test("a dataset with a NaN or a non-integral label is refused, naming the row")
    func badDatasets() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ds-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var d = Dataset()
        d.windows = [Float](repeating: 0.5, count: 3 * 2560)
        d.subject = [0, 0, 1]; d.dataset = [0, 0, 0]; d.record = [0, 1, 2]; d.label = [0, 1, -1]
        try d.write(path: dir + "/ok.npz")
        #expect(try Dataset.read(path: dir + "/ok.npz").count == 3)
        d.windows[2560 + 9] = .nan
        try d.write(path: dir + "/nan.npz")
        do { _ = try Dataset.read(path: dir + "/nan.npz"); Issue.record("NaN accepted") } catch {
            #expect("\(error)".contains("row 1") && "\(error)".contains("sample 9"), "\(error)")
        }
        var z = try NPZ.read(path: dir + "/ok.npz")
        z["label"] = NPYArray(doubles: [0, 1.5, -1], shape: [3])
        try NPZ.write(z, path: dir + "/frac.npz")
        do { _ = try Dataset.read(path: dir + "/frac.npz"); Issue.record("fractional label accepted") } catch {
            #expect("\(error)".contains("label") && "\(error)".contains("element 1"), "\(error)")
        }
        z = try NPZ.read(path: dir + "/ok.npz")
        z["windows"] = NPYArray(floats: [Float](repeating: 0, count: 3 * 100), shape: [3, 100])
        try NPZ.write(z, path: dir + "/shape.npz")
        #expect(throws: (any Error).self) { _ = try Dataset.read(path: dir + "/shape.npz") }
    }
}

@Suite struct EvaluationMaths {
    @Test("ROC AUC (Mann–Whitney with ties), balanced accuracy and Brier against hand-computed values")
    func scores() {
        let s = BinaryScores(truth: [0, 0, 1, 1], probability: [0.1, 0.4, 0.35, 0.8])
        #expect(abs(s.rocAUC! - 0.75) < 1e-12)  // 3 of 4 positive-negative pairs ordered
        #expect(abs(s.balancedAccuracy - 0.75) < 1e-12)  // sensitivity 1/2, specificity 2/2
        #expect(abs(s.brier - (0.01 + 0.16 + 0.4225 + 0.04) / 4) < 1e-12)
        #expect(BinaryScores(truth: [0, 1], probability: [0.5, 0.5]).rocAUC == 0.5)  // a tie counts one half
        #expect(BinaryScores(truth: [1, 1], probability: [0.2, 0.9]).rocAUC == nil)
    }

    @Test("temperature scaling recovers the temperature that generated the labels")
    func temperature() {
        var rng = Transformations.RNG(seed: 5)
        let z = (0..<20_000).map { _ in Double.random(in: -6...6, using: &rng) }
        let y = z.map { Double.random(in: 0..<1, using: &rng) < 1 / (1 + exp(-$0 / 2.5)) ? 1 : 0 }
        let t = fitTemperature(logits: z, truth: y)
        #expect(abs(t - 2.5) < 0.15, "fitted \(t)")
    }

    @Test("softmax temperature scaling: recovers a 3-class temperature, equals the binary fit, cross-fitting never uses the fold's own rows")
    func softmaxTemperature() {
        var rng = Transformations.RNG(seed: 6)
        // Three classes, probabilities softmax(z) of random logits, labels drawn from softmax(z / 3).
        var p: [Double] = [], y: [Int] = []
        for _ in 0..<12_000 {
            let z = (0..<3).map { _ in Double.random(in: -5...5, using: &rng) }
            let e = z.map { exp($0) }, s = e.reduce(0, +)
            p += e.map { $0 / s }
            let et = z.map { exp($0 / 3) }, st = et.reduce(0, +)
            let u = Double.random(in: 0..<1, using: &rng)
            y.append(u < et[0] / st ? 0 : (u < (et[0] + et[1]) / st ? 1 : 2))
        }
        let t = fitTemperature(probabilities: p, classes: 3, truth: y)
        #expect(abs(t - 3) < 0.2, "fitted \(t)")
        let before = probabilityScores(p, classes: 3, truth: y),
            after = probabilityScores(applyTemperature(p, classes: 3, temperature: t), classes: 3, truth: y)
        #expect(after.logLoss < before.logLoss && after.brier < before.brier)
        // Two classes: the same T as the sigmoid fit on log(p1 / p0).
        let q = (0..<4000).map { _ in Double.random(in: 0.001...0.999, using: &rng) }
        let yb = q.map { Double.random(in: 0..<1, using: &rng) < 1 / (1 + exp(-log($0 / (1 - $0)) / 2)) ? 1 : 0 }
        let t2 = fitTemperature(probabilities: q.flatMap { [1 - $0, $0] }, classes: 2, truth: yb)
        let t1 = fitTemperature(logits: q.map { log($0 / (1 - $0)) }, truth: yb)
        #expect(abs(t2 - t1) < 1e-6 * t1, "\(t2) vs \(t1)")
        // Cross-fitting: a fold whose own labels are all flipped keeps the T of the others
        // (fitting on its own rows would have changed it).
        var yf = yb
        let fold = (0..<q.count).map { $0 % 4 }
        for i in yf.indices where fold[i] == 0 { yf[i] = 1 - yf[i] }
        let cf = crossFittedTemperature(q.flatMap { [1 - $0, $0] }, classes: 2, truth: yf, fold: fold)
        let others = yf.indices.filter { fold[$0] != 0 }
        let want = fitTemperature(probabilities: others.flatMap { [1 - q[$0], q[$0]] }, classes: 2, truth: others.map { yf[$0] })
        #expect(cf.temperatures.count == 4 && abs(cf.temperatures[0] - want) < 1e-9)
        let r0 = yf.indices.first { fold[$0] == 0 }!
        #expect(abs(cf.calibrated[2 * r0 + 1] - applyTemperature([1 - q[r0], q[r0]], classes: 2, temperature: want)[1]) < 1e-12)
    }

    @Test("a temperature-scaled head answers softmax(logits / T)")
    func scaledHead() {
        var rng = Transformations.RNG(seed: 7)
        var t = HeadTrainer(); t.epochs = 3; t.hidden = [16]
        let x = (0..<(64 * 128)).map { _ in Float.random(in: -1...1, using: &rng) }
        let h = t.train(name: "h", labels: ["a", "b", "c"], x: x, y: (0..<64).map { $0 % 3 })
        let want = applyTemperature(h.probabilities(x).map(Double.init), classes: 3, temperature: 2.5)
        let got = h.scaled(temperature: 2.5).probabilities(x)
        #expect(zip(got, want).allSatisfy { abs(Double($0) - $1) < 1e-5 })
        #expect(zip(h.probabilities(x), got).contains { abs($0 - $1) > 1e-3 })  // it did change something
    }

    @Test("class-weighted logistic regression separates separable classes despite a 9:1 imbalance")
    func logistic() {
        var rng = Transformations.RNG(seed: 9)
        var x: [Double] = [], y: [Int] = []
        for i in 0..<400 {
            let c = i % 10 == 0 ? 1 : 0
            x += [Double(c) * 2 + Double.random(in: -0.8...0.8, using: &rng), Double.random(in: -1...1, using: &rng) * 100]
            y.append(c)
        }
        let m = LogisticRegression(x: x, y: y, dims: 2)
        let s = BinaryScores(truth: y, probability: m.probabilities(x))
        #expect(s.balancedAccuracy > 0.97, "\(s.balancedAccuracy)")
    }

    @Test("a logistic regression served as a head (no hidden layer) gives the regression's probabilities")
    func logisticAsHead() {
        var rng = Transformations.RNG(seed: 4)
        let d = EncoderWeights.embeddingSize
        var x: [Double] = [], y: [Int] = []
        for _ in 0..<300 {
            var row = [Double](repeating: 0, count: d)
            for j in 0..<d {
                let spread = Double(1 + j % 5), offset: Double = j % 7 == 0 ? 3 : 0
                row[j] = Double.random(in: -1...1, using: &rng) * spread + offset
            }
            x += row
            let score: Double = row[0] + 0.5 * row[7] - 0.3 * row[12] + Double.random(in: -1...1, using: &rng)
            y.append(score > 3 ? 1 : 0)
        }
        let m = LogisticRegression(x: x, y: y, dims: d)
        let h = m.head(name: "stress", labels: ["rest", "stress"])
        #expect(h.hidden.isEmpty)
        let want = m.probabilities(x), got = h.probabilities(x.map(Float.init))
        let worst = (0..<y.count).map { abs(Double(got[$0 * 2 + 1]) - want[$0]) }.max()!
        #expect(worst < 1e-4, "\(worst)")
        #expect(Set(want.map { $0 > 0.5 }).count == 2)  // both classes predicted: not a constant model
    }
}
