import CKernels
import Dispatch
import Foundation
import Model

/// The pre-training objective of the paper, with its gradients:
/// total = Σ_i c_i · mean_n CE(y[n, i], logit_i[n]) + λ · Σ_kernels ‖W‖² / 2,
/// every head i scoring every window n (sigmoid cross-entropy), dropout off.
public struct PretrainLoss: Sendable {
    /// Loss weights of task_0 … task_6 (the paper's).
    public var coefficients: [Float] = [0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195]
    /// L2 on every kernel (conv and dense), as Σ w²/2.
    public var l2: Float = 1e-4
    /// Dropout rate between the heads' dense layers (0 = off, as for gradient checks).
    public var dropout: Float = 0
    /// Seed of the dropout masks; each window's masks derive from (seed, window index),
    /// so results do not depend on the thread count.
    public var dropoutSeed: UInt64 = 0
    /// Compute gradients (false: loss and logits only, for validation).
    public var wantGradients = true

    public init() {}

    public struct Result: Sendable {
        public var total: Double
        public var perTask: [Double]
        public var weightedData: Double
        public var l2Term: Double
        /// d total / d every parameter, in `ParameterLayout.ssl`.
        public var gradient: [Float]
        /// The same by TF variable name (`conv_layer_1/kernel` …), for files and tests.
        public var gradients: [String: [Float]] { ParameterLayout.ssl.named(gradient) }
        /// (n × 7) logits, for accuracy and F1 on held-out windows.
        public var logits: [Float] = []
    }

    static let lengths = EncoderGeometry.lengths

    /// Loss and gradients for `n` windows (n × 2560) with their one-hot task labels (n × 7).
    /// Windows are spread over `threads` threads, each accumulating its own gradients.
    /// - Complexity: about 3 × 0.337 G multiply-adds per window (forward + two backward GEMMs).
    /// `fast`: the kernels prepared for these weights (pass one to reuse it across calls
    /// with unchanged weights, e.g. validation in chunks); made here if nil.
    public func evaluate(_ net: SSLNetwork, windows: [Float], labels: [Float], threads: Int = 1, fast: FastPaths? = nil) -> Result {
        precondition(net.tasks.count == EncoderGeometry.versions, "the pre-training network needs its seven heads")
        let n = windows.count / EncoderGeometry.windowLength
        precondition(labels.count == n * EncoderGeometry.versions)
        let layout = ParameterLayout.ssl
        let scale = coefficients.map { $0 / Float(n) }
        let workers = max(1, min(threads, n))
        let fast = fast ?? FastPaths(net)
        let (dropout, dropoutSeed, backward) = (self.dropout, self.dropoutSeed, wantGradients)
        // Each worker owns its windows' range and returns its gradient slice (a flat buffer in
        // `ParameterLayout.ssl`), its loss sums and logits; nothing mutable is shared.
        let perWorker = parallelMap(workers) { w -> (grads: [Float], losses: [Double], logits: [Float]) in
            let lo = n * w / workers, hi = n * (w + 1) / workers
            var g = [Float](repeating: 0, count: layout.count)
            var l = [Double](repeating: 0, count: EncoderGeometry.versions)
            var lg = [Float](repeating: 0, count: (hi - lo) * EncoderGeometry.versions)
            let ws = WindowState(net, fast)
            windows.withUnsafeBufferPointer { x in
                lg.withUnsafeMutableBufferPointer { out in
                    g.withUnsafeMutableBufferPointer { gp in
                        for k in lo..<hi {
                            var rng = Transformations.RNG(seed: dropoutSeed &+ UInt64(k) &* 0x2545_F491_4F6C_DD1D)
                            ws.step(
                                net, x.baseAddress! + k * EncoderGeometry.windowLength,
                                labels: Array(labels[(k * EncoderGeometry.versions)..<(k * EncoderGeometry.versions + EncoderGeometry.versions)]),
                                scale: scale, grads: gp.baseAddress!, losses: &l, dropout: dropout, rng: &rng,
                                logits: out.baseAddress! + (k - lo) * EncoderGeometry.versions, backward: backward)
                        }
                    }
                }
            }
            return (g, l, lg)
        }
        let losses = perWorker.map(\.losses)
        let allLogits = perWorker.flatMap(\.logits)
        // The workers' gradient slices, summed after the parallel loop (in worker order).
        var grads = perWorker[0].grads
        for p in perWorker.dropFirst() { for q in 0..<layout.count { grads[q] += p.grads[q] } }
        var perTask = [Double](repeating: 0, count: EncoderGeometry.versions)
        for l in losses { for i in 0..<EncoderGeometry.versions { perTask[i] += l[i] / Double(n) } }
        let weighted = zip(perTask, coefficients).reduce(0.0) { $0 + $1.0 * Double($1.1) }
        // L2 on kernels.
        var sumSq = 0.0
        for (t, w) in zip(layout.tensors, layout.views(net)) where t.name.hasSuffix("/kernel") {
            for i in 0..<t.count { sumSq += Double(w[i]) * Double(w[i]) }
            for i in 0..<t.count { grads[t.offset + i] += l2 * w[i] }
        }
        let l2Term = Double(l2) * sumSq / 2
        return Result(total: weighted + l2Term, perTask: perTask, weightedData: weighted, l2Term: l2Term, gradient: grads, logits: allLogits)
    }

    /// The fast kernels for one set of weights: the engine's forward (tiled DFT where the
    /// kernels are long) and, for the input gradients, tiled-DFT plans of the flipped kernels.
    public final class FastPaths: Sendable {
        let encoder: Encoder
        /// flipped[i]: conv i's input-gradient as a convolution of the padded output gradient.
        let flipped: [TiledDFTConv?]

        public init(_ net: SSLNetwork) {
            // The network's own engine when it already runs the default algorithms (its
            // tiled-DFT plans are built once per step, by `ParameterLayout.network`).
            encoder = net.encoder.algorithms == Encoder.defaultAlgorithms ? net.encoder : Encoder(weights: net.encoder.weights)
            flipped = net.encoder.weights.convs.enumerated().map { i, c in
                guard i > 0, case let .tiledDFT(m) = Encoder.defaultAlgorithms[i] else { return nil }
                return TiledDFTConv(c.flipped(), length: PretrainLoss.lengths[i], tile: m)
            }
        }
    }

    /// Per-thread activations of one window (in the engine's workspace) and the scratch
    /// for its backward pass.
    final class WindowState {
        let ws: EncoderWorkspace
        let fast: FastPaths
        /// Where each gradient goes in the flat buffer (read once per worker, not per window).
        let layout = ParameterLayout.ssl
        var xp: [UnsafeMutablePointer<Float>] = []  // padded conv inputs
        var y: [UnsafeMutablePointer<Float>] = []  // conv outputs after leaky ReLU
        let dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>
        let dyp: UnsafeMutablePointer<Float>, dypCount: Int
        let tmp: UnsafeMutablePointer<Float>, fx: UnsafeMutablePointer<Float>, fy: UnsafeMutablePointer<Float>
        let scratch = TrainScratch()
        var embedding = [Float](repeating: 0, count: EncoderGeometry.embeddingSize)

        init(_ net: SSLNetwork, _ fast: FastPaths) {
            self.fast = fast
            ws = fast.encoder.makeWorkspace()
            let convs = net.encoder.weights.convs
            xp = ws.inputs
            for i in 0..<6 {
                switch i {
                case 1: y.append(ws.c2)
                case 3: y.append(ws.c4)
                case 5: y.append(ws.c6)
                default: y.append(ws.inputs[i + 1] + convs[i + 1].padLeft * convs[i + 1].cin)
                }
            }
            dA = .allocate(capacity: EncoderGeometry.windowLength * EncoderGeometry.embeddingSize);
            dB = .allocate(capacity: EncoderGeometry.windowLength * EncoderGeometry.embeddingSize)
            var rows = 0, sc = (1, 1, 1)
            for (i, p) in fast.flipped.enumerated() {
                guard let p else { continue }
                rows = max(rows, (convs[i].padLeft + p.inputRows + convs[i].taps) * convs[i].cout)
                sc = (max(sc.0, p.scratch.tmp), max(sc.1, p.scratch.x), max(sc.2, p.scratch.y))
            }
            dypCount = max(rows, 1)
            dyp = .allocate(capacity: dypCount)
            tmp = .allocate(capacity: sc.0); fx = .allocate(capacity: sc.1); fy = .allocate(capacity: sc.2)
        }

        deinit {
            dA.deallocate(); dB.deallocate(); dyp.deallocate(); tmp.deallocate(); fx.deallocate(); fy.deallocate()
        }

        func forward(_ x: UnsafePointer<Float>) {
            embedding.withUnsafeMutableBufferPointer { e in fast.encoder.forward(x, e.baseAddress!, ws, split: 1) }
        }

        /// d(input of conv i) from d(pre-activation output): the tiled DFT of the padded
        /// gradient with the flipped kernel, or the direct GEMM.
        func inputGradient(_ i: Int, dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, layer c: ConvLayer, length t: Int) -> Bool {
            guard let p = fast.flipped[i] else { return false }
            let co = c.cout
            let rows = c.padLeft + p.inputRows
            dyp.initialize(repeating: 0, count: (rows + c.taps) * co)
            (dyp + (c.taps - 1) * co).update(from: dy, count: t * co)
            p.run(xp: dyp + c.padLeft * co, out: dx, ldo: c.cin, tmp: tmp, x: fx, y: fy, split: 1, act: 0)
            return true
        }

        /// Forward, loss terms and gradients of one window, accumulated into `grads`.
        func step(
            _ net: SSLNetwork, _ x: UnsafePointer<Float>, labels: [Float], scale: [Float],
            grads: UnsafeMutablePointer<Float>, losses: inout [Double], dropout: Float, rng: inout Transformations.RNG,
            logits: UnsafeMutablePointer<Float>, backward: Bool
        ) {
            forward(x)
            var dEmb = [Float](repeating: 0, count: EncoderGeometry.embeddingSize)
            var z1 = [Float](repeating: 0, count: EncoderGeometry.embeddingSize), z2 = z1, d1 = z1, d2 = z1
            var m1 = [Float](repeating: 1, count: EncoderGeometry.embeddingSize), m2 = m1
            let keep = 1 - dropout
            for (h, head) in net.tasks.enumerated() {
                // forward: z = leaky(dense(·)) then inverted dropout (masks m1, m2)
                if dropout > 0 {
                    for i in 0..<EncoderGeometry.embeddingSize { m1[i] = Float.random(in: 0..<1, using: &rng) < keep ? 1 / keep : 0 }
                    for i in 0..<EncoderGeometry.embeddingSize { m2[i] = Float.random(in: 0..<1, using: &rng) < keep ? 1 / keep : 0 }
                }
                for o in 0..<EncoderGeometry.embeddingSize {
                    var s = head.dense1.bias[o]
                    for i in 0..<EncoderGeometry.embeddingSize { s += embedding[i] * head.dense1.kernel[i * EncoderGeometry.embeddingSize + o] }
                    z1[o] = (s > 0 ? s : 0.2 * s) * m1[o]
                }
                for o in 0..<EncoderGeometry.embeddingSize {
                    var s = head.dense2.bias[o]
                    for i in 0..<EncoderGeometry.embeddingSize { s += z1[i] * head.dense2.kernel[i * EncoderGeometry.embeddingSize + o] }
                    z2[o] = (s > 0 ? s : 0.2 * s) * m2[o]
                }
                var logit = head.output.bias[0]
                for i in 0..<EncoderGeometry.embeddingSize { logit += z2[i] * head.output.kernel[i] }
                logits[h] = logit
                let yv = labels[h]
                losses[h] += Double(max(logit, 0) - logit * yv) + log1p(exp(-Double(abs(logit))))
                if !backward { continue }
                let dl = scale[h] * (1 / (1 + exp(-logit)) - yv)
                // backward (z1, z2 are after dropout; a dropped unit has mask 0 and gradient 0)
                let o = layout.heads[h], g = grads
                g[o.outputBias] += dl
                let g3 = g + o.outputKernel
                for i in 0..<EncoderGeometry.embeddingSize { g3[i] += z2[i] * dl }
                for i in 0..<EncoderGeometry.embeddingSize { d2[i] = head.output.kernel[i] * dl * m2[i] * (z2[i] > 0 ? 1 : 0.2) }
                d2.withUnsafeBufferPointer { dy in
                    z1.withUnsafeBufferPointer { xv in
                        d1.withUnsafeMutableBufferPointer { dx in
                            Backward.dense(
                                dW: g + o.dense2Kernel, db: g + o.dense2Bias, dx: dx.baseAddress!, dy: dy.baseAddress!, x: xv.baseAddress!, layer: head.dense2)
                        }
                    }
                }
                for i in 0..<EncoderGeometry.embeddingSize { d1[i] *= m1[i] * (z1[i] > 0 ? 1 : 0.2) }
                var dE = [Float](repeating: 0, count: EncoderGeometry.embeddingSize)
                d1.withUnsafeBufferPointer { dy in
                    embedding.withUnsafeBufferPointer { xv in
                        dE.withUnsafeMutableBufferPointer { dx in
                            Backward.dense(
                                dW: g + o.dense1Kernel, db: g + o.dense1Bias, dx: dx.baseAddress!, dy: dy.baseAddress!, x: xv.baseAddress!, layer: head.dense1)
                        }
                    }
                }
                for i in 0..<EncoderGeometry.embeddingSize { dEmb[i] += dE[i] }
            }
            if !backward { return }
            // Encoder backward: global max → conv6 → conv5 → pool → conv4 → conv3 → pool → conv2 → conv1.
            let convs = net.encoder.weights.convs
            var cur = dA, other = dB
            dEmb.withUnsafeBufferPointer {
                Backward.globalMax(dx: cur, dy: $0.baseAddress!, x: y[5], length: EncoderGeometry.lengths[5], channels: EncoderGeometry.embeddingSize)
            }
            for i in stride(from: 5, through: 0, by: -1) {
                let c = convs[i], t = PretrainLoss.lengths[i]
                // cur: d(output of conv i after leaky) → d(pre-activation), in place.
                Backward.leakyReLU(dx: cur, dy: cur, y: y[i], count: t * c.cout)
                let fastDx = i > 0 && inputGradient(i, dx: other, dy: cur, layer: c, length: t)
                Backward.conv(
                    dW: grads + layout.convKernel[i], db: grads + layout.convBias[i], dx: i > 0 && !fastDx ? other : nil, dy: cur, xp: xp[i], layer: c,
                    layerID: i, length: t, scratch: scratch)
                if i == 0 { break }
                swap(&cur, &other)  // cur: d(input of conv i) = d(output of conv i-1 or of a pool)
                if EncoderGeometry.pooledAfter.contains(i - 1) {
                    // The input of conv i is the max pool of conv i-1's output.
                    Backward.maxPool8s2(dx: other, dy: cur, x: y[i - 1], length: PretrainLoss.lengths[i - 1], channels: convs[i - 1].cout)
                    swap(&cur, &other)
                }
            }
        }
    }
}
