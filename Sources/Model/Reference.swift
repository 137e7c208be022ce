// The plain reference forward pass: the readable definition of the network, used to
// test the fast engine. Nothing here is tuned; every loop is the formula.
//
// Shapes (channels-last, one window):
//   x: (T, C_in)   conv kernel: (K, C_in, C_out)   y: (T, C_out)
//   maxpool 8/2 valid: (T, C) -> ((T - 8) / 2 + 1, C)
//   global max: (T, C) -> (C)

/// Reference implementations of every layer of the encoder and heads.
public enum Reference {
    /// y[t, o] = b[o] + sum_{j<K} sum_i xpad[t + j, i] * W[j, i, o], xpad zero-padded
    /// (K-1)/2 left and K-1-(K-1)/2 right (TF `same`, stride 1, no kernel flip).
    /// Accumulates in Double. Cost: T*K*C_in*C_out multiply-adds.
    public static func conv1dSame(_ x: [Float], length t: Int, _ l: ConvLayer) -> [Float] {
        var y = [Float](repeating: 0, count: t * l.cout)
        for tt in 0..<t {
            for o in 0..<l.cout {
                var s = Double(l.bias[o])
                for j in 0..<l.taps {
                    let src = tt + j - l.padLeft
                    if src < 0 || src >= t { continue }
                    for i in 0..<l.cin {
                        s += Double(x[src * l.cin + i]) * Double(l.kernel[(j * l.cin + i) * l.cout + o])
                    }
                }
                y[tt * l.cout + o] = Float(s)
            }
        }
        return y
    }

    /// Leaky ReLU, alpha 0.2 (the authors' `tf.nn.leaky_relu(alpha=0.2)`).
    public static func leakyReLU(_ x: [Float], alpha: Float = 0.2) -> [Float] {
        x.map { $0 > 0 ? $0 : alpha * $0 }
    }

    /// Max pool, size 8, stride 2, `valid`.
    public static func maxPool8s2(_ x: [Float], length t: Int, channels c: Int) -> [Float] {
        let to = (t - 8) / 2 + 1
        var y = [Float](repeating: -.greatestFiniteMagnitude, count: to * c)
        for tt in 0..<to { for j in 0..<8 { for ch in 0..<c { y[tt * c + ch] = max(y[tt * c + ch], x[(2 * tt + j) * c + ch]) } } }
        return y
    }

    /// Max over time.
    public static func globalMax(_ x: [Float], length t: Int, channels c: Int) -> [Float] {
        var y = [Float](repeating: -.greatestFiniteMagnitude, count: c)
        for tt in 0..<t { for ch in 0..<c { y[ch] = max(y[ch], x[tt * c + ch]) } }
        return y
    }

    /// y = x W + b for one row x.
    public static func dense(_ x: [Float], _ d: DenseLayer) -> [Float] {
        (0..<d.outputs).map { o in
            var s = Double(d.bias[o])
            for i in 0..<d.inputs { s += Double(x[i]) * Double(d.kernel[i * d.outputs + o]) }
            return Float(s)
        }
    }

    /// The encoder on one window of 2560 samples, with every intermediate, named as the
    /// TF graph names them (`conv_layer_1` ... `conv_layer_6` after leaky ReLU, `mp1`,
    /// `mp2`, `flat_layer`).
    public static func encode(_ window: [Float], _ w: EncoderWeights) -> (embedding: [Float], intermediates: [String: [Float]]) {
        var inter: [String: [Float]] = [:]
        var x = window
        var t = window.count
        for (i, conv) in w.convs.enumerated() {
            x = leakyReLU(conv1dSame(x, length: t, conv))
            inter["conv_layer_\(i + 1)"] = x
            if EncoderGeometry.pooledAfter.contains(i) {
                x = maxPool8s2(x, length: t, channels: conv.cout)
                t = (t - 8) / 2 + 1
                inter[i == 1 ? "mp1" : "mp2"] = x
            }
        }
        let e = globalMax(x, length: t, channels: w.convs[5].cout)
        inter["flat_layer"] = e
        return (e, inter)
    }

    /// A pre-training head's logit and hidden activations on one embedding.
    public static func task(_ e: [Float], _ h: TaskHead) -> (logit: Float, hidden1: [Float], hidden2: [Float]) {
        let h1 = leakyReLU(dense(e, h.dense1))
        let h2 = leakyReLU(dense(h1, h.dense2))
        return (dense(h2, h.output)[0], h1, h2)
    }
}
