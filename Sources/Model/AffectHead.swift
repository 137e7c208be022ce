import NPY

// Shapes:
//   embedding: (N, 128) → dense_1: (128, H) ReLU → … → dense_L: (H, H) ReLU → output: (H, labels) → softmax

/// A downstream affect head on the frozen 128-d embedding: a stack of dense + ReLU
/// layers (the paper uses 2 or 3 of 512 units) and a softmax over named labels.
/// Tensors are named `<head>/dense_1/kernel`, …, `<head>/output/kernel` (and `bias`).
public struct AffectHead: Sendable {
    public let name: String
    public let labels: [String]
    public let hidden: [DenseLayer]
    public let output: DenseLayer

    public init(name: String, labels: [String], hidden: [DenseLayer], output: DenseLayer) {
        precondition(output.outputs == labels.count)
        self.name = name; self.labels = labels; self.hidden = hidden; self.output = output
    }

    /// Reads `name/dense_i/*` for i = 1, 2, … until absent, then `name/output/*`; the first
    /// layer takes `inputs` values per window (the 128-d embedding unless the manifest's
    /// `HeadInputs` say otherwise).
    public init(name: String, labels: [String], tensors: TensorSet, inputs: Int = EncoderWeights.embeddingSize) throws {
        var layers: [DenseLayer] = []
        var inputs = inputs
        var i = 1
        while let k = tensors.arrays["\(name)/dense_\(i)/kernel"] {
            guard k.shape.count == 2, k.shape[0] == inputs, k.shape[1] > 0, k.shape[1] <= 65536 else {
                throw WeightsError.wrongShape(name: "\(name)/dense_\(i)/kernel", expected: [inputs, -1], found: k.shape)
            }
            let h = k.shape[1]
            layers.append(
                DenseLayer(
                    kernel: try tensors.floats("\(name)/dense_\(i)/kernel", shape: [inputs, h]),
                    bias: try tensors.floats("\(name)/dense_\(i)/bias", shape: [h]), inputs: inputs, outputs: h))
            inputs = h; i += 1
        }
        guard labels.count >= 2 else { throw WeightsError.manifest("head '\(name)' needs at least two labels") }
        hidden = layers
        output = DenseLayer(
            kernel: try tensors.floats("\(name)/output/kernel", shape: [inputs, labels.count]),
            bias: try tensors.floats("\(name)/output/bias", shape: [labels.count]),
            inputs: inputs, outputs: labels.count)
        self.name = name; self.labels = labels
    }

    /// The same head with its logits divided by `temperature` (output kernel and bias
    /// scaled): softmax(logits / T), the temperature-scaled probabilities.
    public func scaled(temperature t: Float) -> AffectHead {
        precondition(t > 0 && t.isFinite)
        return AffectHead(
            name: name, labels: labels, hidden: hidden,
            output: DenseLayer(
                kernel: output.kernel.map { $0 / t }, bias: output.bias.map { $0 / t },
                inputs: output.inputs, outputs: output.outputs))
    }

    public var tensors: [String: NPYArray] {
        var out: [String: NPYArray] = [:]
        for (i, d) in hidden.enumerated() {
            out["\(name)/dense_\(i + 1)/kernel"] = NPYArray(floats: Array(d.kernel), shape: [d.inputs, d.outputs])
            out["\(name)/dense_\(i + 1)/bias"] = NPYArray(floats: Array(d.bias), shape: [d.outputs])
        }
        out["\(name)/output/kernel"] = NPYArray(floats: Array(output.kernel), shape: [output.inputs, output.outputs])
        out["\(name)/output/bias"] = NPYArray(floats: Array(output.bias), shape: [output.outputs])
        return out
    }

    /// The number of values the head reads per window.
    public var inputCount: Int { hidden.first?.inputs ?? output.inputs }

    /// Class probabilities (N, labels) for inputs (N, `inputCount`): embeddings, or the
    /// vectors `HeadInputs.assemble` makes. Dropout is a training-only op.
    public func probabilities(_ embeddings: [Float]) -> [Float] {
        let n = embeddings.count / inputCount
        let logits = denseChain(embeddings, rows: n, hidden.map { ($0, act: 2) } + [(output, act: 0)])
        return softmaxRows(logits, columns: labels.count)
    }
}

/// Row-wise softmax, stable (max subtracted), accumulating in Double.
public func softmaxRows(_ x: [Float], columns c: Int) -> [Float] {
    var out = x
    for r in 0..<(x.count / c) {
        let row = x[(r * c)..<((r + 1) * c)]
        let m = row.max()!
        var s = 0.0
        for v in row { s += exp(Double(v - m)) }
        for j in 0..<c { out[r * c + j] = Float(exp(Double(x[r * c + j] - m)) / s) }
    }
    return out
}

import Foundation
