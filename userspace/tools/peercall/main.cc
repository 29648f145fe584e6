// cvol-peercall: one request over the peer protocol, as cvold sends it:
// mutual TLS with the given host certificate, a frame tagged with the
// cluster secret. Prints the reply as one JSON line:
//   {"status":"OK","body":...}   or   {"status":"PERMISSION_DENIED","message":...}
// `--from` defaults to the certificate's host; naming another host is how a
// test shows that the peer refuses a sender its certificate does not name.
//
// Exit codes: 0 the peer answered OK, 1 it answered an error, 2 usage,
// 3 no answer (transport error: refused, handshake failed, deadline).
#include <iostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cvol/peer/message.h"
#include "cvol/peer/peer_client.h"
#include "cvol/peer/peer_tls.h"
#include "cvol/peer/secret.h"
#include "nlohmann/json.hpp"

namespace {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNoAnswer = 3;

int Run(int argc, char** argv) {
  std::string host, address, type, body_text = "null", secret_file, from;
  cvol::peer::PeerTlsFiles tls;
  uint64_t epoch = 0;
  double deadline_s = 5;
  po::options_description options("cvol-peercall options");
  options.add_options()
      ("help,h", "print this help")
      ("host", po::value(&host)->required(), "the host to call (its certificate must name it)")
      ("address", po::value(&address)->required(), "where it listens, host:port")
      ("type", po::value(&type)->required(), "request type, e.g. ping")
      ("epoch", po::value(&epoch), "the request's epoch")
      ("body", po::value(&body_text), "the request body, JSON")
      ("from", po::value(&from), "the sender to claim (default: this certificate's host)")
      ("cacert", po::value(&tls.ca_file)->required(), "the cluster CA")
      ("cert", po::value(&tls.cert_file)->required(), "this host's certificate")
      ("key", po::value(&tls.key_file)->required(), "its key")
      ("cluster-secret-file", po::value(&secret_file)->required(), "the cluster secret")
      ("deadline-s", po::value(&deadline_s), "seconds to wait for the answer");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    if (vm.count("help")) {
      std::cout << "usage: cvol-peercall --host H --address A --type T [options]\n\n" << options;
      return kExitOk;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "cvol-peercall: " << e.what() << "\n";
    return kExitUsage;
  }
  cvol::peer::PeerRequest request;
  request.type = type;
  request.epoch = epoch;
  request.body = nlohmann::json::parse(body_text, nullptr, /*allow_exceptions=*/false);
  if (request.body.is_discarded()) {
    std::cerr << "cvol-peercall: --body is not JSON\n";
    return kExitUsage;
  }
  absl::StatusOr<std::string> secret = cvol::peer::LoadClusterSecret(secret_file);
  if (!secret.ok()) {
    std::cerr << "cvol-peercall: " << secret.status().message() << "\n";
    return kExitUsage;
  }
  cvol::peer::PeerClientOptions client_options;
  client_options.secret = *secret;
  client_options.tls = tls;
  client_options.self = from;
  if (from.empty()) {
    // As cvold: the sender is the name this certificate carries.
    std::vector<std::string> names = cvol::peer::CertificateFileHosts(tls.cert_file);
    if (names.empty()) {
      std::cerr << "cvol-peercall: " << tls.cert_file << " names no host\n";
      return kExitUsage;
    }
    client_options.self = names.front();
  }
  cvol::peer::PeerClient client(client_options);
  absl::StatusOr<cvol::peer::PeerReply> reply =
      client.Call(host, address, request, absl::Seconds(deadline_s));
  if (!reply.ok()) {
    std::cerr << "cvol-peercall: " << reply.status().message() << "\n";
    return kExitNoAnswer;
  }
  nlohmann::json out{{"status", cvol::peer::StatusCodeName(reply->status.code())}};
  if (!reply->status.ok()) out["message"] = std::string(reply->status.message());
  if (!reply->body.is_null()) out["body"] = reply->body;
  std::cout << out.dump() << "\n";
  return reply->status.ok() ? kExitOk : kExitRefused;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
