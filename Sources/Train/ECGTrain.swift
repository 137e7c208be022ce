import ArgumentParser

@main
struct ECGTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ecg-train",
        abstract: "Offline tools of ecg-affect: import weights, extract embeddings, benchmark the engine.",
        discussion: """
            Weights directories (manifest.json + encoder .npz) are what ecg-server loads.
            Examples:
              ecg-train import --from SSL_model.ckpt --out weights/
              ecg-train embed --weights weights/ --in windows.npy --out embeddings.npy
              ecg-train bench --weights weights/ --batch 1,8,32,128 --threads 1,2
            """,
        subcommands: [
            ImportCommand.self, PrepareCommand.self, PretrainCommand.self, FinetuneCommand.self, EmbedCommand.self, LossGradCommand.self, BenchCommand.self,
            EvaluateCommand.self, FeaturesCommand.self, FitHeadCommand.self,
        ])
}

/// A failure while running (bad data, unreadable files): printed as "Error: <message>" with
/// exit status 1 and without the usage text, which is for mistakes on the command line.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
