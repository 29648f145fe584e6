#include "test_pki.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace cvol::testing {
namespace {

void Run(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  if (std::system(quiet.c_str()) != 0) {
    std::fprintf(stderr, "test_pki: failed: %s\n", command.c_str());
    std::abort();
  }
}

}  // namespace

TestPki::TestPki(const std::string& ca_name) {
  char tmpl[] = "/tmp/cvol-pki-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  dir_ = tmpl;
  Run(absl::StrCat("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                   " -keyout ", dir_, "/ca.key -out ", dir_, "/ca.crt -days 30 -subj /CN=",
                   ca_name, " -addext basicConstraints=critical,CA:TRUE",
                   " -addext keyUsage=critical,keyCertSign,cRLSign"));
}

TestPki::~TestPki() { Run(absl::StrCat("rm -rf ", dir_)); }

TestPki& TestPki::Shared() {
  static auto* pki = new TestPki();  // never destroyed: used until exit
  return *pki;
}

const peer::PeerTlsFiles& TestPki::Host(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) it = hosts_.emplace(name, Issue(name)).first;
  return it->second;
}

peer::PeerTlsFiles TestPki::Issue(const std::string& name, const std::string& san,
                                  const std::string& eku, const std::string& subject) {
  const std::string base = absl::StrCat(dir_, "/", name);
  {
    std::ofstream ext(base + ".ext");
    ext << "subjectAltName=" << (san.empty() ? "DNS:" + name : san) << "\n"
        << "keyUsage=critical,digitalSignature\n"
        << "extendedKeyUsage=" << eku << "\n";
  }
  Run(absl::StrCat("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
                   " -keyout ", base, ".key -out ", base, ".csr -subj ",
                   subject.empty() ? "/O=cvol/OU=cvol-" + name : subject));
  Run(absl::StrCat("openssl x509 -req -in ", base, ".csr -CA ", dir_, "/ca.crt -CAkey ", dir_,
                   "/ca.key -CAcreateserial -days 30 -out ", base, ".crt -extfile ", base,
                   ".ext"));
  chmod((base + ".key").c_str(), 0600);
  return peer::PeerTlsFiles{ca_file(), base + ".crt", base + ".key"};
}

}  // namespace cvol::testing
