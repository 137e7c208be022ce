import Foundation
import Testing
import NPY
import TestSupport
@testable import Model
@testable import Training

/// The Pretrainer as a library (no CLI): one step of `run` is the plain composition of its
/// parts — initialisation, the seeded batch of 7 versions, the loss and its gradient, one
/// Adam update of the flat buffer — to the bit.
@Suite struct PretrainerStep {
    @Test("one Pretrainer step equals glorotInit → transformations → PretrainLoss.evaluate → Adam.apply, bit for bit")
    func oneStep() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretrainer-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try TrainingNeverLosesWork.dataset(dir + "/data.npz")
        var c = Pretrainer.Config(data: dir + "/data.npz", out: dir + "/run")
        c.epochs = 1; c.batch = 6; c.maxWindows = 6; c.valFraction = 0; c.threads = 2; c.quiet = true; c.seed = 7
        #expect(try Pretrainer(c).run() == .finished)
        let trained = try WeightsDirectory.loadNetwork(dir + "/run/models/epoch_1")

        // The reference: the same step written out by hand.
        let ds = try Dataset.read(path: dir + "/data.npz")
        let net = try Pretrainer.glorotInit(seed: c.seed)
        var order = Array(0..<6)
        var shuffle = Transformations.RNG(seed: c.seed &+ 1 &* 1_000_003)
        order.shuffle(using: &shuffle)
        var rng = Transformations.RNG(seed: c.seed &+ 1 &* 1_000_003 &+ 1 &* 0x9E37_79B9)
        var loss = PretrainLoss()
        loss.coefficients = c.coefficients; loss.l2 = c.l2; loss.dropout = c.dropout; loss.dropoutSeed = rng.next()
        var x: [Float] = [], y: [Float] = []
        let n = EncoderGeometry.windowLength
        for i in order {
            for task in 0..<7 {
                x += Transformations.apply(task, ds.windows[(i * n)..<((i + 1) * n)], rng: &rng, c.transformations)
                y += (0..<7).map { $0 == task ? 1 : 0 }
            }
        }
        let r = loss.evaluate(net, windows: x, labels: y, threads: c.threads)
        var params = ParameterLayout.ssl.flatten(net)
        var adam = Adam(learningRate: c.learningRate)
        adam.apply(&params, r.gradient, lr: c.learningRate)
        let got = ParameterLayout.ssl.flatten(trained)
        let differing = zip(got, params).filter { $0 != $1 }.count
        #expect(
            got.count == params.count && differing == 0, "the Pretrainer's step differs from the hand-written one in \(differing) of \(params.count) parameters"
        )
        // And the step moved the weights (the comparison is not of two initialisations).
        let moved = zip(ParameterLayout.ssl.flatten(net), params).filter { $0 != $1 }.count
        #expect(moved > params.count / 2, "only \(moved) parameters moved")
    }
}

/// The network's tensors are views into the one parameter buffer (llm.c's
/// `malloc_and_point_parameters`): building it and flattening it copy nothing, and a step
/// (evaluate on the views, then Adam) updates the buffer in place.
@Suite struct OneParameterBuffer {
    /// Which storage an array uses, as an integer: read inside the closure, never turned back
    /// into a pointer, and compared only between arrays alive at the same time (two live
    /// buffers cannot share an address).
    func address(_ a: [Float]) -> Int { a.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress) } }

    @Test("ParameterLayout.network points every tensor into the buffer; Adam then updates it in place")
    func views() throws {
        let layout = ParameterLayout.ssl
        var params = layout.flatten(try Pretrainer.glorotInit(seed: 3))
        let base = address(params)
        do {
            let net = layout.network(params, algorithms: Encoder.defaultAlgorithms)
            for (t, v) in zip(layout.tensors, layout.views(net)) {
                #expect(v.offset == t.offset && v.count == t.count && address(v.storage) == base, "\(t.name) is not a view of the buffer")
                #expect(Array(v) == Array(params[t.range]), "\(t.name)")
            }
            #expect(layout.flatten(net) == params)
            // A network of separately loaded tensors is copied into a new buffer, values equal.
            var arrays = net.encoder.weights.tensors
            for (i, h) in net.tasks.enumerated() { arrays.merge(h.tensors(index: i)) { a, _ in a } }
            let loaded = try SSLNetwork(tensors: TensorSet(arrays))
            let copied = layout.flatten(loaded)
            #expect(address(copied) != base && copied == params)
        }
        // One step as the Pretrainer takes it: the loss reads a network of views, which is
        // set to nil before Adam writes.
        let n = EncoderGeometry.windowLength
        var g = SeededRandom(#function)
        let x = (0..<(2 * n)).map { _ in Float.random(in: -1...1, using: &g) }
        var y = [Float](repeating: 0, count: 2 * 7)
        y[0] = 1; y[7 + 3] = 1
        var net: SSLNetwork! = layout.network(params, algorithms: Encoder.defaultAlgorithms)
        let r = PretrainLoss().evaluate(net, windows: x, labels: y, threads: 2)
        let first = params[0]
        var adam = Adam()
        net = nil
        adam.apply(&params, r.gradient)
        #expect(address(params) == base, "Adam copied the buffer: a view outlived the step")
        #expect(params[0] != first, "the step did not move the first kernel weight")
    }
}
