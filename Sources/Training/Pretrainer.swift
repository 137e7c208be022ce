import Foundation
import Model
import NPY

/// Self-supervised pre-training as a value the CLI only configures (`ecg-train pretrain`
/// parses options into a `Pretrainer.Config` and calls `run`): the held-out split, the
/// initialisation, the training loop over one flat parameter buffer with one `Adam`,
/// validation, the run's CSV and TensorBoard files, and atomic checkpoints with exact resume.
public struct Pretrainer {
    public struct Config: Sendable {
        /// Dataset .npz made by `ecg-train prepare` (also named in each checkpoint's provenance).
        public var data: String
        /// Run folder.
        public var out: String
        public var epochs = 10
        public var batch = 128
        public var seed: UInt64 = 20201
        public var threads = 1
        public var learningRate: Float = 1e-3
        public var maxWindows: Int?
        /// Start from these weights instead of a random initialisation.
        public var initWeights: String?
        public var valFraction = 0.1
        public var dropout: Float = 0.6
        public var coefficients: [Float] = [0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195]
        public var l2: Float = 1e-4
        public var decayRate: Float = 0.9
        public var decaySteps = 10_000
        public var transformations = Transformations.Parameters()
        public var saveEvery = 50
        public var resume = false
        public var quiet = false
        /// The command line, written into each checkpoint's provenance.
        public var command = ""
        public init(data: String, out: String) { self.data = data; self.out = out }
    }

    /// Where a run stands; `state.json` of each checkpoint.
    public struct State: Codable, Sendable {
        public var epoch: Int
        public var step: Int
        public var batchInEpoch: Int
        public var seed: UInt64
        public var lossLast: Double
    }

    public enum Outcome: Equatable, Sendable {
        case finished
        /// Stopped by `shouldStop`; a checkpoint was saved in `directory`.
        case interrupted(directory: String, epoch: Int, step: Int)
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ message: String) { description = message }
    }

    public let config: Config
    public init(_ config: Config) { self.config = config }

    private var out: String { config.out }
    private let layout = ParameterLayout.ssl

    private func say(_ s: String) { if !config.quiet { FileHandle.standardError.write(Data((s + "\n").utf8)) } }

    /// Trains until `config.epochs` or until `shouldStop()` (checked after every step) says so.
    public func run(shouldStop: () -> Bool = { false }) throws -> Outcome {
        let c = config
        var ds: Dataset
        do { ds = try Dataset.read(path: c.data) } catch { throw Failure("\(error)") }
        if let m = c.maxWindows, m < ds.count { ds.windows = Array(ds.windows[0..<(m * EncoderGeometry.windowLength)]); ds.subject = Array(ds.subject[0..<m]) }
        guard ds.subject.count > 0 else { throw Failure("\(c.data) has no windows") }
        // Held-out subjects for validation (seeded).
        var splitRng = Transformations.RNG(seed: c.seed ^ 0x5EED)
        let subjects = Array(Set(ds.subject)).sorted().shuffled(using: &splitRng)
        let nVal = c.valFraction > 0 ? min(subjects.count - 1, max(1, Int((Double(subjects.count) * c.valFraction).rounded()))) : 0
        let valSubjects = Set(subjects.prefix(nVal))
        let trainIdx = ds.subject.indices.filter { !valSubjects.contains(ds.subject[$0]) }
        let valIdx = ds.subject.indices.filter { valSubjects.contains(ds.subject[$0]) }
        let n = trainIdx.count
        guard n > 0 else { throw Failure("no training windows left after holding out \(nVal) subjects") }
        let fm = FileManager.default
        for d in ["output", "models", "summaries"] { try fm.createDirectory(atPath: out + "/" + d, withIntermediateDirectories: true) }

        var adam = Adam(learningRate: c.learningRate)
        var state = State(epoch: 0, step: 0, batchInEpoch: 0, seed: c.seed, lossLast: .nan)
        // The one parameter buffer; the gradient and Adam's moments share its layout. `net`
        // points into it (`layout.network`: views, no copy), is built once per update (its
        // engine plans the tiled-DFT layers) and serves the next step, checkpoints and
        // validation. It is set to nil before Adam writes: no view may hold the buffer then,
        // or the copy-on-write array would be copied instead of updated in place.
        var params: [Float]
        let algorithms: [ConvAlgorithm]
        do {
            let start: SSLNetwork
            if c.resume, let (dir, st) = newestCheckpoint() {
                start = try WeightsDirectory.loadNetwork(dir)
                adam = try loadOptimizer(dir + "/optimizer.npz", step: st.step)
                state = st
                try truncateCSV(out + "/output/steps.csv") { Int($0.first ?? "") ?? 0 <= st.step }
                try truncateCSV(out + "/output/epochs.csv") { (Int($0.first ?? "") ?? 0) <= st.epoch - (st.batchInEpoch > 0 ? 1 : 0) }
                FileHandle.standardError.write(Data("resuming from \(dir) (epoch \(st.epoch), step \(st.step))\n".utf8))
            } else if let w = c.initWeights {
                start = try WeightsDirectory.loadNetwork(w)
                guard start.tasks.count == EncoderGeometry.versions else { throw Failure("\(w) has no pre-training heads") }
            } else {
                start = try Self.glorotInit(seed: c.seed)
            }
            params = layout.flatten(start)
            algorithms = start.encoder.algorithms
        }
        var net: SSLNetwork! = layout.network(params, algorithms: algorithms)
        let tb = try TensorBoardWriter(directory: out + "/summaries")
        let stepsCSV = out + "/output/steps.csv", epochsCSV = out + "/output/epochs.csv"
        if !fm.fileExists(atPath: stepsCSV) {
            try writeFileAtomically(
                Array(("step,epoch,lr,total," + (0..<EncoderGeometry.versions).map { "task_\($0)" }.joined(separator: ",") + "\n").utf8), path: stepsCSV)
        }
        if !fm.fileExists(atPath: epochsCSV) {
            try writeFileAtomically(
                Array(
                    ("epoch,steps,mean_total," + (0..<EncoderGeometry.versions).map { "task_\($0)" }.joined(separator: ",") + ",windows_per_s,val_total,"
                        + (0..<EncoderGeometry.versions).map { "val_acc_\($0),val_f1_\($0)" }.joined(separator: ",") + "\n").utf8), path: epochsCSV)
        }

        var loss = PretrainLoss()
        loss.coefficients = c.coefficients; loss.l2 = c.l2; loss.dropout = c.dropout
        let tp = c.transformations
        say("training on \(n) windows (\(subjects.count - nVal) subjects), validating on \(valIdx.count) windows (\(nVal) subjects)")
        // Which subjects are held out, with their window counts (the same for every epoch
        // and on resume: the split depends on the seed only).
        let heldOut = subjects.prefix(nVal).map { s in
            "\(ds.names.subjects.indices.contains(Int(s)) ? ds.names.subjects[Int(s)] : "subject \(s)")\t\(valIdx.filter { ds.subject[$0] == s }.count)"
        }
        try writeFileAtomically(Array(("subject\twindows\n" + heldOut.joined(separator: "\n") + "\n").utf8), path: out + "/output/validation_subjects.tsv")
        let batchesPerEpoch = (n + c.batch - 1) / c.batch
        let window = EncoderGeometry.windowLength
        for epoch in (state.epoch + (state.batchInEpoch > 0 ? 0 : 1))...max(c.epochs, 1) where epoch <= c.epochs {
            var shuffleRng = Transformations.RNG(seed: c.seed &+ UInt64(epoch) &* 1_000_003)
            var order = trainIdx
            order.shuffle(using: &shuffleRng)
            let progress = Progress(total: batchesPerEpoch, label: "epoch \(epoch)/\(c.epochs)", enabled: !c.quiet)
            var sums = [Double](repeating: 0, count: 8), count = 0
            let t0 = Date()
            let firstBatch = state.epoch == epoch ? state.batchInEpoch : 0
            for b in firstBatch..<batchesPerEpoch {
                let idx = order[(b * c.batch)..<min(n, (b + 1) * c.batch)]
                // Per-batch randomness derived from (seed, epoch, batch): --resume continues exactly.
                var rng = Transformations.RNG(seed: c.seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(b + 1) &* 0x9E37_79B9)
                loss.dropoutSeed = rng.next()
                var x: [Float] = [], y: [Float] = []
                x.reserveCapacity(idx.count * EncoderGeometry.versions * window)
                for i in idx {
                    let w = ds.windows[(i * window)..<((i + 1) * window)]
                    for task in 0..<EncoderGeometry.versions {
                        x.append(contentsOf: Transformations.apply(task, w, rng: &rng, tp))
                        y.append(contentsOf: (0..<EncoderGeometry.versions).map { $0 == task ? 1 : 0 })
                    }
                }
                let r = loss.evaluate(net, windows: x, labels: y, threads: c.threads)
                let rate = c.learningRate * powf(c.decayRate, Float(state.step / c.decaySteps))
                net = nil
                adam.apply(&params, r.gradient, lr: rate)
                net = layout.network(params, algorithms: algorithms)
                state.step += 1; state.epoch = epoch; state.batchInEpoch = b + 1; state.lossLast = r.total
                sums[0] += r.total; for i in 0..<EncoderGeometry.versions { sums[i + 1] += r.perTask[i] }; count += 1
                try appendLine(stepsCSV, "\(state.step),\(epoch),\(rate),\(r.total)," + r.perTask.map { "\($0)" }.joined(separator: ","))
                tb.scalars(
                    [("loss/total", r.total), ("learning_rate", Double(rate))]
                        + (0..<EncoderGeometry.versions).map { ("loss/task_\($0)_\(Transformations.names[$0])", r.perTask[$0]) }, step: state.step)
                let wps = Double(count * c.batch * EncoderGeometry.versions) / max(Date().timeIntervalSince(t0), 1e-9)
                progress.update(b + 1, extra: String(format: "loss %.4f, %.0f windows/s (×7 versions)", r.total, wps))
                if c.saveEvery > 0, state.step % c.saveEvery == 0, b + 1 < batchesPerEpoch {
                    try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: out + "/models/latest")
                    tb.flush()
                }
                if shouldStop() {
                    progress.finish()
                    let dir = out + "/models/interrupted"
                    try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: dir)
                    tb.flush()
                    return .interrupted(directory: dir, epoch: epoch, step: state.step)
                }
            }
            progress.finish()
            let secs = Date().timeIntervalSince(t0)
            let wps = Double(count * c.batch * EncoderGeometry.versions) / max(secs, 1e-9)
            var valCols = ",," + [String](repeating: ",", count: 13).joined()
            if !valIdx.isEmpty {
                let v = validate(net, ds, valIdx, loss: loss, tp)
                valCols = ",\(v.total)," + (0..<EncoderGeometry.versions).map { "\(v.acc[$0]),\(v.f1[$0])" }.joined(separator: ",")
                tb.scalars(
                    [("val/loss_total", v.total)]
                        + (0..<EncoderGeometry.versions).flatMap { [("val/accuracy_task_\($0)", v.acc[$0]), ("val/f1_task_\($0)", v.f1[$0])] },
                    step: state.step)
                let acc = v.acc.map { String(format: "%.2f", $0) }.joined(separator: " "), f1 = v.f1.map { String(format: "%.2f", $0) }.joined(separator: " ")
                say(
                    "epoch \(epoch) validation (\(valIdx.count) windows × 7): loss \(String(format: "%.4f", v.total)); accuracy per task \(acc); F1 per task \(f1)"
                )
            }
            if count > 0 {
                try appendLine(
                    epochsCSV,
                    "\(epoch),\(state.step),\(sums[0] / Double(count)),"
                        + (1...EncoderGeometry.versions).map { "\(sums[$0] / Double(count))" }.joined(separator: ",") + ",\(wps)"
                        + valCols)
                tb.scalars([("epoch/mean_total_loss", sums[0] / Double(count)), ("epoch/windows_per_s", wps)], step: state.step)
            }
            state.batchInEpoch = 0
            let dir = out + "/models/epoch_\(epoch)"
            try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: dir)
            tb.flush()
            say(String(format: "epoch %d: mean loss %.4f, %.1f windows/s (×7 versions), saved %@", epoch, count > 0 ? sums[0] / Double(count) : .nan, wps, dir))
        }
        return .finished
    }

    // MARK: validation

    /// Loss, accuracy and F1 of each head on the held-out windows (7 versions each,
    /// fixed randomness per epoch), dropout off.
    func validate(
        _ net: SSLNetwork, _ ds: Dataset, _ idx: [Int], loss: PretrainLoss, _ tp: Transformations.Parameters
    )
        -> (total: Double, acc: [Double], f1: [Double])
    {
        var l = loss
        l.dropout = 0; l.wantGradients = false
        var rng = Transformations.RNG(seed: config.seed ^ 0xA11CE)
        let fast = PretrainLoss.FastPaths(net)  // same weights for every chunk
        let window = EncoderGeometry.windowLength
        var total = 0.0, tp7 = [Double](repeating: 0, count: EncoderGeometry.versions), fp7 = tp7, fn7 = tp7, correct = tp7, count = 0.0
        for chunk in stride(from: 0, to: idx.count, by: 64) {
            var x: [Float] = [], y: [Float] = []
            for i in idx[chunk..<min(idx.count, chunk + 64)] {
                for task in 0..<EncoderGeometry.versions {
                    x.append(contentsOf: Transformations.apply(task, ds.windows[(i * window)..<((i + 1) * window)], rng: &rng, tp))
                    y.append(contentsOf: (0..<EncoderGeometry.versions).map { $0 == task ? 1 : 0 })
                }
            }
            let r = l.evaluate(net, windows: x, labels: y, threads: config.threads, fast: fast)
            let m = Double(y.count / EncoderGeometry.versions)
            total += r.weightedData * m; count += m
            for k in 0..<(y.count / EncoderGeometry.versions) {
                for h in 0..<EncoderGeometry.versions {
                    let pred = r.logits[k * EncoderGeometry.versions + h] > 0, truth = y[k * EncoderGeometry.versions + h] == 1
                    if pred == truth { correct[h] += 1 }
                    if pred && truth { tp7[h] += 1 } else if pred { fp7[h] += 1 } else if truth { fn7[h] += 1 }
                }
            }
        }
        let f1 = (0..<EncoderGeometry.versions).map { tp7[$0] == 0 ? 0 : 2 * tp7[$0] / (2 * tp7[$0] + fp7[$0] + fn7[$0]) }
        return (total / max(count, 1), correct.map { $0 / max(count, 1) }, f1)
    }

    // MARK: checkpoints

    /// Writes the checkpoint into `dir.partial-PID`, then renames it to `dir` (the old
    /// `dir`, if any, is first renamed aside and removed after): at every moment either
    /// the old or the new checkpoint is complete on disk.
    func save(_ net: SSLNetwork, _ adam: Adam, _ st: State, preprocessing: Manifest.Preprocessing, to dir: String) throws {
        let fm = FileManager.default
        let tmp = dir + ".partial-\(getpid())", old = dir + ".old-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try writeCheckpoint(net, adam, st, preprocessing: preprocessing, to: tmp)
        if fm.fileExists(atPath: dir) {
            guard rename(dir, old) == 0 else { throw Failure("cannot move \(dir) aside: \(String(cString: strerror(errno)))") }
        }
        guard rename(tmp, dir) == 0 else { throw Failure("cannot rename \(tmp) to \(dir): \(String(cString: strerror(errno)))") }
        try? fm.removeItem(atPath: old)
    }

    func writeCheckpoint(_ net: SSLNetwork, _ adam: Adam, _ st: State, preprocessing: Manifest.Preprocessing, to dir: String) throws {
        _ = try WeightsDirectory.write(
            net, to: dir, preprocessing: preprocessing,
            provenance: .init(
                description: "ecg-train pretrain, epoch \(st.epoch), step \(st.step), seed \(config.seed)",
                datasets: [config.data], licenses: ["see the corpus README"],
                command: config.command,
                created: ISO8601DateFormatter().string(from: Date())))
        var opt: [String: NPYArray] = [:]
        // Names only here, at the file: m.<tensor> and v.<tensor>, each flat.
        if adam.m.count == layout.count {
            for (k, v) in layout.named(adam.m) { opt["m." + k.replacingOccurrences(of: "/", with: ".")] = NPYArray(floats: v, shape: [v.count]) }
            for (k, v) in layout.named(adam.v) { opt["v." + k.replacingOccurrences(of: "/", with: ".")] = NPYArray(floats: v, shape: [v.count]) }
        }
        try NPZ.write(opt, path: dir + "/optimizer.npz")
        let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically([UInt8](try enc.encode(st)), path: dir + "/state.json")
    }

    func loadOptimizer(_ path: String, step: Int) throws -> Adam {
        var a = Adam(learningRate: config.learningRate)
        a.step = step
        guard FileManager.default.fileExists(atPath: path) else { return a }
        var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
        for (k, t) in try NPZ.read(path: path) {
            let name = String(k.dropFirst(2)).replacingOccurrences(of: ".", with: "/")
            if k.hasPrefix("m.") { m[name] = t.floats() } else if k.hasPrefix("v.") { v[name] = t.floats() }
        }
        guard let fm = layout.flat(m), let fv = layout.flat(v) else {
            throw Failure("\(path): a moment tensor has the wrong size for this network")
        }
        if !m.isEmpty { a.m = fm; a.v = fv }
        return a
    }

    /// The checkpoint in RUN/models with the highest step, if any.
    public func newestCheckpoint() -> (String, State)? {
        let models = out + "/models"
        guard let dirs = try? FileManager.default.contentsOfDirectory(atPath: models) else { return nil }
        var best: (String, State)?
        for d in dirs where !d.contains(".partial-") {
            guard let data = FileManager.default.contents(atPath: "\(models)/\(d)/state.json"),
                let st = try? JSONDecoder().decode(State.self, from: data)
            else { continue }
            if best == nil || st.step > best!.1.step { best = ("\(models)/\(d)", st) }
        }
        return best
    }

    /// Glorot-uniform kernels and zero biases (TF's defaults for these layers), seeded: the
    /// initial network of a run, and the random encoder `evaluate` and `embed` compare with.
    public static func glorotInit(seed: UInt64) throws -> SSLNetwork {
        var rng = Transformations.RNG(seed: seed)
        var arrays: [String: NPYArray] = [:]
        func glorot(_ shape: [Int], fanIn: Int, fanOut: Int) -> NPYArray {
            let lim = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            return NPYArray(floats: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -lim...lim, using: &rng) }, shape: shape)
        }
        for a in EncoderWeights.architecture {
            arrays[a.name + "/kernel"] = glorot([a.taps, a.cin, a.cout], fanIn: a.taps * a.cin, fanOut: a.taps * a.cout)
            arrays[a.name + "/bias"] = NPYArray(floats: [Float](repeating: 0, count: a.cout), shape: [a.cout])
        }
        let e = EncoderGeometry.embeddingSize
        for i in EncoderGeometry.transformations.indices {
            for (n, ins, outs) in [("task_\(i)_dense_1", e, e), ("task_\(i)_dense_2", e, e), ("task_\(i)", e, 1)] {
                arrays[n + "/kernel"] = glorot([ins, outs], fanIn: ins, fanOut: outs)
                arrays[n + "/bias"] = NPYArray(floats: [Float](repeating: 0, count: outs), shape: [outs])
            }
        }
        return try SSLNetwork(tensors: TensorSet(arrays))
    }

    // MARK: the run's CSV files

    func appendLine(_ path: String, _ line: String) throws {
        guard let h = FileHandle(forWritingAtPath: path) else { throw Failure("cannot open \(path) for appending") }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Keeps the header and the rows of a CSV for which `keep(columns)` holds (resume:
    /// the rows written after the checkpoint would otherwise be repeated).
    func truncateCSV(_ path: String, keep: ([Substring]) -> Bool) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { return }
        let header = lines.removeFirst()
        let kept = lines.filter { keep($0.split(separator: ",", omittingEmptySubsequences: false)) }
        if kept.count == lines.count { return }
        try writeFileAtomically(Array(([header] + kept).map { $0 + "\n" }.joined().utf8), path: path)
    }
}
