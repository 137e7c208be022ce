import ArgumentParser
import Dispatch
import Foundation
import Model
import Training
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
        guard epochs >= 1, batch >= 1, batch <= 4096, threads >= 1 else {
            throw ValidationError("--epochs, --batch and --threads must be positive (batch ≤ 4096)")
        }
        guard lr > 0, lr < 1 else { throw ValidationError("--lr must be in (0, 1)") }
        guard valFraction >= 0, valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard dropout >= 0, dropout < 1, l2 >= 0, decayRate > 0, decayRate <= 1, decaySteps >= 1 else {
            throw ValidationError("--dropout in [0, 1), --l2 ≥ 0, --decay-rate in (0, 1], --decay-steps ≥ 1")
        }
        guard saveEvery >= 0 else { throw ValidationError("--save-every must be ≥ 0") }
        guard coefficients.count == 7 else { throw ValidationError("--loss-weights needs 7 numbers") }
        guard (2...EncoderGeometry.windowLength).contains(permutationPieces), (2...EncoderGeometry.windowLength).contains(warpPieces), warpFactor >= 1,
            warpFactor < 2, noiseSnrDb.isFinite
        else {
            throw ValidationError("transformation settings out of range")
        }
    }

    var pretrainerConfig: Pretrainer.Config {
        var c = Pretrainer.Config(data: data, out: out)
        c.epochs = epochs; c.batch = batch; c.seed = seed; c.threads = threads; c.learningRate = lr
        c.maxWindows = maxWindows; c.initWeights = initWeights; c.valFraction = valFraction; c.dropout = dropout
        c.coefficients = coefficients; c.l2 = l2; c.decayRate = decayRate; c.decaySteps = decaySteps
        c.transformations = transformParameters; c.saveEvery = saveEvery; c.resume = resume; c.quiet = quiet
        c.command = (["ecg-train"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        return c
    }

    /// Parses, then hands the run to `Pretrainer`; SIGINT and SIGTERM ask it to save and stop.
    func run() throws {
        let signalSources = [SIGINT, SIGTERM].map { signo in
            signal(signo, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: signo, queue: .global())
            src.setEventHandler { interrupted.store(true, ordering: .sequentiallyConsistent) }
            src.activate()
            return src
        }
        defer { signalSources.forEach { $0.cancel() } }
        let outcome: Pretrainer.Outcome
        do {
            outcome = try Pretrainer(pretrainerConfig).run { interrupted.load(ordering: .sequentiallyConsistent) }
        } catch let e as Pretrainer.Failure {
            throw Failure(e.description)
        }
        if case let .interrupted(dir, epoch, step) = outcome {
            print("interrupted: saved \(dir) (epoch \(epoch), step \(step)); continue with --resume")
            throw ExitCode(130)
        }
    }
}
