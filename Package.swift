// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ecg-affect",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ecg-server", targets: ["Server"]),
        .executable(name: "ecg-train", targets: ["Train"]),
        .library(name: "Model", targets: ["Model"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "NPY", targets: ["NPY"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // zlib (Debian: zlib1g-dev) for DEFLATE members of .npz files and CRC-32.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        // libcrypto (Debian: libssl-dev) for the SHA-256 of weights files.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),
        // Hand-written compute kernels; the fast path is picked at run time from CPUID.
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
        .target(name: "NPY", dependencies: ["CZlib"]),
        .target(name: "Model", dependencies: ["NPY", "CKernels", "CZlib", "COpenSSL"]),
        // Offline only: pre-training, fine-tuning, checkpoint import. ecg-server does not link it.
        .target(name: "Training", dependencies: ["Model", "NPY", "CKernels"]),
        .executableTarget(name: "Server", dependencies: [
            "Model", "NPY", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "Train", dependencies: [
            "Training", "Model", "NPY", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "NPYTests", dependencies: ["NPY"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Training", "NPY", "CKernels"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Model", "Training", "NPY"]),
    ],
    swiftLanguageModes: [.v6]
)
