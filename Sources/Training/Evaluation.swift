import Foundation
import Model

/// Binary logistic regression on standardised features (means and scales from the
/// training rows), L2-regularised, classes weighted inversely to their frequency so a
/// 3:1 imbalance does not collapse it onto the majority class. Full-batch gradient
/// descent with Adam; deterministic.
public struct LogisticRegression: Sendable {
    public var weights: [Double]
    public var bias: Double
    public var mean: [Double], scale: [Double]

    /// `x`: n × d row-major; `y`: 0/1.
    public init(x: [Double], y: [Int], dims d: Int, l2: Double = 1e-2, iterations: Int = 400, learningRate: Double = 0.05) {
        let n = y.count
        precondition(x.count == n * d && n > 0)
        mean = (0..<d).map { j in (0..<n).reduce(0.0) { $0 + x[$1 * d + j] } / Double(n) }
        let mu = mean
        scale = (0..<d).map { j in
            let v = (0..<n).reduce(0.0) { s, i in s + (x[i * d + j] - mu[j]) * (x[i * d + j] - mu[j]) } / Double(n)
            return v > 1e-12 ? v.squareRoot() : 1
        }
        var z = x
        for i in 0..<n { for j in 0..<d { z[i * d + j] = (x[i * d + j] - mean[j]) / scale[j] } }
        let pos = Double(y.filter { $0 == 1 }.count), neg = Double(n) - pos
        let wPos = pos > 0 ? Double(n) / (2 * pos) : 0, wNeg = neg > 0 ? Double(n) / (2 * neg) : 0
        var w = [Double](repeating: 0, count: d), b = 0.0
        var m = [Double](repeating: 0, count: d + 1), v = m
        for t in 1...iterations {
            var g = [Double](repeating: 0, count: d + 1)
            for i in 0..<n {
                var s = b
                for j in 0..<d { s += w[j] * z[i * d + j] }
                let p = 1 / (1 + exp(-s))
                let e = (p - Double(y[i])) * (y[i] == 1 ? wPos : wNeg) / Double(n)
                for j in 0..<d { g[j] += e * z[i * d + j] }
                g[d] += e
            }
            for j in 0..<d { g[j] += l2 * w[j] }
            for k in 0...d {
                m[k] = 0.9 * m[k] + 0.1 * g[k]; v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k]
                let mh = m[k] / (1 - pow(0.9, Double(t))), vh = v[k] / (1 - pow(0.999, Double(t)))
                let step = learningRate * mh / (vh.squareRoot() + 1e-8)
                if k < d { w[k] -= step } else { b -= step }
            }
        }
        weights = w; bias = b
    }

    /// P(class 1) of each row.
    public func probabilities(_ x: [Double]) -> [Double] {
        let d = weights.count
        return (0..<(x.count / d)).map { i in
            var s = bias
            for j in 0..<d { s += weights[j] * (x[i * d + j] - mean[j]) / scale[j] }
            return 1 / (1 + exp(-s))
        }
    }
}

extension LogisticRegression {
    /// The same model as a servable head with no hidden layer: the standardisation folded
    /// into the output layer (class 1's logit w·(x − mean)/scale + b, class 0's logit 0),
    /// so that softmax gives exactly `probabilities` (to float32 rounding).
    public func head(name: String, labels: [String]) -> AffectHead {
        precondition(labels.count == 2)
        let d = weights.count
        var kernel = [Float](repeating: 0, count: d * 2)
        var b = bias
        for j in 0..<d {
            let wj = weights[j] / scale[j]
            kernel[j * 2 + 1] = Float(wj)
            b -= wj * mean[j]
        }
        return AffectHead(name: name, labels: labels, hidden: [], output: DenseLayer(kernel: kernel, bias: [0, Float(b)], inputs: d, outputs: 2))
    }
}

/// Binary classification scores from P(positive) and the truth.
public struct BinaryScores: Sendable, Codable {
    public var n: Int
    /// Mean of sensitivity and specificity at threshold 0.5.
    public var balancedAccuracy: Double
    public var macroF1: Double
    /// Area under the ROC curve (Mann–Whitney, ties count ½); nil with one class only.
    public var rocAUC: Double?
    /// Mean squared error of the probabilities.
    public var brier: Double

    public init(truth: [Int], probability p: [Double]) {
        n = truth.count
        let pred = p.map { $0 >= 0.5 ? 1 : 0 }
        let m = ClassMetrics(truth: truth, predicted: pred, classes: 2)
        macroF1 = m.macroF1
        var tp = 0.0, tn = 0.0, pos = 0.0, neg = 0.0
        for (t, q) in zip(truth, pred) { if t == 1 { pos += 1; if q == 1 { tp += 1 } } else { neg += 1; if q == 0 { tn += 1 } } }
        let sens = pos > 0 ? tp / pos : nil, spec = neg > 0 ? tn / neg : nil
        switch (sens, spec) {
        case let (a?, b?): balancedAccuracy = (a + b) / 2
        case let (a?, nil): balancedAccuracy = a
        case let (nil, b?): balancedAccuracy = b
        default: balancedAccuracy = 0
        }
        brier = n == 0 ? 0 : zip(truth, p).reduce(0.0) { $0 + ($1.1 - Double($1.0)) * ($1.1 - Double($1.0)) } / Double(n)
        rocAUC = Self.auc(truth: truth, p: p)
    }

    static func auc(truth: [Int], p: [Double]) -> Double? {
        // Rank-sum with average ranks for ties.
        let order = p.indices.sorted { p[$0] < p[$1] }
        var rank = [Double](repeating: 0, count: p.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && p[order[j + 1]] == p[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { rank[order[k]] = r }
            i = j + 1
        }
        let pos = Double(truth.filter { $0 == 1 }.count), neg = Double(truth.count) - pos
        guard pos > 0, neg > 0 else { return nil }
        let sumPos = zip(truth, rank).filter { $0.0 == 1 }.reduce(0.0) { $0 + $1.1 }
        return (sumPos - pos * (pos + 1) / 2) / (pos * neg)
    }
}

/// Temperature scaling: the T > 0 minimising the log-loss of sigmoid(logit / T) on
/// (logit, truth) pairs, by golden-section search on log T in [1/20, 20].
public func fitTemperature(logits: [Double], truth: [Int]) -> Double {
    func loss(_ t: Double) -> Double {
        zip(logits, truth).reduce(0.0) { s, e in
            let z = e.0 / t
            return s + max(z, 0) - z * Double(e.1) + log1p(exp(-abs(z)))
        }
    }
    return minimiseOverTemperature(loss)
}

/// The T in [1/20, 20] minimising a unimodal loss: golden-section search on log T.
private func minimiseOverTemperature(_ loss: (Double) -> Double) -> Double {
    var a = log(1.0 / 20), b = log(20.0)
    let g = (5.0.squareRoot() - 1) / 2
    for _ in 0..<60 {
        let c = b - g * (b - a), d = a + g * (b - a)
        if loss(exp(c)) < loss(exp(d)) { b = d } else { a = c }
    }
    return exp((a + b) / 2)
}

// MARK: Temperature scaling of a K-class softmax

/// The T > 0 minimising the log-loss of softmax(log p / T) over rows of class
/// probabilities `p` (n × classes) with their true classes: temperature scaling of a head
/// whose logits are known only through its probabilities (log p equals the logits up to a
/// constant per row, which the softmax ignores). Golden-section search on log T in
/// [1/20, 20]. For two classes it is `fitTemperature(logits:truth:)` on log(p₁/p₀).
public func fitTemperature(probabilities p: [Double], classes k: Int, truth: [Int]) -> Double {
    precondition(k >= 2 && p.count == truth.count * k)
    let logp = p.map { log(max($0, 1e-12)) }
    func loss(_ t: Double) -> Double {
        var s = 0.0
        for r in 0..<truth.count {
            var m = -Double.infinity
            for c in 0..<k { m = max(m, logp[r * k + c] / t) }
            var z = 0.0
            for c in 0..<k { z += exp(logp[r * k + c] / t - m) }
            s += m + log(z) - logp[r * k + truth[r]] / t
        }
        return s
    }
    return minimiseOverTemperature(loss)
}

/// Rows of class probabilities with temperature T applied: softmax(log p / T).
public func applyTemperature(_ p: [Double], classes k: Int, temperature t: Double) -> [Double] {
    var out = p
    for r in 0..<(p.count / k) {
        let l = (0..<k).map { log(max(p[r * k + $0], 1e-12)) / t }
        let m = l.max()!
        let e = l.map { exp($0 - m) }, s = e.reduce(0, +)
        for c in 0..<k { out[r * k + c] = e[c] / s }
    }
    return out
}

/// Multi-class Brier score, mean over rows of Σ_c (p_c − [c = truth])² (for two classes
/// twice the binary Brier score of P(class 1)), and the mean log-loss.
public func probabilityScores(_ p: [Double], classes k: Int, truth: [Int]) -> (brier: Double, logLoss: Double) {
    var b = 0.0, l = 0.0
    for (r, y) in truth.enumerated() {
        for c in 0..<k { let d = p[r * k + c] - (c == y ? 1 : 0); b += d * d }
        l -= log(max(p[r * k + y], 1e-12))
    }
    return (b / Double(truth.count), l / Double(truth.count))
}

/// Temperature scaling evaluated without peeking: the rows of each fold are rescaled with
/// a T fitted on the out-of-fold probabilities of the other folds only. Returns the rescaled
/// rows and the T used per fold (folds with no rows get none).
public func crossFittedTemperature(_ p: [Double], classes k: Int, truth: [Int], fold: [Int]) -> (calibrated: [Double], temperatures: [Double]) {
    var out = p
    var ts: [Double] = []
    for f in Set(fold).sorted() {
        let other = truth.indices.filter { fold[$0] != f }, mine = truth.indices.filter { fold[$0] == f }
        guard !other.isEmpty, !mine.isEmpty else { continue }
        let t = fitTemperature(probabilities: other.flatMap { p[($0 * k)..<(($0 + 1) * k)] }, classes: k, truth: other.map { truth[$0] })
        ts.append(t)
        let q = applyTemperature(mine.flatMap { p[($0 * k)..<(($0 + 1) * k)] }, classes: k, temperature: t)
        for (i, r) in mine.enumerated() { for c in 0..<k { out[r * k + c] = q[i * k + c] } }
    }
    return (out, ts)
}
