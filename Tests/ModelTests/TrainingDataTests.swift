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
