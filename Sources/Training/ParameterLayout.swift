import Model

/// Where each of the pre-training network's 54 tensors lives in one flat float buffer,
/// computed once (as llm.c's `malloc_and_point_parameters`): parameters, gradients and
/// Adam's moments share this layout, so a training step works on flat buffers and
/// offsets; tensor names appear only at load and save (`named`, `flat`).
///
/// Order: conv_layer_1…6 (kernel, bias), then for each head task_0…task_6: dense_1
/// (kernel, bias), dense_2 (kernel, bias), output (kernel, bias).
public struct ParameterLayout: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// Offsets of one dense head's tensors.
    public struct HeadOffsets: Sendable {
        public let dense1Kernel: Int, dense1Bias: Int, dense2Kernel: Int, dense2Bias: Int, outputKernel: Int, outputBias: Int
    }

    public let tensors: [Tensor]
    /// Floats in the buffer.
    public let count: Int
    /// Offsets of conv i's kernel [taps, C_in, C_out] and bias [C_out].
    public let convKernel: [Int], convBias: [Int]
    public let heads: [HeadOffsets]
    private let index: [String: Int]

    /// The layout of the network of `EncoderGeometry` with its seven task heads.
    public static let ssl = ParameterLayout()

    private init() {
        var t: [Tensor] = [], off = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            t.append(Tensor(name: name, shape: shape, offset: off))
            defer { off += shape.reduce(1, *) }
            return off
        }
        var ck: [Int] = [], cb: [Int] = []
        for c in EncoderGeometry.convs {
            ck.append(add(c.name + "/kernel", [c.taps, c.cin, c.cout]))
            cb.append(add(c.name + "/bias", [c.cout]))
        }
        let e = EncoderGeometry.embeddingSize
        var hs: [HeadOffsets] = []
        for i in EncoderGeometry.transformations.indices {
            let d1k = add("task_\(i)_dense_1/kernel", [e, e]), d1b = add("task_\(i)_dense_1/bias", [e])
            let d2k = add("task_\(i)_dense_2/kernel", [e, e]), d2b = add("task_\(i)_dense_2/bias", [e])
            let ok = add("task_\(i)/kernel", [e, 1]), ob = add("task_\(i)/bias", [1])
            hs.append(HeadOffsets(dense1Kernel: d1k, dense1Bias: d1b, dense2Kernel: d2k, dense2Bias: d2b, outputKernel: ok, outputBias: ob))
        }
        tensors = t; count = off; convKernel = ck; convBias = cb; heads = hs
        index = Dictionary(uniqueKeysWithValues: t.enumerated().map { ($1.name, $0) })
    }

    public func tensor(_ name: String) -> Tensor? { index[name].map { tensors[$0] } }

    /// A copy of the network's parameters in this layout (it must have its seven heads): the
    /// Pretrainer's buffer when a run starts from loaded or initialised weights.
    public func flatten(_ net: SSLNetwork) -> [Float] {
        precondition(net.tasks.count == heads.count, "the pre-training network needs its seven heads")
        var p = [Float](repeating: 0, count: count)
        for (t, v) in zip(tensors, views(net)) {
            v.withUnsafeBufferPointer { src in
                p.withUnsafeMutableBufferPointer { dst in _ = UnsafeMutableBufferPointer(rebasing: dst[t.range]).update(fromContentsOf: src) }
            }
        }
        return p
    }

    /// The network's 54 tensors in layout order.
    public func views(_ net: SSLNetwork) -> [TensorView] {
        var v: [TensorView] = []
        for c in net.encoder.weights.convs { v += [c.kernel, c.bias] }
        for h in net.tasks { v += [h.dense1.kernel, h.dense1.bias, h.dense2.kernel, h.dense2.bias, h.output.kernel, h.output.bias] }
        return v
    }

    /// The network whose 54 tensors point into `p` (no copy: `TensorView`s of the one
    /// buffer). The engine plans its tiled-DFT layers from the kernels, which it must
    /// anyway after every update. While the network lives, `p` is shared (copy-on-write):
    /// drop it before updating `p` in place, or the update copies the buffer.
    public func network(_ p: [Float], algorithms: [ConvAlgorithm]) -> SSLNetwork {
        precondition(p.count == count)
        let convs = EncoderGeometry.convs.enumerated().map { i, c in
            ConvLayer(
                kernel: TensorView(p, range: convKernel[i]..<(convKernel[i] + c.taps * c.cin * c.cout)),
                bias: TensorView(p, range: convBias[i]..<(convBias[i] + c.cout)), taps: c.taps, cin: c.cin, cout: c.cout)
        }
        let e = EncoderGeometry.embeddingSize
        func dense(_ k: Int, _ b: Int, _ outs: Int) -> DenseLayer {
            DenseLayer(kernel: TensorView(p, range: k..<(k + e * outs)), bias: TensorView(p, range: b..<(b + outs)), inputs: e, outputs: outs)
        }
        let tasks = heads.map { o in
            TaskHead(
                dense1: dense(o.dense1Kernel, o.dense1Bias, e), dense2: dense(o.dense2Kernel, o.dense2Bias, e),
                output: dense(o.outputKernel, o.outputBias, 1))
        }
        return SSLNetwork(encoder: Encoder(weights: EncoderWeights(convs: convs), algorithms: algorithms), tasks: tasks)
    }

    /// A flat buffer as named tensors (TF names with `/`), for files and tests.
    public func named(_ p: [Float]) -> [String: [Float]] {
        precondition(p.count == count)
        var out: [String: [Float]] = [:]
        for t in tensors { out[t.name] = Array(p[t.range]) }
        return out
    }

    /// Named tensors as a flat buffer; a tensor that is missing is zero (e.g. Adam's
    /// moments before the first step). Nil if a tensor has the wrong size.
    public func flat(_ named: [String: [Float]]) -> [Float]? {
        var p = [Float](repeating: 0, count: count)
        for t in tensors {
            guard let v = named[t.name] else { continue }
            guard v.count == t.count else { return nil }
            p.replaceSubrange(t.range, with: v)
        }
        return p
    }
}
