import CKernels
import Foundation
import Model

// Shapes (batch of B embeddings):
//   x: (B, 128) → h_1: (B, H) ReLU → … → h_L: (B, H) ReLU → logits: (B, C) → softmax
// Dropout (inverted, training only) after every hidden ReLU.

/// Trains an affect head on frozen embeddings: dense-ReLU layers, softmax cross-entropy,
/// Adam. Small enough that plain GEMM calls per batch are the whole cost.
public struct HeadTrainer {
    public var hidden: [Int] = [512, 512]
    public var dropout: Float = 0.3
    public var epochs = 200
    public var batch = 128
    public var learningRate: Float = 1e-3
    public var seed: UInt64 = 1

    public init() {}

    /// Trains on (n × 128) embeddings with class indices 0..<classes; returns the head.
    public func train(name: String, labels: [String], x: [Float], y: [Int]) -> AffectHead {
        let n = y.count, classes = labels.count
        var rng = Transformations.RNG(seed: seed)
        var dims = [EncoderGeometry.embeddingSize] + hidden + [classes]
        var params: [String: [Float]] = [:]
        for l in 0..<(dims.count - 1) {
            let lim = Float((6.0 / Double(dims[l] + dims[l + 1])).squareRoot())
            params["W\(l)"] = (0..<(dims[l] * dims[l + 1])).map { _ in Float.random(in: -lim...lim, using: &rng) }
            params["b\(l)"] = [Float](repeating: 0, count: dims[l + 1])
        }
        var adam = Adam(learningRate: learningRate)
        var order = Array(0..<n)
        for _ in 0..<epochs {
            order.shuffle(using: &rng)
            var s = 0
            while s < n {
                let idx = Array(order[s..<min(n, s + batch)])
                s += batch
                let g = gradients(params, dims: dims, x: x, y: y, idx: idx, rng: &rng)
                adam.apply(&params, g)
            }
        }
        dims = [EncoderGeometry.embeddingSize] + hidden + [classes]
        var layers: [DenseLayer] = []
        for l in 0..<(dims.count - 1) {
            layers.append(DenseLayer(kernel: params["W\(l)"]!, bias: params["b\(l)"]!, inputs: dims[l], outputs: dims[l + 1]))
        }
        return AffectHead(name: name, labels: labels, hidden: Array(layers.dropLast()), output: layers.last!)
    }

    func gradients(_ p: [String: [Float]], dims: [Int], x: [Float], y: [Int], idx: [Int], rng: inout Transformations.RNG) -> [String: [Float]] {
        let b = idx.count, L = dims.count - 1
        var acts: [[Float]] = [idx.flatMap { x[($0 * EncoderGeometry.embeddingSize)..<(($0 + 1) * EncoderGeometry.embeddingSize)] }]
        var masks: [[Float]] = []
        for l in 0..<L {
            var out = [Float](repeating: 0, count: b * dims[l + 1])
            gemm(b, dims[l + 1], dims[l], acts[l], p["W\(l)"]!, p["b\(l)"]!, &out, act: l < L - 1 ? 2 : 0)
            if l < L - 1 && dropout > 0 {
                let keep = 1 - dropout
                let m = (0..<out.count).map { _ in Float.random(in: 0..<1, using: &rng) < keep ? 1 / keep : 0 }
                for i in 0..<out.count { out[i] *= m[i] }
                masks.append(m)
            } else {
                masks.append([])
            }
            acts.append(out)
        }
        // softmax cross-entropy, mean over the batch
        let c = dims[L]
        var d = softmaxRows(acts[L], columns: c)
        for r in 0..<b { d[r * c + y[idx[r]]] -= 1 }
        for i in 0..<d.count { d[i] /= Float(b) }
        var g: [String: [Float]] = [:]
        for l in stride(from: L - 1, through: 0, by: -1) {
            let ni = dims[l], no = dims[l + 1]
            // dW = actsᵀ · d, db = Σ d, dx = d · Wᵀ
            let xT = transpose(acts[l], rows: b, cols: ni)
            var dW = [Float](repeating: 0, count: ni * no)
            xT.withUnsafeBufferPointer { a in
                d.withUnsafeBufferPointer { dd in
                    dW.withUnsafeMutableBufferPointer { o in
                        ck_gemm_full(Int32(ni), Int32(no), Int32(b), a.baseAddress, Int32(b), dd.baseAddress, Int32(no), nil, o.baseAddress, Int32(no), 0)
                    }
                }
            }
            g["W\(l)"] = dW
            g["b\(l)"] = (0..<no).map { o in (0..<b).reduce(Float(0)) { $0 + d[$1 * no + o] } }
            if l == 0 { break }
            let wT = transpose(p["W\(l)"]!, rows: ni, cols: no)
            var dx = [Float](repeating: 0, count: b * ni)
            d.withUnsafeBufferPointer { dd in
                wT.withUnsafeBufferPointer { w in
                    dx.withUnsafeMutableBufferPointer { o in
                        ck_gemm_full(Int32(b), Int32(ni), Int32(no), dd.baseAddress, Int32(no), w.baseAddress, Int32(ni), nil, o.baseAddress, Int32(ni), 0)
                    }
                }
            }
            // through dropout and ReLU of layer l-1's output (acts[l] is post-dropout)
            let m = masks[l - 1]
            for i in 0..<dx.count { dx[i] = acts[l][i] > 0 ? dx[i] * (m.isEmpty ? 1 : m[i]) : 0 }
            d = dx
        }
        return g
    }

    func gemm(_ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ w: [Float], _ bias: [Float], _ out: inout [Float], act: Int32) {
        a.withUnsafeBufferPointer { ap in
            w.withUnsafeBufferPointer { wp in
                bias.withUnsafeBufferPointer { bp in
                    out.withUnsafeMutableBufferPointer { o in
                        ck_gemm_full(
                            Int32(m), Int32(n), Int32(k), ap.baseAddress, Int32(k), wp.baseAddress, Int32(n), bp.baseAddress, o.baseAddress, Int32(n), act)
                    }
                }
            }
        }
    }

    func transpose(_ a: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: a.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = a[r * cols + c] } }
        return t
    }
}

/// Classification metrics of the paper: accuracy, macro-F1, and its "F1" (the harmonic
/// mean of macro precision and macro recall).
public struct ClassMetrics: Codable, Sendable {
    public var accuracy: Double
    public var macroF1: Double
    public var paperF1: Double
    /// Cohen's kappa: agreement beyond chance, (p_o − p_e) / (1 − p_e).
    public var kappa: Double
    /// Mean recall over the classes (insensitive to class imbalance: always answering the
    /// majority class scores 1 / classes).
    public var balancedAccuracy: Double
    public var n: Int

    public init(truth: [Int], predicted: [Int], classes: Int) {
        n = truth.count
        var tp = [Double](repeating: 0, count: classes), fp = tp, fn = tp
        for (t, p) in zip(truth, predicted) { if t == p { tp[t] += 1 } else { fp[p] += 1; fn[t] += 1 } }
        accuracy = n == 0 ? 0 : tp.reduce(0, +) / Double(n)
        var f1s = 0.0, ps = 0.0, rs = 0.0
        for c in 0..<classes {
            let p = tp[c] + fp[c] > 0 ? tp[c] / (tp[c] + fp[c]) : 0
            let r = tp[c] + fn[c] > 0 ? tp[c] / (tp[c] + fn[c]) : 0
            f1s += p + r > 0 ? 2 * p * r / (p + r) : 0
            ps += p; rs += r
        }
        macroF1 = f1s / Double(classes)
        let present = (0..<classes).filter { tp[$0] + fn[$0] > 0 }
        balancedAccuracy = present.isEmpty ? 0 : present.map { tp[$0] / (tp[$0] + fn[$0]) }.reduce(0, +) / Double(present.count)
        var pe = 0.0
        for c in 0..<classes {
            let truthC = Double(truth.filter { $0 == c }.count), predC = Double(predicted.filter { $0 == c }.count)
            pe += n == 0 ? 0 : (truthC / Double(n)) * (predC / Double(n))
        }
        kappa = pe < 1 ? (accuracy - pe) / (1 - pe) : 0
        let mp = ps / Double(classes), mr = rs / Double(classes)
        paperF1 = mp + mr > 0 ? 2 * mp * mr / (mp + mr) : 0
    }
}
