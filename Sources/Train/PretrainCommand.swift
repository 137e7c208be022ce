import ArgumentParser
import Dispatch
import Foundation
import Model
import Training
import NPY
import Synchronization

/// Set by SIGINT or SIGTERM (from a signal source's queue); read by the training loop,
/// which then saves a checkpoint and stops at the next step.
let interrupted = Atomic<Bool>(false)

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Self-supervised pre-training: recognise six signal transformations (the paper's multi-task setup).",
        discussion: """
        Each window of a batch is used in 7 versions (original, Gaussian noise at 15 dB SNR,
        scaling ×1.1, negation, time reversal, permutation of 20 pieces, time warp of 9
        pieces); head task_i learns "is this version i?". Loss weights
        [0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195], L2 1e-4 on kernels, Adam 1e-3
        decayed ×0.9 every 10,000 steps, batch 128 windows × 7 versions.
        Writes RUN/output/{steps,epochs}.csv, RUN/summaries/ (TensorBoard event files), and
        RUN/models/epoch_N/ — a weights directory (usable by every command and ecg-server)
        plus optimizer.npz and state.json for --resume; every --save-every steps it also
        replaces RUN/models/latest/. A checkpoint is written in full to a temporary folder and
        then renamed into place, so a run killed at any moment (even SIGKILL) leaves its last
        complete checkpoint intact. Ctrl-C or SIGTERM saves RUN/models/interrupted/ and
        exits 130; --resume continues exactly from the newest checkpoint (by step), and
        drops the rows of output/*.csv written after it.
        """)

    @Option(help: "Dataset .npz made by `ecg-train prepare`.") var data: String
    @Option(help: "Run folder.") var out: String
    @Option(help: "Epochs.") var epochs: Int = 10
    @Option(help: "Windows per batch (each in 7 versions).") var batch: Int = 128
    @Option(help: "Random seed (initialisation, shuffling, transformations).") var seed: UInt64 = 20201
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }
    @Option(help: "Initial learning rate.") var lr: Float = 1e-3
    @Option(help: "Use at most this many windows of the dataset (smoke runs).") var maxWindows: Int?
    @Option(help: "Start from these weights instead of a random initialisation.") var initWeights: String?
    @Option(help: "Fraction of subjects held out for validation each epoch (0 = none).") var valFraction: Double = 0.1
    @Option(help: "Dropout rate between the heads' dense layers while training.") var dropout: Float = 0.6
    @Option(help: "Loss weights of task_0 … task_6, comma-separated.") var lossWeights: String = "0.195,0.195,0.195,0.0125,0.0125,0.195,0.195"
    @Option(help: "L2 coefficient on every kernel (Σ w²/2).") var l2: Float = 1e-4
    @Option(help: "Learning-rate decay factor.") var decayRate: Float = 0.9
    @Option(help: "Steps per decay (staircase).") var decaySteps: Int = 10_000
    @Option(help: "SNR of the Gaussian-noise transformation, dB.") var noiseSnrDb: Double = 15
    @Option(help: "Factor of the scaling transformation.") var scale: Float = 1.1
    @Option(help: "Pieces of the permutation transformation.") var permutationPieces: Int = 20
    @Option(help: "Pieces of the time-warp transformation.") var warpPieces: Int = 9
    @Option(help: "Stretch factor of the time warp (squeeze is its inverse).") var warpFactor: Double = 1.05
    @Option(help: "Also checkpoint to RUN/models/latest every this many steps (0 = only at the end of each epoch).") var saveEvery: Int = 50
    @Flag(help: "Continue from the newest checkpoint in RUN/models.") var resume = false
    @OptionGroup var quietOption: QuietOption
    var quiet: Bool { quietOption.quiet }

    var coefficients: [Float] { lossWeights.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) } }
    var transformParameters: Transformations.Parameters {
        var p = Transformations.Parameters()
        p.noiseSNRdB = noiseSnrDb; p.scale = scale; p.permutationPieces = permutationPieces; p.warpPieces = warpPieces; p.warpFactor = warpFactor
        return p
    }

    func validate() throws {
        guard epochs >= 1, batch >= 1, batch <= 4096, threads >= 1 else { throw ValidationError("--epochs, --batch and --threads must be positive (batch ≤ 4096)") }
        guard lr > 0, lr < 1 else { throw ValidationError("--lr must be in (0, 1)") }
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard dropout >= 0, dropout < 1, l2 >= 0, decayRate > 0, decayRate <= 1, decaySteps >= 1 else {
            throw ValidationError("--dropout in [0, 1), --l2 ≥ 0, --decay-rate in (0, 1], --decay-steps ≥ 1")
        }
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be ≥ 0") }
        guard coefficients.count == 7 else { throw ValidationError("--loss-weights needs 7 numbers") }
        guard (2...EncoderGeometry.windowLength).contains(permutationPieces), (2...EncoderGeometry.windowLength).contains(warpPieces), warpFactor >= 1, warpFactor < 2, noiseSnrDb.isFinite else {
            throw ValidationError("transformation settings out of range")
        }
    }

    struct State: Codable { var epoch: Int; var step: Int; var batchInEpoch: Int; var seed: UInt64; var lossLast: Double }

    func run() throws {
        var ds: Dataset
        do { ds = try Dataset.read(path: data) } catch { throw Failure("\(error)") }
        if let m = maxWindows, m < ds.count { ds.windows = Array(ds.windows[0..<(m * EncoderGeometry.windowLength)]); ds.subject = Array(ds.subject[0..<m]) }
        guard ds.subject.count > 0 else { throw Failure("\(data) has no windows") }
        // Held-out subjects for validation (seeded).
        var splitRng = Transformations.RNG(seed: seed ^ 0x5EED)
        let subjects = Array(Set(ds.subject)).sorted().shuffled(using: &splitRng)
        let nVal = valFraction > 0 ? min(subjects.count - 1, max(1, Int((Double(subjects.count) * valFraction).rounded()))) : 0
        let valSubjects = Set(subjects.prefix(nVal))
        let trainIdx = ds.subject.indices.filter { !valSubjects.contains(ds.subject[$0]) }
        let valIdx = ds.subject.indices.filter { valSubjects.contains(ds.subject[$0]) }
        let n = trainIdx.count
        guard n > 0 else { throw Failure("no training windows left after holding out \(nVal) subjects") }
        let fm = FileManager.default
        for d in ["output", "models", "summaries"] { try fm.createDirectory(atPath: out + "/" + d, withIntermediateDirectories: true) }

        var net: SSLNetwork
        var adam = Adam(learningRate: lr)
        var state = State(epoch: 0, step: 0, batchInEpoch: 0, seed: seed, lossLast: .nan)
        if resume, let (dir, st) = newestCheckpoint() {
            net = try WeightsDirectory.loadNetwork(dir)
            adam = try loadOptimizer(dir + "/optimizer.npz", lr: lr, step: st.step)
            state = st
            try truncateCSV(out + "/output/steps.csv") { Int($0.first ?? "") ?? 0 <= st.step }
            try truncateCSV(out + "/output/epochs.csv") { (Int($0.first ?? "") ?? 0) <= st.epoch - (st.batchInEpoch > 0 ? 1 : 0) }
            FileHandle.standardError.write(Data("resuming from \(dir) (epoch \(st.epoch), step \(st.step))\n".utf8))
        } else if let w = initWeights {
            net = try WeightsDirectory.loadNetwork(w)
            guard net.tasks.count == 7 else { throw Failure("\(w) has no pre-training heads") }
        } else {
            net = try Self.glorotInit(seed: seed)
        }
        // Parameters, gradients and Adam's moments are flat buffers in one layout, computed
        // once; the network is rebuilt from the buffer after each step.
        let layout = ParameterLayout.ssl
        var params = layout.flatten(net)
        let tb = try TensorBoardWriter(directory: out + "/summaries")
        let stepsCSV = out + "/output/steps.csv", epochsCSV = out + "/output/epochs.csv"
        if !fm.fileExists(atPath: stepsCSV) {
            try writeFileAtomically(Array(("step,epoch,lr,total," + (0..<7).map { "task_\($0)" }.joined(separator: ",") + "\n").utf8), path: stepsCSV)
        }
        if !fm.fileExists(atPath: epochsCSV) {
            try writeFileAtomically(Array(("epoch,steps,mean_total," + (0..<7).map { "task_\($0)" }.joined(separator: ",") + ",windows_per_s,val_total,"
                + (0..<7).map { "val_acc_\($0),val_f1_\($0)" }.joined(separator: ",") + "\n").utf8), path: epochsCSV)
        }
        let signalSources = [SIGINT, SIGTERM].map { signo in
            signal(signo, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            src.setEventHandler { interrupted.store(true, ordering: .sequentiallyConsistent) }
            src.activate()
            return src
        }
        defer { signalSources.forEach { $0.cancel() } }

        var loss = PretrainLoss()
        loss.coefficients = coefficients; loss.l2 = l2; loss.dropout = dropout
        let tp = transformParameters
        if !quiet { FileHandle.standardError.write(Data("training on \(n) windows (\(subjects.count - nVal) subjects), validating on \(valIdx.count) windows (\(nVal) subjects)\n".utf8)) }
        // Which subjects are held out, with their window counts (the same for every epoch
        // and on resume: the split depends on the seed only).
        let heldOut = subjects.prefix(nVal).map { s in
            "\(ds.names.subjects.indices.contains(Int(s)) ? ds.names.subjects[Int(s)] : "subject \(s)")\t\(valIdx.filter { ds.subject[$0] == s }.count)"
        }
        try writeFileAtomically(Array(("subject\twindows\n" + heldOut.joined(separator: "\n") + "\n").utf8), path: out + "/output/validation_subjects.tsv")
        let batchesPerEpoch = (n + batch - 1) / batch
        for epoch in (state.epoch + (state.batchInEpoch > 0 ? 0 : 1))...max(epochs, 1) where epoch <= epochs {
            var shuffleRng = Transformations.RNG(seed: seed &+ UInt64(epoch) &* 1_000_003)
            var order = trainIdx
            order.shuffle(using: &shuffleRng)
            let progress = Progress(total: batchesPerEpoch, label: "epoch \(epoch)/\(epochs)", enabled: !quiet)
            var sums = [Double](repeating: 0, count: 8), count = 0
            let t0 = Date()
            let firstBatch = state.epoch == epoch ? state.batchInEpoch : 0
            for b in firstBatch..<batchesPerEpoch {
                let idx = order[(b * batch)..<min(n, (b + 1) * batch)]
                // Per-batch randomness derived from (seed, epoch, batch): --resume continues exactly.
                var rng = Transformations.RNG(seed: seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(b + 1) &* 0x9E37_79B9)
                loss.dropoutSeed = rng.next()
                var x: [Float] = [], y: [Float] = []
                x.reserveCapacity(idx.count * 7 * EncoderGeometry.windowLength)
                for i in idx {
                    let w = ds.windows[(i * EncoderGeometry.windowLength)..<((i + 1) * EncoderGeometry.windowLength)]
                    for task in 0..<7 {
                        x.append(contentsOf: Transformations.apply(task, w, rng: &rng, tp))
                        y.append(contentsOf: (0..<7).map { $0 == task ? 1 : 0 })
                    }
                }
                let r = loss.evaluate(net, windows: x, labels: y, threads: threads)
                let rate = lr * powf(decayRate, Float(state.step / decaySteps))
                adam.apply(&params, r.gradient, lr: rate)
                net = layout.network(params, algorithms: net.encoder.algorithms)
                state.step += 1; state.epoch = epoch; state.batchInEpoch = b + 1; state.lossLast = r.total
                sums[0] += r.total; for i in 0..<7 { sums[i + 1] += r.perTask[i] }; count += 1
                try appendLine(stepsCSV, "\(state.step),\(epoch),\(rate),\(r.total)," + r.perTask.map { "\($0)" }.joined(separator: ","))
                tb.scalars([("loss/total", r.total), ("learning_rate", Double(rate))] + (0..<7).map { ("loss/task_\($0)_\(Transformations.names[$0])", r.perTask[$0]) }, step: state.step)
                let wps = Double(count * batch * 7) / max(Date().timeIntervalSince(t0), 1e-9)
                progress.update(b + 1, extra: String(format: "loss %.4f, %.0f windows/s (×7 versions)", r.total, wps))
                if saveEvery > 0, state.step % saveEvery == 0, b + 1 < batchesPerEpoch {
                    try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: out + "/models/latest")
                    tb.flush()
                }
                if interrupted.load(ordering: .sequentiallyConsistent) {
                    progress.finish()
                    let dir = out + "/models/interrupted"
                    try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: dir)
                    tb.flush()
                    print("interrupted: saved \(dir) (epoch \(epoch), step \(state.step)); continue with --resume")
                    throw ExitCode(130)
                }
            }
            progress.finish()
            let secs = Date().timeIntervalSince(t0)
            let wps = Double(count * batch * 7) / max(secs, 1e-9)
            var valCols = ",," + [String](repeating: ",", count: 13).joined()
            if !valIdx.isEmpty {
                let v = validate(net, ds, valIdx, epoch: epoch, loss: loss, tp)
                valCols = ",\(v.total)," + (0..<7).map { "\(v.acc[$0]),\(v.f1[$0])" }.joined(separator: ",")
                tb.scalars([("val/loss_total", v.total)] + (0..<7).flatMap { [("val/accuracy_task_\($0)", v.acc[$0]), ("val/f1_task_\($0)", v.f1[$0])] }, step: state.step)
                if !quiet {
                    let acc = v.acc.map { String(format: "%.2f", $0) }.joined(separator: " "), f1 = v.f1.map { String(format: "%.2f", $0) }.joined(separator: " ")
                    FileHandle.standardError.write(Data("epoch \(epoch) validation (\(valIdx.count) windows × 7): loss \(String(format: "%.4f", v.total)); accuracy per task \(acc); F1 per task \(f1)\n".utf8))
                }
            }
            if count > 0 {
                try appendLine(epochsCSV, "\(epoch),\(state.step),\(sums[0] / Double(count))," + (1...7).map { "\(sums[$0] / Double(count))" }.joined(separator: ",") + ",\(wps)" + valCols)
                tb.scalars([("epoch/mean_total_loss", sums[0] / Double(count)), ("epoch/windows_per_s", wps)], step: state.step)
            }
            state.batchInEpoch = 0
            let dir = out + "/models/epoch_\(epoch)"
            try save(net, adam, state, preprocessing: ds.manifestPreprocessing, to: dir)
            tb.flush()
            if !quiet { FileHandle.standardError.write(Data(String(format: "epoch %d: mean loss %.4f, %.1f windows/s (×7 versions), saved %@\n", epoch, count > 0 ? sums[0] / Double(count) : .nan, wps, dir).utf8)) }
        }
    }
}
