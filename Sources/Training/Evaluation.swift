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
    var a = log(1.0 / 20), b = log(20.0)
    let g = (5.0.squareRoot() - 1) / 2
    for _ in 0..<60 {
        let c = b - g * (b - a), d = a + g * (b - a)
        if loss(exp(c)) < loss(exp(d)) { b = d } else { a = c }
    }
    return exp((a + b) / 2)
}
