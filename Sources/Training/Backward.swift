import CKernels
import Model

// Backward passes of the encoder's and heads' layers, one window at a time.
//
// Shapes (channels-last, one window):
//   conv:  xp (T + K - 1, C_in) padded input, W (K, C_in, C_out), dy (T, C_out)
//          → dW (K, C_in, C_out), db (C_out), dx (T, C_in)
//   leaky: y (T, C), dy (T, C) → dx (T, C)
//   maxpool 8/2: x (T, C), dy (T_out, C) → dx (T, C)
//   global max: x (T, C), dy (C) → dx (T, C)
//   dense: x (in), W (in, out), dy (out) → dW (in, out), db (out), dx (in)
//
// Argument order as llm.c: outputs and gradients first, then the upstream gradient,
// then the inputs saved from the forward pass. Every function here ADDS into the
// parameter gradients (dW, db) — they accumulate over the windows of a batch — and
// OVERWRITES the input gradient dx.

public enum Backward {
    /// Conv layer (TF `same`, stride 1), given the gradient at its pre-activation output.
    /// dW += xpᵀ-correlation with dy; db += Σ_t dy; dx = dy ⋆ flipped W (skipped if dx is nil).
    /// - Complexity: 2 · T·K·C_in·C_out multiply-adds (1 without dx).
    public static func conv(
        dW: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, xp: UnsafePointer<Float>, layer l: ConvLayer, layerID: Int, length t: Int,
        scratch s: TrainScratch
    ) {
        let k = l.taps, ci = l.cin, co = l.cout
        // db
        for r in 0..<t { for o in 0..<co { db[o] += dy[r * co + o] } }
        // dW (K·C_in × C_out) += Aᵀ · dy, where A's row t is the K·C_in samples xp[t ..< t+K]:
        // overlapping rows of xp (row stride C_in), the forward pass's trick, transposed.
        ck_gemm_tn_acc(Int32(k * ci), Int32(co), Int32(t), xp, Int32(ci), dy, Int32(co), dW, Int32(co))
        guard let dx else { return }
        // dx = (dy zero-padded by K-1 rows each side) correlated with the flipped kernel.
        let dyp = s.buffer(0, (t + 2 * k - 2) * co)
        dyp.initialize(repeating: 0, count: (t + 2 * k - 2) * co)
        (dyp + (k - 1) * co).update(from: dy, count: t * co)
        let wf = s.flipped(l, id: layerID)
        ck_gemm_full(Int32(t), Int32(ci), Int32(k * co), dyp + l.padLeft * co, Int32(co), wf, Int32(ci), nil, dx, Int32(ci), 0)
    }

    /// Leaky ReLU (alpha 0.2), from its output y (y > 0 exactly where the input was).
    public static func leakyReLU(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, y: UnsafePointer<Float>, count n: Int) {
        for q in 0..<n { dx[q] = y[q] > 0 ? dy[q] : 0.2 * dy[q] }
    }

    /// Max pool 8/2 valid: each output's gradient goes to the first maximum of its window.
    public static func maxPool8s2(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, length t: Int, channels c: Int) {
        dx.initialize(repeating: 0, count: t * c)
        let to = (t - 8) / 2 + 1
        for tt in 0..<to {
            for ch in 0..<c {
                var best = 2 * tt, bv = x[(2 * tt) * c + ch]
                for j in 1..<8 where x[(2 * tt + j) * c + ch] > bv { bv = x[(2 * tt + j) * c + ch]; best = 2 * tt + j }
                dx[best * c + ch] += dy[tt * c + ch]
            }
        }
    }

    /// Global max over time: the gradient goes to the first maximum of each channel.
    public static func globalMax(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, length t: Int, channels c: Int) {
        dx.initialize(repeating: 0, count: t * c)
        for ch in 0..<c {
            var best = 0, bv = x[ch]
            for tt in 1..<t where x[tt * c + ch] > bv { bv = x[tt * c + ch]; best = tt }
            dx[best * c + ch] = dy[ch]
        }
    }

    /// Dense layer on one row: dW += x ⊗ dy, db += dy, dx = W dy (if dx is given).
    public static func dense(
        dW: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, layer d: DenseLayer
    ) {
        let ni = d.inputs, no = d.outputs
        for o in 0..<no { db[o] += dy[o] }
        for i in 0..<ni {
            let xi = x[i]
            if xi == 0 { continue }
            let row = dW + i * no
            for o in 0..<no { row[o] += xi * dy[o] }
        }
        guard let dx else { return }
        d.kernel.withUnsafeBufferPointer { w in
            for i in 0..<ni {
                var s: Float = 0
                for o in 0..<no { s += w[i * no + o] * dy[o] }
                dx[i] = s
            }
        }
    }
}

/// Scratch buffers for backward passes, one per thread, grown on demand and reused.
public final class TrainScratch {
    private var bufs: [UnsafeMutablePointer<Float>] = []
    private var sizes: [Int] = []
    private var flipByLayer: [Int: UnsafeMutablePointer<Float>] = [:]

    public init() {}

    func buffer(_ i: Int, _ n: Int) -> UnsafeMutablePointer<Float> {
        while bufs.count <= i { bufs.append(.allocate(capacity: 1)); sizes.append(1) }
        if sizes[i] < n {
            bufs[i].deallocate()
            bufs[i] = .allocate(capacity: n); sizes[i] = n
        }
        return bufs[i]
    }

    /// W flipped for the input gradient (`ConvLayer.flipped()`), cached by layer id for
    /// one set of weights: callers `resetFlips()` whenever the weights change.
    func flipped(_ l: ConvLayer, id key: Int) -> UnsafePointer<Float> {
        if let f = flipByLayer[key] { return UnsafePointer(f) }
        let wf = l.flipped().kernel
        let f = UnsafeMutablePointer<Float>.allocate(capacity: wf.count)
        wf.withUnsafeBufferPointer { f.initialize(from: $0.baseAddress!, count: wf.count) }
        flipByLayer[key] = f
        return UnsafePointer(f)
    }

    public func resetFlips() {
        for (_, f) in flipByLayer { f.deallocate() }
        flipByLayer = [:]
    }

    deinit {
        for b in bufs { b.deallocate() }
        resetFlips()
    }
}
