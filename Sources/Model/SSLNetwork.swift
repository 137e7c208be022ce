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
        let n = embeddings.count / EncoderGeometry.embeddingSize
        var out = [Float](repeating: 0, count: n * tasks.count)
        for (j, h) in tasks.enumerated() {
            let logit = denseChain(embeddings, rows: n, [(h.dense1, 1), (h.dense2, 1), (h.output, 0)])
            for r in 0..<n { out[r * tasks.count + j] = logit[r] }
        }
        return out
    }
}

/// The heads' forward pass, for every head (pre-training tasks and affect heads): dense
/// layers in order, each y = act(x W + b) (act as in `denseForward`), on `rows` rows.
public func denseChain(_ x: [Float], rows: Int, _ layers: [(DenseLayer, act: Int32)]) -> [Float] {
    var cur = x
    for (d, act) in layers {
        var y = [Float](repeating: 0, count: rows * d.outputs)
        denseForward(cur, rows: rows, d, into: &y, act: act)
        cur = y
    }
    return cur
}

/// y = act(x W + b) for `rows` rows; act 0 identity, 1 leaky ReLU 0.2, 2 ReLU.
public func denseForward(_ x: [Float], rows: Int, _ d: DenseLayer, into y: inout [Float], act: Int32) {
    precondition(x.count >= rows * d.inputs && y.count >= rows * d.outputs)
    x.withUnsafeBufferPointer { xp in
        d.kernel.withUnsafeBufferPointer { k in
            d.bias.withUnsafeBufferPointer { b in
                y.withUnsafeMutableBufferPointer { yp in
                    ck_gemm_bias_act(
                        Int32(rows), Int32(d.outputs), Int32(d.inputs), xp.baseAddress, Int32(d.inputs),
                        k.baseAddress, b.baseAddress, yp.baseAddress, Int32(d.outputs), act)
                }
            }
        }
    }
}
