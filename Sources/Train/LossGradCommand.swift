import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct LossGradCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss-grad",
        abstract: "Pre-training loss and gradients for given windows and task labels (check our maths against another framework).",
        discussion: """
            total = Σ_i c_i · mean_n sigmoid_CE(labels[n, i], logit_i[n]) + 1e-4 · Σ_kernels ‖W‖²/2,
            c = [0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195], dropout off.
            --in: (N, \(EncoderGeometry.windowLength)) windows as given to the network; --task-labels: (N, 7) one-hot.
            Writes the gradients as an .npz named like the weights (conv_layer_1.kernel …) and
            prints the loss terms as JSON. --adam-step-out DIR also writes the weights after one
            Adam step (lr 1e-3, β1 0.9, β2 0.999, ε 1e-8) as a weights directory.
            """)

    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(name: .customLong("in"), help: "Windows, (N, \(EncoderGeometry.windowLength)).") var input: String
    @Option(help: "One-hot task labels, (N, 7).") var taskLabels: String
    @Option(help: "Output .npz of gradients.") var out: String
    @Option(help: "Write the weights after one Adam step here.") var adamStepOut: String?
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }

    func run() throws {
        let net: SSLNetwork
        do { net = try WeightsDirectory.loadNetwork(weights) } catch { throw Failure("cannot load weights: \(error)") }
        guard net.tasks.count == 7 else { throw Failure("\(weights) has no pre-training heads task_0 … task_6") }
        let x: NPYArray, y: NPYArray
        do { x = try NPY.read(path: input); y = try NPY.read(path: taskLabels) } catch { throw Failure("\(error)") }
        guard x.shape.count == 2, x.shape[1] == EncoderGeometry.windowLength else {
            throw Failure("\(input): shape \(x.shape), expected (N, \(EncoderGeometry.windowLength))")
        }
        guard y.shape == [x.shape[0], 7] else { throw Failure("\(taskLabels): shape \(y.shape), expected (\(x.shape[0]), 7)") }
        let xs = x.floats(), ys = y.floats()
        if let bad = xs.firstIndex(where: { !$0.isFinite }) {
            throw Failure("\(input): row \(bad / EncoderGeometry.windowLength) has a NaN or Inf at sample \(bad % EncoderGeometry.windowLength)")
        }
        if let bad = ys.firstIndex(where: { $0 != 0 && $0 != 1 }) { throw Failure("\(taskLabels): row \(bad / 7) column \(bad % 7) is \(ys[bad]), not 0 or 1") }
        let r = PretrainLoss().evaluate(net, windows: xs, labels: ys, threads: threads)
        var arrays: [String: NPYArray] = [:]
        let shapes = WeightsDirectory.tensors(of: net)
        for (k, g) in r.gradients { let key = k.replacingOccurrences(of: "/", with: "."); arrays[key] = NPYArray(floats: g, shape: shapes[key]!.shape) }
        do { try NPZ.write(arrays, path: out) } catch { throw Failure("cannot write \(out): \(error)") }
        let json: [String: Any] = [
            "total_loss": r.total, "per_task_loss": r.perTask, "weighted_data_loss": r.weightedData,
            "l2_term": r.l2Term, "windows": x.shape[0],
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        if let dir = adamStepOut {
            let layout = ParameterLayout.ssl
            var p = layout.flatten(net)
            var adam = Adam(learningRate: 1e-3)
            adam.apply(&p, r.gradient)
            let stepped = layout.network(p, algorithms: net.encoder.algorithms)
            _ = try WeightsDirectory.write(
                stepped, to: dir, preprocessing: .init(filter: "none", normalization: "none"),
                provenance: .init(
                    description: "one Adam step from \(weights)", datasets: [], licenses: [],
                    command: CommandLine.arguments.joined(separator: " "), created: ISO8601DateFormatter().string(from: Date())))
        }
    }
}
