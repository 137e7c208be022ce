import NPY

// Shapes (TF layout, as the authors' checkpoints store them):
//   conv kernel: (K, C_in, C_out)   conv bias: (C_out)
//   dense kernel: (in, out)         dense bias: (out)

/// Errors loading or validating weights: each names the tensor and what was expected.
public enum WeightsError: Error, CustomStringConvertible, Equatable, Sendable {
    case missingTensor(name: String, expectedShape: [Int])
    case wrongShape(name: String, expected: [Int], found: [Int])
    case wrongDType(name: String, found: String)
    case nonFinite(name: String, index: Int)
    case manifest(String)
    case checksum(file: String, expected: String, found: String)
    case file(String)

    public var description: String {
        switch self {
        case let .missingTensor(n, s): return "weights: tensor '\(n)' is missing (expected shape \(s))"
        case let .wrongShape(n, e, f): return "weights: tensor '\(n)' has shape \(f), expected \(e)"
        case let .wrongDType(n, f): return "weights: tensor '\(n)' has dtype \(f), expected float32 (f4)"
        case let .nonFinite(n, i): return "weights: tensor '\(n)' has a NaN or Inf at flat index \(i)"
        case let .manifest(m): return "weights manifest: \(m)"
        case let .checksum(f, e, g): return "weights: \(f) has SHA-256 \(g) but the manifest says \(e) (corrupted or replaced file)"
        case let .file(m): return "weights: \(m)"
        }
    }
}

/// A 1-D convolution layer: stride 1, TF `same` padding, bias, leaky ReLU 0.2.
public struct ConvLayer: Sendable {
    /// kernel: (K, C_in, C_out), C order.
    public let kernel: TensorView
    /// bias: (C_out)
    public let bias: TensorView
    public let taps: Int, cin: Int, cout: Int
    /// TF `same`, stride 1: left (K-1)/2, right K-1-left.
    public var padLeft: Int { (taps - 1) / 2 }
    public var padRight: Int { taps - 1 - padLeft }

    public init(kernel: TensorView, bias: TensorView, taps: Int, cin: Int, cout: Int) {
        precondition(kernel.count == taps * cin * cout && bias.count == cout)
        self.kernel = kernel; self.bias = bias; self.taps = taps; self.cin = cin; self.cout = cout
    }

    public init(kernel: [Float], bias: [Float], taps: Int, cin: Int, cout: Int) {
        self.init(kernel: TensorView(kernel), bias: TensorView(bias), taps: taps, cin: cin, cout: cout)
    }

    /// The layer that computes this one's input gradient from its (padded) output
    /// gradient: taps reversed, C_in and C_out swapped, Wf[K-1-j, o, i] = W[j, i, o];
    /// zero bias.
    public func flipped() -> ConvLayer {
        var wf = [Float](repeating: 0, count: kernel.count)
        for j in 0..<taps {
            for i in 0..<cin {
                for o in 0..<cout {
                    wf[((taps - 1 - j) * cout + o) * cin + i] = kernel[(j * cin + i) * cout + o]
                }
            }
        }
        return ConvLayer(kernel: wf, bias: [Float](repeating: 0, count: cin), taps: taps, cin: cout, cout: cin)
    }
}

/// A dense layer y = x W + b.
public struct DenseLayer: Sendable {
    /// kernel: (in, out)
    public let kernel: TensorView
    /// bias: (out)
    public let bias: TensorView
    public let inputs: Int, outputs: Int

    public init(kernel: TensorView, bias: TensorView, inputs: Int, outputs: Int) {
        precondition(kernel.count == inputs * outputs && bias.count == outputs)
        self.kernel = kernel; self.bias = bias; self.inputs = inputs; self.outputs = outputs
    }

    public init(kernel: [Float], bias: [Float], inputs: Int, outputs: Int) {
        self.init(kernel: TensorView(kernel), bias: TensorView(bias), inputs: inputs, outputs: outputs)
    }
}

/// The authors' encoder: six convolutions, two max pools, a global max pool.
public struct EncoderWeights: Sendable {
    /// conv_layer_1 ... conv_layer_6
    public let convs: [ConvLayer]

    public static var architecture: [(name: String, taps: Int, cin: Int, cout: Int)] { EncoderGeometry.convs }
    public static var windowLength: Int { EncoderGeometry.windowLength }
    public static var embeddingSize: Int { EncoderGeometry.embeddingSize }
    public static var sampleRate: Double { EncoderGeometry.sampleRate }

    public init(convs: [ConvLayer]) { self.convs = convs }

    /// Picks and validates the six conv layers from named tensors.
    public init(tensors: TensorSet) throws {
        convs = try Self.architecture.map { a in
            ConvLayer(
                kernel: try tensors.floats(a.name + "/kernel", shape: [a.taps, a.cin, a.cout]),
                bias: try tensors.floats(a.name + "/bias", shape: [a.cout]),
                taps: a.taps, cin: a.cin, cout: a.cout)
        }
    }

    public var tensors: [String: NPYArray] {
        var out: [String: NPYArray] = [:]
        for (a, c) in zip(Self.architecture, convs) {
            out[a.name + "/kernel"] = NPYArray(floats: Array(c.kernel), shape: [a.taps, a.cin, a.cout])
            out[a.name + "/bias"] = NPYArray(floats: Array(c.bias), shape: [a.cout])
        }
        return out
    }
}

/// One of the seven pre-training heads `task_0` ... `task_6`:
/// dense 128 → leaky ReLU → dense 128 → leaky ReLU → dense 1 (logit).
public struct TaskHead: Sendable {
    public let dense1: DenseLayer, dense2: DenseLayer, output: DenseLayer

    public init(dense1: DenseLayer, dense2: DenseLayer, output: DenseLayer) {
        self.dense1 = dense1; self.dense2 = dense2; self.output = output
    }

    public init(tensors: TensorSet, index i: Int) throws {
        func dense(_ n: String, _ a: Int, _ b: Int) throws -> DenseLayer {
            DenseLayer(
                kernel: try tensors.floats(n + "/kernel", shape: [a, b]),
                bias: try tensors.floats(n + "/bias", shape: [b]), inputs: a, outputs: b)
        }
        dense1 = try dense("task_\(i)_dense_1", EncoderGeometry.embeddingSize, EncoderGeometry.embeddingSize)
        dense2 = try dense("task_\(i)_dense_2", EncoderGeometry.embeddingSize, EncoderGeometry.embeddingSize)
        output = try dense("task_\(i)", EncoderGeometry.embeddingSize, 1)
    }

    public func tensors(index i: Int) -> [String: NPYArray] {
        var out: [String: NPYArray] = [:]
        for (n, d) in [("task_\(i)_dense_1", dense1), ("task_\(i)_dense_2", dense2), ("task_\(i)", output)] {
            out[n + "/kernel"] = NPYArray(floats: Array(d.kernel), shape: [d.inputs, d.outputs])
            out[n + "/bias"] = NPYArray(floats: Array(d.bias), shape: [d.outputs])
        }
        return out
    }

    public static var count: Int { EncoderGeometry.transformations.count }
}

/// Named float tensors, with TF names normalised to `/` (an `.npz` may write `.`).
public struct TensorSet: Sendable {
    public var arrays: [String: NPYArray]

    public init(_ raw: [String: NPYArray]) {
        var a: [String: NPYArray] = [:]
        for (k, v) in raw { a[Self.normalise(k)] = v }
        arrays = a
    }

    /// `conv_layer_1.kernel` → `conv_layer_1/kernel`; a trailing `:0` is dropped.
    public static func normalise(_ name: String) -> String {
        var n = name
        if n.hasSuffix(":0") { n.removeLast(2) }
        return n.replacingOccurrences(of: ".", with: "/")
    }

    public func has(_ name: String) -> Bool { arrays[name] != nil }

    /// The tensor as float32 values, refusing a missing, mis-shaped, non-float32 or
    /// non-finite tensor with an error naming it.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        guard let a = arrays[name] else { throw WeightsError.missingTensor(name: name, expectedShape: shape) }
        guard a.shape == shape else { throw WeightsError.wrongShape(name: name, expected: shape, found: a.shape) }
        guard a.dtype == .f4 else { throw WeightsError.wrongDType(name: name, found: a.dtype.rawValue) }
        let f = a.floats()
        if let bad = f.firstIndex(where: { !$0.isFinite }) { throw WeightsError.nonFinite(name: name, index: bad) }
        return f
    }
}
