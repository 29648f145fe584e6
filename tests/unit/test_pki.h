// A throw-away certificate authority for tests of the peer links' mutual
// TLS: a CA and host certificates made with the openssl command line in a
// temporary directory (removed with the object), as an operator would
// make them with scripts/cvol-certs.
#ifndef CVOL_TESTS_UNIT_TEST_PKI_H_
#define CVOL_TESTS_UNIT_TEST_PKI_H_

#include <map>
#include <string>

#include "cvol/peer/peer_tls.h"

namespace cvol::testing {

class TestPki {
 public:
  // A CA named ca_name in a fresh temporary directory. Aborts the test
  // binary if openssl fails (nothing could be tested without it).
  explicit TestPki(const std::string& ca_name = "test-ca");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  // The CA, a certificate for name (subjectAltName san, default
  // "DNS:<name>"; extended key usage eku; subject, default a cvol host's
  // "/O=cvol/OU=cvol-<name>" as scripts/cvol-certs makes it) and its key
  // (mode 0600).
  peer::PeerTlsFiles Issue(const std::string& name, const std::string& san = "",
                           const std::string& eku = "serverAuth,clientAuth",
                           const std::string& subject = "");

  // One CA for a whole test binary (certificates take a few openssl runs),
  // and its certificate for name, issued on first use.
  static TestPki& Shared();
  const peer::PeerTlsFiles& Host(const std::string& name);

  const std::string& dir() const { return dir_; }
  std::string ca_file() const { return dir_ + "/ca.crt"; }

 private:
  std::string dir_;
  std::map<std::string, peer::PeerTlsFiles> hosts_;
};

}  // namespace cvol::testing

#endif  // CVOL_TESTS_UNIT_TEST_PKI_H_
