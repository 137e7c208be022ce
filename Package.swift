// swift-tools-version:6.2
import PackageDescription

/// The project's own Swift targets build with zero warnings (a warning fails the build);
/// not an unsafe flag, so the library products can be depended on.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "ecg-affect",
    // Linux only: the server and tools call Glibc directly (sockets, signals, /proc); no
    // platform is declared because no Apple platform is supported.
    products: [
        .executable(name: "ecg-server", targets: ["Server"]),
        .executable(name: "ecg-train", targets: ["Train"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "NPY", targets: ["NPY"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // zlib (Debian: zlib1g-dev) for DEFLATE members of .npz files and CRC-32.
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),
        // libcrypto (Debian: libssl-dev) for the SHA-256 of weights files.
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]),
        // libssl (Debian: libssl-dev) for TLS on the server's sockets.
        .systemLibrary(
            name: "CTLS", path: "Sources/CTLS", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]),
        // glibc calls the Glibc module lacks: mallopt (the server caps its malloc arenas).
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),
        // Hand-written compute kernels; the fast path is picked at run time from CPUID. No unsafe
        // flags (a package with them cannot be depended on by version): SwiftPM compiles C at
        // -O2 in release, as fast as the former -O3 since the GEMM tiles ask for their row loops
        // unrolled (kernels.c), and at -O0 in debug, so the test scripts build with `-Xcc -O2`
        // (scripts/lib.sh, DEBUG_BUILD).
        .target(name: "CKernels", path: "Sources/CKernels"),
        .target(name: "NPY", dependencies: ["CZlib"], swiftSettings: strict),
        // The one lock type (a pthread mutex ThreadSanitizer can see), for every module.
        .target(name: "Sync", swiftSettings: strict),
        .target(name: "Model", dependencies: ["NPY", "CKernels", "CZlib", "COpenSSL", "Sync"], swiftSettings: strict),
        // Offline only: pre-training, fine-tuning, checkpoint import. ecg-server does not link it.
        .target(name: "Training", dependencies: ["Model", "NPY", "CKernels"], swiftSettings: strict),
        // The inference engine apart from HTTP: typed requests and results, preprocessing,
        // signal quality, served heads, the worker queue with its core budget, the memory budget.
        .target(name: "Inference", dependencies: ["Model", "Sync", "CSystem"], swiftSettings: strict),
        // HTTP/1.1 over POSIX sockets and Dispatch (TLS via OpenSSL): parser, connections, server, JSON, gzip.
        // Knows nothing of the model.
        .target(name: "HTTP", dependencies: ["CZlib", "CTLS", "Sync"], swiftSettings: strict),
        // openapi.yaml (top level: a link to Sources/Server/openapi.yaml) is compiled into the
        // binary and served at /openapi.yaml.
        .executableTarget(
            name: "Server",
            dependencies: [
                "Sync", "HTTP", "Inference", "Model", "NPY", "CSystem", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], resources: [.embedInCode("openapi.yaml")], swiftSettings: strict),
        .executableTarget(
            name: "Train",
            dependencies: [
                "Training", "Model", "NPY", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ], swiftSettings: strict),
        // libFuzzer targets (scripts/fuzz.sh builds them with --sanitize=fuzzer,address).
        .executableTarget(name: "Fuzz", dependencies: ["HTTP", "NPY", "Training"], swiftSettings: strict),
        // Seeded random numbers for every test target (the seed is printed).
        .target(name: "TestSupport", dependencies: ["Sync"], path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "NPYTests", dependencies: ["NPY", "TestSupport"], resources: [.copy("Fixtures")], swiftSettings: strict),
        // The TF parity fixtures and helpers shared by the engine's and the trainer's tests.
        .target(name: "ModelTestSupport", dependencies: ["Model", "NPY"], path: "Tests/ModelTestSupport", swiftSettings: strict),
        .testTarget(
            name: "ModelTests", dependencies: ["Model", "Training", "NPY", "CKernels", "TestSupport", "ModelTestSupport"],
            exclude: ["Fixtures"], swiftSettings: strict),
        // The trainer: gradients against TF, Adam, resume, datasets, augmentation, the ecg-train CLI.
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "NPY", "TestSupport", "ModelTestSupport"], swiftSettings: strict),
        // The inference engine without HTTP: typed requests, results and refusals; cancellation.
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "Model", "Sync", "TestSupport", "ModelTestSupport"], swiftSettings: strict),
        // HTTP without sockets: the parser, JSON numbers, the connection's rules on a fake clock.
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Sync", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "ServerTests", dependencies: ["Server", "HTTP", "Inference", "Model", "Training", "NPY", "TestSupport"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
