import CKernels

/// The full pre-training network: the encoder and the seven binary task heads
/// (`task_0` = original signal, `task_1` ... `task_6` = the six transformations).
public struct SSLNetwork: Sendable {
    public let encoder: Encoder
    /// Absent in a weights directory that only carries an encoder.
    public let tasks: [TaskHead]

    public init(encoder: Encoder, tasks: [TaskHead]) { self.encoder = encoder; self.tasks = tasks }

    /// Encoder, plus the task heads if all seven are present (an error names a partial set).
    public init(tensors: TensorSet) throws {
        encoder = Encoder(weights: try EncoderWeights(tensors: tensors))
        if (0..<TaskHead.count).contains(where: { tensors.has("task_\($0)/kernel") || tensors.has("task_\($0)_dense_1/kernel") }) {
            tasks = try (0..<TaskHead.count).map { try TaskHead(tensors: tensors, index: $0) }
        } else {
            tasks = []
        }
    }

    /// Task logits (N, 7) for embeddings (N, 128), heads in order task_0 ... task_6.
    public func taskLogits(_ embeddings: [Float]) -> [Float] {
        let n = embeddings.count / 128
        var out = [Float](repeating: 0, count: n * tasks.count)
        var h1 = [Float](repeating: 0, count: n * 128), h2 = h1
        for (j, h) in tasks.enumerated() {
            denseForward(embeddings, rows: n, h.dense1, into: &h1, act: 1)
            denseForward(h1, rows: n, h.dense2, into: &h2, act: 1)
            for r in 0..<n {
                var s = h.output.bias[0]
                for i in 0..<128 { s += h2[r * 128 + i] * h.output.kernel[i] }
                out[r * tasks.count + j] = s
            }
        }
        return out
    }
}

/// y = act(x W + b) for `rows` rows; act 0 identity, 1 leaky ReLU 0.2, 2 ReLU.
public func denseForward(_ x: [Float], rows: Int, _ d: DenseLayer, into y: inout [Float], act: Int32) {
    precondition(x.count >= rows * d.inputs && y.count >= rows * d.outputs)
    x.withUnsafeBufferPointer { xp in
        d.kernel.withUnsafeBufferPointer { k in
            d.bias.withUnsafeBufferPointer { b in
                y.withUnsafeMutableBufferPointer { yp in
                    ck_gemm_bias_act(Int32(rows), Int32(d.outputs), Int32(d.inputs), xp.baseAddress, Int32(d.inputs),
                                     k.baseAddress, b.baseAddress, yp.baseAddress, Int32(d.outputs), act)
                }
            }
        }
    }
}
