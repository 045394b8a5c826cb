public import Foundation

/// Certificates made for one test run with openssl: a CA, a host certificate for localhost and
/// 127.0.0.1, a worker certificate from the same CA, and one from an unrelated CA.
public struct TestCertificates: Sendable {
  public let directory: URL

  public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

  public static func make() throws -> TestCertificates {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("agents-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let script = """
      set -e
      ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj "/CN=$1" -keyout $1.key -out $1.pem 2>/dev/null; }
      leaf() { # name, CA, extensions
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
          -keyout $1.key -out $1.csr 2>/dev/null
        printf '%s\\n' "$3" > $1.ext
        openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2 \
          -extfile $1.ext -out $1.pem 2>/dev/null
      }
      ca ca
      ca other-ca
      leaf host ca "subjectAltName=DNS:localhost,IP:127.0.0.1"
      leaf worker ca "extendedKeyUsage=clientAuth"
      leaf stranger other-ca "extendedKeyUsage=clientAuth"
      """
    try runShellScript(script, in: directory)
    return TestCertificates(directory: directory)
  }

  public func remove() { try? FileManager.default.removeItem(at: directory) }
}
