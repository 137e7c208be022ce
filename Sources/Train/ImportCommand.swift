import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn an .npz of TF-named tensors or a TF checkpoint into a weights directory.",
        discussion: """
            --from accepts:
              • an .npz whose members are the TF variable names (conv_layer_1/kernel or
                conv_layer_1.kernel ... task_6/bias), conv kernels [k, in, out], dense [in, out];
              • a TF V2 checkpoint prefix as the authors' code writes it (…/SSL_model.ckpt,
                with SSL_model.ckpt.index and SSL_model.ckpt.data-00000-of-00001 beside it).
                Every block and tensor is CRC-32C checked; Adam slots and step counters are ignored.
            Writes DIR/encoder.npz and DIR/manifest.json (with the file's SHA-256), which
            ecg-server and every ecg-train command accept as --weights DIR.
            """)

    @Option(name: .customLong("from"), help: "An .npz or a TF checkpoint prefix.") var from: String
    @Option(help: "Output weights directory (created if missing).") var out: String
    @Option(help: "What these weights are, recorded in the manifest.") var describe: String = "imported weights"
    @Option(help: "Datasets the weights were trained on (repeatable).") var dataset: [String] = []
    @Option(help: "Licences of those datasets (repeatable).") var license: [String] = []
    @Option(help: "Filter the encoder expects: \(Preprocessing.highpassFilter) or none.") var filter: String = Preprocessing.highpassFilter
    @Option(help: "Normalisation the encoder expects: window-robust-zscore, subject-robust-zscore or none.")
    var normalization: String = "window-robust-zscore"

    func run() throws {
        do {
            let (net, ignored) = try WeightsDirectory.importTensors(from: from)
            let iso = ISO8601DateFormatter().string(from: Date())
            let m = try WeightsDirectory.write(
                net, to: out, preprocessing: .init(filter: filter, normalization: normalization),
                provenance: .init(
                    description: describe, datasets: dataset, licenses: license,
                    command: (["ecg-train"] + CommandLine.arguments.dropFirst()).joined(separator: " "), created: iso))
            var msg = "imported \(net.tasks.isEmpty ? 12 : 54) tensors from \(from) into \(out) (encoder sha256 \(m.encoder.sha256.prefix(16))…)"
            if !ignored.isEmpty {
                msg += "; ignored \(ignored.count) other tensors (\(ignored.prefix(3).joined(separator: ", "))\(ignored.count > 3 ? ", …" : ""))"
            }
            print(msg)
        } catch {
            throw Failure("import failed: \(error)")
        }
    }
}
