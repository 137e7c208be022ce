import ArgumentParser
import Dispatch
import Foundation
import Model
import Training
import NPY
import Synchronization

/// Validation on held-out subjects and the run's CSV files.
extension PretrainCommand {
    /// Loss, accuracy and F1 of each head on the held-out windows (7 versions each,
    /// fixed randomness per epoch), dropout off.
    func validate(_ net: SSLNetwork, _ ds: Dataset, _ idx: [Int], epoch: Int, loss: PretrainLoss, _ tp: Transformations.Parameters)
        -> (total: Double, acc: [Double], f1: [Double]) {
        var l = loss
        l.dropout = 0; l.wantGradients = false
        var rng = Transformations.RNG(seed: seed ^ 0xA11CE)
        let fast = PretrainLoss.FastPaths(net)  // same weights for every chunk
        var total = 0.0, tp7 = [Double](repeating: 0, count: 7), fp7 = tp7, fn7 = tp7, correct = tp7, count = 0.0
        for chunk in stride(from: 0, to: idx.count, by: 64) {
            var x: [Float] = [], y: [Float] = []
            for i in idx[chunk..<min(idx.count, chunk + 64)] {
                for task in 0..<7 {
                    x.append(contentsOf: Transformations.apply(task, ds.windows[(i * EncoderGeometry.windowLength)..<((i + 1) * EncoderGeometry.windowLength)], rng: &rng, tp))
                    y.append(contentsOf: (0..<7).map { $0 == task ? 1 : 0 })
                }
            }
            let r = l.evaluate(net, windows: x, labels: y, threads: threads, fast: fast)
            let m = Double(y.count / 7)
            total += r.weightedData * m; count += m
            for k in 0..<(y.count / 7) { for h in 0..<7 {
                let pred = r.logits[k * 7 + h] > 0, truth = y[k * 7 + h] == 1
                if pred == truth { correct[h] += 1 }
                if pred && truth { tp7[h] += 1 } else if pred { fp7[h] += 1 } else if truth { fn7[h] += 1 }
            } }
        }
        let f1 = (0..<7).map { tp7[$0] == 0 ? 0 : 2 * tp7[$0] / (2 * tp7[$0] + fp7[$0] + fn7[$0]) }
        return (total / max(count, 1), correct.map { $0 / max(count, 1) }, f1)
    }

    func appendLine(_ path: String, _ line: String) throws {
        guard let h = FileHandle(forWritingAtPath: path) else { throw Failure("cannot open \(path) for appending") }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Keeps the header and the rows of a CSV for which `keep(columns)` holds (resume:
    /// the rows written after the checkpoint would otherwise be repeated).
    func truncateCSV(_ path: String, keep: ([Substring]) -> Bool) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return }
        let header = lines.removeFirst()
        let kept = lines.filter { keep($0.split(separator: ",", omittingEmptySubsequences: false)) }
        if kept.count == lines.count { return }
        try writeFileAtomically(Array(([header] + kept).map { $0 + "\n" }.joined().utf8), path: path)
    }
}
