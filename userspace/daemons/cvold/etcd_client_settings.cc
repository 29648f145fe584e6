#include "etcd_client_settings.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "boost/program_options.hpp"

namespace cvol::daemon {

namespace po = boost::program_options;

void AddEtcdClientOptions(po::options_description& options, EtcdClientSettings* s) {
  options.add_options()
      ("etcd-cacert", po::value(&s->cacert),
       "CA certificate file that etcd's server certificates chain to (needed for https:// "
       "endpoints; etcd's certificate and host name are always verified)")
      ("etcd-cert", po::value(&s->cert),
       "this host's client certificate file for etcd (etcd --client-cert-auth)")
      ("etcd-key", po::value(&s->key),
       "the client certificate's key file (owned by root, mode 0600)")
      ("etcd-user", po::value(&s->user),
       "etcd user (RBAC); default with --etcd-password-file: cvol-<host> in cluster mode")
      ("etcd-password-file", po::value(&s->password_file),
       "file holding the etcd user's password (owned by root, mode 0600; re-read at each "
       "login)")
      ("etcd-insecure", po::bool_switch(&s->insecure),
       "allow plain http:// etcd endpoints: no encryption, no authentication of either side "
       "(logs a warning)");
}

absl::Status FinishEtcdClientSettings(const std::string& endpoints, const std::string& host,
                                      EtcdClientSettings* s) {
  size_t http = 0, https = 0;
  for (absl::string_view url : absl::StrSplit(endpoints, ',', absl::SkipWhitespace())) {
    url = absl::StripAsciiWhitespace(url);
    if (absl::StartsWith(url, "https://")) ++https;
    if (absl::StartsWith(url, "http://")) ++http;
  }
  if (http != 0 && https != 0) {
    return absl::InvalidArgumentError(
        "--etcd-endpoints mixes http:// and https:// URLs: give every member's https:// URL");
  }
  if (http != 0 && !s->insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--etcd-endpoints ", endpoints,
        " is plain http: anyone who reaches etcd or the network could read and rewrite the "
        "volume maps. Either use https:// endpoints with --etcd-cacert, --etcd-cert and "
        "--etcd-key (and --etcd-password-file for etcd auth; docs/security.md), or accept "
        "plain http explicitly with --etcd-insecure"));
  }
  if (http != 0 && (!s->cacert.empty() || !s->cert.empty() || !s->key.empty())) {
    return absl::InvalidArgumentError(
        "--etcd-cacert, --etcd-cert and --etcd-key need https:// etcd endpoints");
  }
  if (https != 0 && s->cacert.empty()) {
    return absl::InvalidArgumentError(
        "https:// etcd endpoints need --etcd-cacert (the CA of etcd's certificates)");
  }
  if (s->cert.empty() != s->key.empty()) {
    return absl::InvalidArgumentError("--etcd-cert and --etcd-key go together");
  }
  if (s->user.empty() && !s->password_file.empty() && !host.empty()) {
    s->user = absl::StrCat("cvol-", host);
  }
  if (s->user.empty() != s->password_file.empty()) {
    return absl::InvalidArgumentError(
        s->user.empty() ? "--etcd-password-file needs --etcd-user (or --host, for the default "
                          "user cvol-<host>)"
                        : "--etcd-user needs --etcd-password-file");
  }
  return absl::OkStatus();
}

void ApplyEtcdClientSettings(const EtcdClientSettings& s, store::EtcdKvStoreOptions* o) {
  o->ca_file = s.cacert;
  o->cert_file = s.cert;
  o->key_file = s.key;
  o->user = s.user;
  o->password_file = s.password_file;
  o->allow_insecure = s.insecure;
}

}  // namespace cvol::daemon
