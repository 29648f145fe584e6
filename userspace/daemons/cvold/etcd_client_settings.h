// How cvold reaches etcd securely: the --etcd-cacert/--etcd-cert/--etcd-key,
// --etcd-user/--etcd-password-file and --etcd-insecure options, their
// rules, and the store options they make (docs/security.md).
#ifndef CVOL_CVOLD_ETCD_CLIENT_SETTINGS_H_
#define CVOL_CVOLD_ETCD_CLIENT_SETTINGS_H_

#include <string>

#include "absl/status/status.h"
#include "boost/program_options/options_description.hpp"
#include "cvol/store/etcd_kv_store.h"

namespace cvol::daemon {

struct EtcdClientSettings {
  std::string cacert;         // the CA of etcd's certificates (https)
  std::string cert;           // this host's client certificate
  std::string key;            // its key (root's, mode 0600)
  std::string user;           // etcd user; default cvol-<host> in cluster mode
  std::string password_file;  // its password (root's, mode 0600)
  bool insecure = false;      // plain http allowed
};

// Adds the options above to a description (command line and config file).
void AddEtcdClientOptions(boost::program_options::options_description& options,
                          EtcdClientSettings* settings);

// After parsing: the default user, then the rules (kInvalidArgument naming
// the options): https endpoints need --etcd-cacert; plain http endpoints
// need --etcd-insecure (the message gives both ways out); no mixing; a
// certificate needs its key; a password file needs a user (given, or
// cvol-<host> with --host). Files are checked when the store connects.
absl::Status FinishEtcdClientSettings(const std::string& endpoints, const std::string& host,
                                      EtcdClientSettings* settings);

// The store's TLS and auth options for these settings.
void ApplyEtcdClientSettings(const EtcdClientSettings& settings,
                             store::EtcdKvStoreOptions* options);

}  // namespace cvol::daemon

#endif  // CVOL_CVOLD_ETCD_CLIENT_SETTINGS_H_
