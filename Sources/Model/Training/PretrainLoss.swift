import CKernels
import Dispatch
import Foundation

/// The pre-training objective of the paper, with its gradients:
/// total = Σ_i c_i · mean_n CE(y[n, i], logit_i[n]) + λ · Σ_kernels ‖W‖² / 2,
/// every head i scoring every window n (sigmoid cross-entropy), dropout off.
public struct PretrainLoss: Sendable {
    /// Loss weights of task_0 … task_6 (the paper's).
    public var coefficients: [Float] = [0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195]
    /// L2 on every kernel (conv and dense), as Σ w²/2.
    public var l2: Float = 1e-4

    public init() {}

    public struct Result: Sendable {
        public var total: Double
        public var perTask: [Double]
        public var weightedData: Double
        public var l2Term: Double
        /// d total / d every tensor, by TF variable name (`conv_layer_1/kernel` …).
        public var gradients: [String: [Float]]
    }

    static let lengths = [2560, 2560, 1277, 1277, 635, 635]

    /// Loss and gradients for `n` windows (n × 2560) with their one-hot task labels (n × 7).
    /// Windows are spread over `threads` threads, each accumulating its own gradients.
    /// - Complexity: about 3 × 0.337 G multiply-adds per window (forward + two backward GEMMs).
    public func evaluate(_ net: SSLNetwork, windows: [Float], labels: [Float], threads: Int = 1) -> Result {
        precondition(net.tasks.count == 7, "the pre-training network needs its seven heads")
        let n = windows.count / 2560
        precondition(labels.count == n * 7)
        let names = WeightsDirectory.networkTensorNames
        let shapes = WeightsDirectory.tensors(ofShapesOnly: net)
        let workers = max(1, min(threads, n))
        let partial = (0..<workers).map { _ in GradBuffers(shapes) }
        var losses = [[Double]](repeating: [Double](repeating: 0, count: 7), count: workers)
        nonisolated(unsafe) var lossesRef = losses
        let budget = CoreBudget.shared.acquire(upTo: workers)
        defer { CoreBudget.shared.release(budget) }
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let g = partial[w]
            var l = [Double](repeating: 0, count: 7)
            let ws = WindowState(net)
            for k in (n * w / workers)..<(n * (w + 1) / workers) {
                windows.withUnsafeBufferPointer { x in
                    ws.step(net, x.baseAddress! + k * 2560, labels: Array(labels[(k * 7)..<(k * 7 + 7)]),
                            scale: coefficients.map { $0 / Float(n) }, grads: g, losses: &l)
                }
            }
            lossesRef[w] = l
        }
        losses = lossesRef
        let total = partial[0]
        for p in partial.dropFirst() { for k in names { let d = total[k], v = p[k]; for q in 0..<shapes[k]! { d[q] += v[q] } } }
        var grads = total.arrays()
        var perTask = [Double](repeating: 0, count: 7)
        for l in losses { for i in 0..<7 { perTask[i] += l[i] / Double(n) } }
        let weighted = zip(perTask, coefficients).reduce(0.0) { $0 + $1.0 * Double($1.1) }
        // L2 on kernels.
        var sumSq = 0.0
        let tensors = WeightsDirectory.tensors(of: net)
        for name in names where name.hasSuffix("/kernel") {
            let w = tensors[name.replacingOccurrences(of: "/", with: ".")]!.floats()
            for v in w { sumSq += Double(v) * Double(v) }
            grads[name]!.withUnsafeMutableBufferPointer { g in for q in 0..<w.count { g[q] += l2 * w[q] } }
        }
        let l2Term = Double(l2) * sumSq / 2
        return Result(total: weighted + l2Term, perTask: perTask, weightedData: weighted, l2Term: l2Term, gradients: grads)
    }


    /// Per-thread activations of one window and the scratch for its backward pass.
    final class WindowState {
        var xp: [UnsafeMutablePointer<Float>] = []   // padded conv inputs
        var y: [UnsafeMutablePointer<Float>] = []    // conv outputs after leaky ReLU (2, 4, 6 own buffers; 1, 3, 5 alias xp[i+1])
        var rows: [Int] = []
        let dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>
        let scratch = TrainScratch()
        var embedding = [Float](repeating: 0, count: 128)

        init(_ net: SSLNetwork) {
            for (i, c) in net.encoder.weights.convs.enumerated() {
                let r = PretrainLoss.lengths[i] + c.taps - 1
                let p = UnsafeMutablePointer<Float>.allocate(capacity: r * c.cin)
                p.initialize(repeating: 0, count: r * c.cin)
                xp.append(p); rows.append(r)
            }
            for (i, c) in net.encoder.weights.convs.enumerated() {
                if i % 2 == 1 {
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: PretrainLoss.lengths[i] * c.cout)
                    y.append(p)
                } else {
                    let next = net.encoder.weights.convs[i + 1]
                    y.append(xp[i + 1] + next.padLeft * next.cin)
                }
            }
            dA = .allocate(capacity: 2560 * 128); dB = .allocate(capacity: 2560 * 128)
        }

        deinit {
            for p in xp { p.deallocate() }
            for i in [1, 3, 5] { y[i].deallocate() }
            dA.deallocate(); dB.deallocate()
        }

        func forward(_ net: SSLNetwork, _ x: UnsafePointer<Float>) {
            let convs = net.encoder.weights.convs
            (xp[0] + convs[0].padLeft).update(from: x, count: 2560)
            for i in 0..<6 {
                let c = convs[i], t = PretrainLoss.lengths[i]
                c.kernel.withUnsafeBufferPointer { k in c.bias.withUnsafeBufferPointer { b in
                    ck_gemm_bias_act(Int32(t), Int32(c.cout), Int32(c.taps * c.cin), xp[i], Int32(c.cin), k.baseAddress, b.baseAddress,
                                     y[i], Int32(c.cout), 1)
                } }
                if i == 1 || i == 3 {
                    let nx = convs[i + 1]
                    ck_maxpool8s2(Int32(t), Int32(c.cout), y[i], xp[i + 1] + nx.padLeft * nx.cin, Int32(nx.cin))
                }
            }
            embedding.withUnsafeMutableBufferPointer { ck_global_max(635, 128, y[5], $0.baseAddress) }
        }

        /// Forward, loss terms and gradients of one window, accumulated into `grads`.
        func step(_ net: SSLNetwork, _ x: UnsafePointer<Float>, labels: [Float], scale: [Float],
                  grads: GradBuffers, losses: inout [Double]) {
            forward(net, x)
            var dEmb = [Float](repeating: 0, count: 128)
            var z1 = [Float](repeating: 0, count: 128), z2 = z1, d1 = z1, d2 = z1
            for (h, head) in net.tasks.enumerated() {
                // forward
                for o in 0..<128 {
                    var s = head.dense1.bias[o]
                    for i in 0..<128 { s += embedding[i] * head.dense1.kernel[i * 128 + o] }
                    z1[o] = s > 0 ? s : 0.2 * s
                }
                for o in 0..<128 {
                    var s = head.dense2.bias[o]
                    for i in 0..<128 { s += z1[i] * head.dense2.kernel[i * 128 + o] }
                    z2[o] = s > 0 ? s : 0.2 * s
                }
                var logit = head.output.bias[0]
                for i in 0..<128 { logit += z2[i] * head.output.kernel[i] }
                let yv = labels[h]
                losses[h] += Double(max(logit, 0) - logit * yv) + log1p(exp(-Double(abs(logit))))
                var dl = scale[h] * (1 / (1 + exp(-logit)) - yv)
                // backward
                let n1 = "task_\(h)_dense_1", n2 = "task_\(h)_dense_2", n3 = "task_\(h)"
                grads[n3 + "/bias"][0] += dl
                let g3 = grads[n3 + "/kernel"]
                for i in 0..<128 { g3[i] += z2[i] * dl }
                for i in 0..<128 { d2[i] = head.output.kernel[i] * dl * (z2[i] > 0 ? 1 : 0.2) }
                d2.withUnsafeBufferPointer { dy in z1.withUnsafeBufferPointer { xv in d1.withUnsafeMutableBufferPointer { dx in
                    Backward.dense(dW: grads[n2 + "/kernel"], db: grads[n2 + "/bias"], dx: dx.baseAddress!, dy: dy.baseAddress!, x: xv.baseAddress!, layer: head.dense2)
                } } }
                for i in 0..<128 { d1[i] *= z1[i] > 0 ? 1 : 0.2 }
                var dE = [Float](repeating: 0, count: 128)
                d1.withUnsafeBufferPointer { dy in embedding.withUnsafeBufferPointer { xv in dE.withUnsafeMutableBufferPointer { dx in
                    Backward.dense(dW: grads[n1 + "/kernel"], db: grads[n1 + "/bias"], dx: dx.baseAddress!, dy: dy.baseAddress!, x: xv.baseAddress!, layer: head.dense1)
                } } }
                for i in 0..<128 { dEmb[i] += dE[i] }
                dl = 0
            }
            // Encoder backward: global max → conv6 → conv5 → pool → conv4 → conv3 → pool → conv2 → conv1.
            let convs = net.encoder.weights.convs
            var cur = dA, other = dB
            dEmb.withUnsafeBufferPointer { Backward.globalMax(dx: cur, dy: $0.baseAddress!, x: y[5], length: 635, channels: 128) }
            for i in stride(from: 5, through: 0, by: -1) {
                let c = convs[i], t = PretrainLoss.lengths[i]
                // cur: d(output of conv i after leaky) → d(pre-activation), in place.
                Backward.leakyReLU(dx: cur, dy: cur, y: y[i], count: t * c.cout)
                let name = EncoderWeights.architecture[i].name
                Backward.conv(dW: grads[name + "/kernel"], db: grads[name + "/bias"], dx: i > 0 ? other : nil, dy: cur, xp: xp[i], layer: c,
                              layerID: i, length: t, scratch: scratch)
                if i == 0 { break }
                swap(&cur, &other)  // cur: d(input of conv i) = d(output of conv i-1 or of a pool)
                if i == 2 || i == 4 {
                    // The input of conv i is the max pool of conv i-1's output.
                    Backward.maxPool8s2(dx: other, dy: cur, x: y[i - 1], length: PretrainLoss.lengths[i - 1], channels: convs[i - 1].cout)
                    swap(&cur, &other)
                }
            }
        }
    }
}

/// Gradient accumulators with stable addresses, one set per thread.
final class GradBuffers: @unchecked Sendable {
    private var ptrs: [String: UnsafeMutablePointer<Float>] = [:]
    private let counts: [String: Int]
    init(_ counts: [String: Int]) {
        self.counts = counts
        for (k, n) in counts { let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); ptrs[k] = p }
    }
    subscript(_ name: String) -> UnsafeMutablePointer<Float> { ptrs[name]! }
    func arrays() -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for (k, p) in ptrs { out[k] = Array(UnsafeBufferPointer(start: p, count: counts[k]!)) }
        return out
    }
    deinit { for (_, p) in ptrs { p.deallocate() } }
}

extension WeightsDirectory {
    /// Element counts of every network tensor, by TF name with `/`.
    public static func tensors(ofShapesOnly net: SSLNetwork) -> [String: Int] {
        var out: [String: Int] = [:]
        for (k, v) in tensors(of: net) { out[k.replacingOccurrences(of: ".", with: "/")] = v.count }
        return out
    }
}
