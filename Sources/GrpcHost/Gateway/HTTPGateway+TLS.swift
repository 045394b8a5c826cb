import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL

extension AgentHost.TLS {
  /// The HTTP listener's server (`base`) with the same certificate, key and client-certificate rule
  /// as the gRPC port.
  func httpServer(_ base: HTTPServerBuilder) throws -> HTTPServerBuilder {
    var tls = TLSConfiguration.makeServerConfiguration(
      certificateChain: try NIOSSLCertificate.fromPEMFile(certificateChainPath).map { .certificate($0) },
      privateKey: .privateKey(try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)))
    if let clientRoots = clientCertificateTrustRootsPath {
      tls.trustRoots = .file(clientRoots)
      tls.certificateVerification = .noHostnameVerification
    }
    return try .tls(base, tlsConfiguration: tls)
  }
}
